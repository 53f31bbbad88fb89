//! NAS-Bench-201 (Dong & Yang 2020): a cell of `n` nodes (4 in the benchmark) where every pair
//! `i < j` is joined by one op edge, stacked in a ResNet-like skeleton.
//!
//! Notation: NAS-Bench-201 arch strings, node `j`'s incoming edges `op~i` between bars, nodes
//! joined by `+`: `|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|`.
//!
//! Skeleton (`TinyNetwork` of the benchmark): 3x3 conv stem with C channels and batch norm;
//! stages of N cells with C, 2C, 4C channels joined by residual reduction blocks; batch norm,
//! ReLU, global pooling and a linear classifier.

use rand::{Rng, RngCore};
use serde::Deserialize;

use super::ops::{OpDef, OpSet};
use super::{pick_other, Knobs, SearchSpace, Size, SpaceError, SpaceFileError};
use crate::ir::blocks::{self, ConvGeometry};
use crate::ir::{Network, NetworkBuilder, NodeId, Shape};

/// A NAS-Bench-201 cell: one op index per edge, edges ordered as in the arch string
/// (`1<-0`, `2<-0`, `2<-1`, `3<-0`, ...).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cell {
    ops: Vec<u8>,
}

impl Cell {
    /// The op index of each edge.
    pub fn ops(&self) -> &[u8] {
        &self.ops
    }
}

/// The TOML form of an NB-201-family space.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Space name.
    pub name: String,
    /// Always `"nb201"`.
    pub family: String,
    /// One-line description.
    #[serde(default)]
    pub description: String,
    /// Nodes per cell, input included (4 in NAS-Bench-201).
    pub nodes: u32,
    /// Candidate ops.
    pub ops: Vec<OpDef>,
    /// Macro skeleton.
    pub skeleton: Skeleton,
}

/// The NB-201 macro skeleton.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skeleton {
    /// Input `[channels, height, width]`.
    pub input: [u32; 3],
    /// Output classes.
    pub classes: u32,
    /// Channels of the first stage (C); doubled at each reduction.
    pub channels: u32,
    /// Number of stages.
    pub stages: u32,
    /// Cells per stage (N).
    pub cells_per_stage: u32,
}

/// An NB-201-family space.
#[derive(Clone, Debug)]
pub struct Nb201 {
    name: String,
    description: String,
    nodes: usize,
    ops: OpSet,
    skeleton: Skeleton,
}

impl Nb201 {
    /// The candidate ops.
    pub fn ops(&self) -> &OpSet {
        &self.ops
    }

    fn edges(&self) -> usize {
        self.nodes * (self.nodes - 1) / 2
    }

    /// Number of cells: ops^edges, or `None` past `u64`.
    fn cell_count(&self) -> Option<u64> {
        u64::try_from(self.ops.len())
            .ok()?
            .checked_pow(u32::try_from(self.edges()).ok()?)
    }

    /// Every cell, in mixed-radix order (edge `1<-0` varies fastest). This is not the
    /// benchmark's own index order, which follows its release files.
    fn cells(&self) -> impl Iterator<Item = Cell> + Send + '_ {
        let edges = self.edges();
        let k = u64::from(self.ops.count());
        (0..self.cell_count().unwrap_or(0)).map(move |mut i| {
            let mut ops = vec![0u8; edges];
            for slot in ops.iter_mut() {
                *slot = u8::try_from(i % k).expect("op index fits u8");
                i /= k;
            }
            Cell { ops }
        })
    }

    fn edge(&self, to: usize, from: usize) -> usize {
        to * (to - 1) / 2 + from
    }

    /// Which nodes feed the cell output through non-zero edges.
    fn live_nodes(&self, cell: &Cell) -> Vec<bool> {
        let mut live = vec![false; self.nodes];
        live[self.nodes - 1] = true;
        for j in (1..self.nodes).rev() {
            if !live[j] {
                continue;
            }
            for (i, flag) in live.iter_mut().enumerate().take(j) {
                let op = self.ops.get(cell.ops[self.edge(j, i)]);
                if !op.kind.is_zero() {
                    *flag = true;
                }
            }
        }
        live
    }

    fn build_cell(
        &self,
        b: &mut NetworkBuilder,
        x: NodeId,
        cell: &Cell,
        label: &str,
    ) -> Result<NodeId, crate::ir::GraphError> {
        let channels = b.shape(x).channels;
        let live = self.live_nodes(cell);
        let mut values = vec![x];
        for j in 1..self.nodes {
            if !live[j] {
                values.push(x);
                continue;
            }
            let mut terms = Vec::new();
            for (i, &value) in values.iter().enumerate().take(j) {
                let def = self.ops.get(cell.ops[self.edge(j, i)]);
                if def.kind.is_zero() || !live[i] {
                    continue;
                }
                let l = format!("{label}/edge{j}<-{i}/{}", def.name);
                terms.push(def.kind.apply(b, value, channels, 1, &l)?);
            }
            let v = if terms.is_empty() {
                blocks::zero(b, x, channels, 1, &format!("{label}/node{j}"))?
            } else {
                blocks::sum(b, &terms, &format!("{label}/node{j}"))?
            };
            values.push(v);
        }
        Ok(values[self.nodes - 1])
    }

    /// Whether a genotype has the right number of edges and valid op indices.
    pub fn check(&self, cell: &Cell) -> bool {
        cell.ops.len() == self.edges() && cell.ops.iter().all(|&o| o < self.ops.count())
    }
}

impl SearchSpace for Nb201 {
    type Genotype = Cell;
    type Config = Config;
    const FAMILY: &'static str = "nb201";

    /// Builds the space from its parsed TOML.
    fn from_config(c: Config) -> Result<Self, SpaceFileError> {
        if !(2..=16).contains(&c.nodes) {
            return Err(SpaceFileError::invalid(
                "nodes",
                format!("must be between 2 and 16, got {}", c.nodes),
            ));
        }
        let s = &c.skeleton;
        if s.stages == 0 || s.channels == 0 || s.classes == 0 || s.input.contains(&0) {
            return Err(SpaceFileError::invalid(
                "skeleton",
                "input, classes, channels and stages must be positive",
            ));
        }
        super::check_skeleton(
            s.input,
            s.classes,
            &[s.channels],
            s.stages,
            s.cells_per_stage,
        )?;
        Ok(Nb201 {
            name: c.name,
            description: c.description,
            nodes: c.nodes as usize,
            ops: OpSet::new(c.ops)?,
            skeleton: c.skeleton,
        })
    }

    /// Space name.
    fn name(&self) -> &str {
        &self.name
    }

    /// One-line description.
    fn description(&self) -> &str {
        &self.description
    }

    /// The space for another input shape (`[channels, height, width]`) and class count, as a
    /// data set requires.
    fn with_io(&self, input: [u32; 3], classes: u32) -> Self {
        let mut s = self.clone();
        s.skeleton.input = input;
        s.skeleton.classes = classes;
        s
    }

    /// Applies width/depth knobs to the skeleton.
    fn with_knobs(&self, k: &Knobs) -> Self {
        let mut s = self.clone();
        if let Some(c) = k.channels {
            s.skeleton.channels = c;
        }
        if let Some(n) = k.cells {
            s.skeleton.cells_per_stage = n;
        }
        s
    }

    /// A uniformly random cell.
    fn sample(&self, rng: &mut dyn RngCore) -> Cell {
        let ops = (0..self.edges())
            .map(|_| rng.random_range(0..self.ops.count()))
            .collect();
        Cell { ops }
    }

    /// Changes the op of one random edge to a different op (NAS-Bench-201's REA mutation).
    fn mutate(&self, cell: &Cell, rng: &mut dyn RngCore) -> Cell {
        let mut ops = cell.ops.clone();
        let e = rng.random_range(0..ops.len());
        ops[e] = pick_other(rng, self.ops.count(), ops[e]);
        Cell { ops }
    }

    /// Decodes a cell into the full network, after checking that it belongs to this space (a
    /// cell from a document may have been written for another edge or op count).
    fn decode(&self, cell: &Cell) -> Result<Network, SpaceError> {
        if !self.check(cell) {
            return Err(SpaceError::Invalid {
                space: self.name.clone(),
                message: "wrong number of edges or op index out of range".into(),
            });
        }
        let s = &self.skeleton;
        let mut b = NetworkBuilder::new();
        let [c, h, w] = s.input;
        let mut x = b.input(Shape::new(c, h, w), "input")?;
        x = blocks::conv(&mut b, x, s.channels, ConvGeometry::same(3, 1), 1, "stem")?;
        x = blocks::bn(&mut b, x, "stem")?;
        let mut channels = s.channels;
        for stage in 0..s.stages {
            if stage > 0 {
                channels *= 2;
                x = blocks::resnet_reduction(&mut b, x, channels, &format!("reduce{stage}"))?;
            }
            for i in 0..s.cells_per_stage {
                x = self.build_cell(&mut b, x, cell, &format!("stage{stage}/cell{i}"))?;
            }
        }
        x = blocks::bn(&mut b, x, "lastact")?;
        x = blocks::relu(&mut b, x, "lastact")?;
        x = blocks::classifier(&mut b, x, s.classes, "head")?;
        Ok(b.finish(x)?)
    }

    /// Parses an arch string.
    fn parse(&self, text: &str) -> Result<Cell, SpaceError> {
        let err = |message: String| SpaceError::Parse {
            space: self.name.clone(),
            input: text.to_string(),
            message,
        };
        let t = text.trim();
        let parts: Vec<&str> = t.split('+').collect();
        if parts.len() != self.nodes - 1 {
            return Err(err(format!(
                "expected {} nodes separated by `+`, found {}",
                self.nodes - 1,
                parts.len()
            )));
        }
        let mut ops = Vec::with_capacity(self.edges());
        for (j, part) in parts.iter().enumerate() {
            let node = j + 1;
            let inner = part
                .strip_prefix('|')
                .and_then(|p| p.strip_suffix('|'))
                .ok_or_else(|| err(format!("node {node}: `{part}` must start and end with `|`")))?;
            let edges: Vec<&str> = inner.split('|').collect();
            if edges.len() != node {
                return Err(err(format!(
                    "node {node}: expected {node} incoming edges, found {}",
                    edges.len()
                )));
            }
            for (i, edge) in edges.iter().enumerate() {
                let (name, src) = edge
                    .split_once('~')
                    .ok_or_else(|| err(format!("node {node}: edge `{edge}` is not `op~input`")))?;
                if src.parse::<usize>().ok() != Some(i) {
                    return Err(err(format!(
                        "node {node}: edge `{edge}` should come from node {i}"
                    )));
                }
                let op = self.ops.index_of(name).ok_or_else(|| {
                    err(format!(
                        "node {node}: unknown op `{name}`; known ops: {}",
                        self.ops.names()
                    ))
                })?;
                ops.push(op);
            }
        }
        Ok(Cell { ops })
    }

    /// Reads an arch string given as a JSON string (documents store the notation as a value).
    fn parse_value(&self, v: &serde_json::Value) -> Result<Cell, SpaceError> {
        match v.as_str() {
            Some(s) => self.parse(s),
            None => Err(SpaceError::Parse {
                space: self.name.clone(),
                input: v.to_string(),
                message: "expected an arch string".into(),
            }),
        }
    }

    /// Prints the arch string.
    fn format(&self, cell: &Cell) -> String {
        let mut out = String::new();
        let mut e = 0;
        for j in 1..self.nodes {
            if j > 1 {
                out.push('+');
            }
            out.push('|');
            for i in 0..j {
                out.push_str(&self.ops.get(cell.ops[e]).name);
                out.push('~');
                out.push_str(&i.to_string());
                out.push('|');
                e += 1;
            }
        }
        out
    }

    /// A text drawing of the cell, one line per node.
    fn describe(&self, cell: &Cell) -> String {
        let mut out = String::from("cell (node 0 = cell input, last node = cell output):\n");
        let mut e = 0;
        for j in 1..self.nodes {
            let mut terms = Vec::new();
            for i in 0..j {
                let def = self.ops.get(cell.ops[e]);
                if !def.kind.is_zero() {
                    terms.push(format!("{}(node {i})", def.name));
                }
                e += 1;
            }
            let rhs = if terms.is_empty() {
                "0".to_string()
            } else {
                terms.join(" + ")
            };
            out.push_str(&format!("  node {j} = {rhs}\n"));
        }
        out
    }

    /// The arch string as a JSON string.
    fn to_value(&self, cell: &Cell) -> serde_json::Value {
        serde_json::Value::String(self.format(cell))
    }

    /// `ops^edges` cells; a space too large for `u64` says infinity rather than a wrong count.
    fn size(&self) -> Size {
        match self.cell_count() {
            Some(n) => Size::Exact(n),
            None => Size::Log10(f64::INFINITY),
        }
    }

    /// Every cell, in mixed-radix order (see `cells`).
    fn enumerate(&self) -> Option<Box<dyn Iterator<Item = Cell> + Send + '_>> {
        Some(Box::new(self.cells()))
    }
}
