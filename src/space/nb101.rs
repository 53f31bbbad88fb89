//! NAS-Bench-101 (Ying et al. 2019): a cell is a DAG of at most 7 vertices and 9 edges given as
//! an upper-triangular adjacency matrix plus one op per vertex (`input` first, `output` last).
//!
//! Notation (the benchmark's `ModelSpec`), as one JSON object:
//! `{"matrix": [[0,1,1],[0,0,1],[0,0,0]], "ops": ["input","conv3x3-bn-relu","output"]}`.
//!
//! Decoding follows `model_builder.py`: vertices not on an input-output path are pruned; the
//! input reaches interior vertices through 1x1 projections, interior vertices feed each other
//! truncated to the receiver's width, the output concatenates the interior vertices that feed it
//! and adds a projection of the input if joined to it. Skeleton: a 3x3 conv-bn-relu stem with
//! 128 channels, 3 stacks of 3 cells, 2x2 max pooling and doubled channels between stacks.

#![allow(clippy::needless_range_loop)] // adjacency-matrix code reads best with explicit indices

use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use super::ops::{OpDef, OpSet};
use super::{Knobs, SearchSpace, Size, SpaceError, SpaceFileError};
use crate::ir::blocks::{self, ConvGeometry};
use crate::ir::{GraphError, Network, NetworkBuilder, NodeId, Op, Shape};
use crate::mix::{Label, Mixer};

/// A NAS-Bench-101 cell as written (not pruned): `matrix[i][j]` is an edge `i -> j`, `ops[v]`
/// is the op index of interior vertex `v` (`ops[0]` and the last are unused placeholders).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cell {
    matrix: Vec<Vec<bool>>,
    ops: Vec<u8>,
}

impl Cell {
    /// Number of vertices, input and output included.
    pub fn vertices(&self) -> usize {
        self.matrix.len()
    }

    /// Whether there is an edge `i -> j`.
    pub fn edge(&self, i: usize, j: usize) -> bool {
        self.matrix[i][j]
    }

    /// Op index of vertex `v` (meaningful for interior vertices only).
    pub fn op(&self, v: usize) -> u8 {
        self.ops[v]
    }

    fn edge_count(&self) -> usize {
        self.matrix.iter().flatten().filter(|&&e| e).count()
    }

    /// For each vertex, whether it lies on an input-output path.
    pub fn on_path(&self) -> Vec<bool> {
        let v = self.vertices();
        let mut from_input = vec![false; v];
        from_input[0] = true;
        for i in 0..v {
            if from_input[i] {
                for j in i + 1..v {
                    if self.matrix[i][j] {
                        from_input[j] = true;
                    }
                }
            }
        }
        let mut to_output = vec![false; v];
        to_output[v - 1] = true;
        for i in (0..v).rev() {
            if (i + 1..v).any(|j| self.matrix[i][j] && to_output[j]) {
                to_output[i] = true;
            }
        }
        (0..v).map(|i| from_input[i] && to_output[i]).collect()
    }

    /// The cell with vertices off every input-output path removed (NAS-Bench-101's pruning),
    /// or `None` when the output is not reachable from the input.
    pub fn pruned(&self) -> Option<Cell> {
        let keep = self.on_path();
        if !keep[self.vertices() - 1] {
            return None;
        }
        let idx: Vec<usize> = (0..self.vertices()).filter(|&i| keep[i]).collect();
        let matrix = idx
            .iter()
            .map(|&i| idx.iter().map(|&j| self.matrix[i][j]).collect())
            .collect();
        let ops = idx.iter().map(|&i| self.ops[i]).collect();
        Some(Cell { matrix, ops })
    }
}

/// JSON notation of a cell.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notation {
    /// Adjacency matrix of 0/1.
    pub matrix: Vec<Vec<u8>>,
    /// Op per vertex, `input` first and `output` last.
    pub ops: Vec<String>,
}

/// The TOML form of an NB-101-family space.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Space name.
    pub name: String,
    /// Always `"nb101"`.
    pub family: String,
    /// One-line description.
    #[serde(default)]
    pub description: String,
    /// Most vertices per cell, input and output included (7).
    pub max_vertices: u32,
    /// Most edges per cell after pruning (9).
    pub max_edges: u32,
    /// Candidate ops for interior vertices.
    pub ops: Vec<OpDef>,
    /// Macro skeleton.
    pub skeleton: Skeleton,
}

/// The NB-101 macro skeleton.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skeleton {
    /// Input `[channels, height, width]`.
    pub input: [u32; 3],
    /// Output classes.
    pub classes: u32,
    /// Stem channels (128); doubled after each downsampling.
    pub stem_channels: u32,
    /// Stacks of cells, separated by 2x2 max pooling.
    pub stacks: u32,
    /// Cells per stack.
    pub cells_per_stack: u32,
}

/// Draws of rejection sampling (and of mutation) before the fallback: cheap enough that the
/// fallback costs milliseconds, far more than a real space ever needs.
const SAMPLE_TRIES: usize = 10_000;

/// An NB-101-family space.
#[derive(Clone, Debug)]
pub struct Nb101 {
    name: String,
    description: String,
    max_vertices: usize,
    max_edges: usize,
    ops: OpSet,
    skeleton: Skeleton,
}

impl Nb101 {
    /// The candidate ops.
    pub fn ops(&self) -> &OpSet {
        &self.ops
    }

    /// Why a cell is invalid, or `None` if it is valid.
    pub fn invalid_reason(&self, cell: &Cell) -> Option<String> {
        let v = cell.vertices();
        if v < 2 || v > self.max_vertices {
            return Some(format!(
                "{v} vertices; between 2 and {} allowed",
                self.max_vertices
            ));
        }
        if cell.ops.len() != v || cell.matrix.iter().any(|r| r.len() != v) {
            return Some("matrix must be square with one op per vertex".into());
        }
        for i in 0..v {
            for j in 0..=i {
                if cell.matrix[i][j] {
                    return Some(format!(
                        "edge {i} -> {j} is not above the diagonal (the matrix must be strictly upper-triangular)"
                    ));
                }
            }
        }
        if (1..v - 1).any(|i| cell.ops[i] >= self.ops.count()) {
            return Some("op index out of range".into());
        }
        let Some(pruned) = cell.pruned() else {
            return Some("the output is not reachable from the input".into());
        };
        let edges = pruned.edge_count();
        if edges > self.max_edges {
            return Some(format!(
                "{edges} edges after pruning; at most {} allowed",
                self.max_edges
            ));
        }
        None
    }

    /// Every valid cell in which every vertex lies on an input-output path (so no two differ
    /// only in dead vertices), for 2 to `max_vertices` vertices, times all op labellings.
    fn cells(&self) -> impl Iterator<Item = Cell> + Send + '_ {
        (2..=self.max_vertices).flat_map(move |v| {
            let pairs: Vec<(usize, usize)> = (0..v)
                .flat_map(|i| (i + 1..v).map(move |j| (i, j)))
                .collect();
            let n_ops = usize::from(self.ops.count());
            let labellings = n_ops.pow(u32::try_from(v - 2).unwrap_or(0));
            (0u64..1u64 << pairs.len())
                .filter(move |bits| bits.count_ones() as usize <= self.max_edges)
                .filter_map(move |bits| {
                    let mut matrix = vec![vec![false; v]; v];
                    for (k, &(i, j)) in pairs.iter().enumerate() {
                        matrix[i][j] = bits >> k & 1 == 1;
                    }
                    let cell = Cell {
                        matrix,
                        ops: vec![0; v],
                    };
                    cell.on_path().iter().all(|&b| b).then_some(cell)
                })
                .flat_map(move |cell| {
                    (0..labellings).map(move |mut l| {
                        let mut c = cell.clone();
                        for slot in c.ops.iter_mut().take(v - 1).skip(1) {
                            *slot = u8::try_from(l % n_ops).expect("op index fits u8");
                            l /= n_ops;
                        }
                        c
                    })
                })
        })
    }

    fn read_notation(&self, n: &Notation, text: &str) -> Result<Cell, SpaceError> {
        let err = |message: String| SpaceError::Parse {
            space: self.name.clone(),
            input: text.to_string(),
            message,
        };
        let v = n.matrix.len();
        if n.ops.len() != v {
            return Err(err(format!(
                "matrix has {v} rows but ops has {} entries",
                n.ops.len()
            )));
        }
        let mut matrix = Vec::with_capacity(v);
        for (i, row) in n.matrix.iter().enumerate() {
            if row.len() != v {
                return Err(err(format!(
                    "matrix row {i} has {} entries; expected {v}",
                    row.len()
                )));
            }
            let mut r = Vec::with_capacity(v);
            for (j, &x) in row.iter().enumerate() {
                match x {
                    0 => r.push(false),
                    1 => r.push(true),
                    _ => return Err(err(format!("matrix[{i}][{j}] is {x}; expected 0 or 1"))),
                }
            }
            matrix.push(r);
        }
        let mut ops = Vec::with_capacity(v);
        for (i, name) in n.ops.iter().enumerate() {
            let expected_end = if i == 0 {
                Some("input")
            } else if i + 1 == v {
                Some("output")
            } else {
                None
            };
            match expected_end {
                Some(end) if name == end => ops.push(0),
                Some(end) => {
                    return Err(err(format!("ops[{i}] is `{name}`; expected `{end}`")));
                }
                None => ops.push(self.ops.index_of(name).ok_or_else(|| {
                    err(format!(
                        "ops[{i}]: unknown op `{name}`; known ops: {}",
                        self.ops.names()
                    ))
                })?),
            }
        }
        let cell = Cell { matrix, ops };
        if let Some(reason) = self.invalid_reason(&cell) {
            return Err(err(format!("invalid cell: {reason}")));
        }
        Ok(cell)
    }

    /// The JSON notation of a cell.
    pub fn notation(&self, cell: &Cell) -> Notation {
        let v = cell.vertices();
        Notation {
            matrix: cell
                .matrix
                .iter()
                .map(|r| r.iter().map(|&e| u8::from(e)).collect())
                .collect(),
            ops: (0..v)
                .map(|i| {
                    if i == 0 {
                        "input".to_string()
                    } else if i + 1 == v {
                        "output".to_string()
                    } else {
                        self.ops.get(cell.ops[i]).name.clone()
                    }
                })
                .collect(),
        }
    }

    fn build_cell(
        &self,
        b: &mut NetworkBuilder,
        x: NodeId,
        cell: &Cell,
        out_channels: u32,
        label: &str,
    ) -> Result<NodeId, GraphError> {
        let v = cell.vertices();
        let in_channels = b.shape(x).channels;
        let widths = vertex_channels(cell, in_channels, out_channels);
        let project = |b: &mut NetworkBuilder, c: u32, l: String| {
            blocks::conv_bn_relu(b, x, c, ConvGeometry::same(1, 1), &l)
        };
        let mut values: Vec<NodeId> = vec![x];
        let mut concat = Vec::new();
        for t in 1..v - 1 {
            let mut terms = Vec::new();
            for (src, &value) in values.iter().enumerate().take(t).skip(1) {
                if cell.matrix[src][t] {
                    let shape = b.shape(value);
                    terms.push(if shape.channels > widths[t] {
                        b.add(
                            Op::Truncate {
                                channels: widths[t],
                            },
                            &[value],
                            format!("{label}/vertex{t}/truncate{src}"),
                        )?
                    } else {
                        value
                    });
                }
            }
            if cell.matrix[0][t] {
                terms.push(project(b, widths[t], format!("{label}/vertex{t}/project"))?);
            }
            let input = blocks::sum(b, &terms, &format!("{label}/vertex{t}"))?;
            let def = self.ops.get(cell.ops[t]);
            let l = format!("{label}/vertex{t}/{}", def.name);
            let value = def.kind.apply(b, input, widths[t], 1, &l)?;
            values.push(value);
            if cell.matrix[t][v - 1] {
                concat.push(value);
            }
        }
        if concat.is_empty() {
            return project(b, out_channels, format!("{label}/output/project"));
        }
        let mut out = blocks::concat(b, &concat, &format!("{label}/output"))?;
        if cell.matrix[0][v - 1] {
            let p = project(b, out_channels, format!("{label}/output/project"))?;
            out = b.add(Op::Add, &[out, p], format!("{label}/output/add"))?;
        }
        Ok(out)
    }
}

impl SearchSpace for Nb101 {
    type Genotype = Cell;
    type Config = Config;
    const FAMILY: &'static str = "nb101";

    /// Builds the space from its parsed TOML.
    fn from_config(c: Config) -> Result<Self, SpaceFileError> {
        if !(2..=12).contains(&c.max_vertices) {
            return Err(SpaceFileError::invalid(
                "max_vertices",
                format!("must be between 2 and 12, got {}", c.max_vertices),
            ));
        }
        if c.max_edges == 0 {
            return Err(SpaceFileError::invalid(
                "max_edges",
                "must be at least 1 (the input must reach the output)",
            ));
        }
        let s = &c.skeleton;
        if s.stacks == 0 || s.stem_channels == 0 || s.classes == 0 || s.input.contains(&0) {
            return Err(SpaceFileError::invalid(
                "skeleton",
                "input, classes, stem_channels and stacks must be positive",
            ));
        }
        super::check_skeleton(
            s.input,
            s.classes,
            &[s.stem_channels],
            s.stacks,
            s.cells_per_stack,
        )?;
        let ops = OpSet::new(c.ops)?;
        if ops.index_of("input").is_some() || ops.index_of("output").is_some() {
            return Err(SpaceFileError::invalid(
                "ops",
                "`input` and `output` are reserved vertex names, not ops",
            ));
        }
        Ok(Nb101 {
            name: c.name,
            description: c.description,
            max_vertices: c.max_vertices as usize,
            max_edges: c.max_edges as usize,
            ops,
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
            s.skeleton.stem_channels = c;
        }
        if let Some(n) = k.cells {
            s.skeleton.cells_per_stack = n;
        }
        s
    }

    /// A random valid cell: NAS-Bench-101's `random_spec` (random upper-triangular matrix with
    /// the maximum vertex count and random ops, retried until valid).
    fn sample(&self, rng: &mut dyn RngCore) -> Cell {
        // NAS-Bench-101's own sampler draws every edge with probability 1/2 until the cell is
        // valid. A space allowing far fewer edges than it has slots would almost never get a
        // valid cell that way (12 vertices, 9 edges: one draw in a billion), so after 1,000
        // draws the edge probability drops to max_edges / slots; and a space whose limits admit
        // almost nothing gets the cell that is always valid (input straight to output) instead
        // of a hang. The built-in space accepts about one draw in five: never past the first.
        let v = self.max_vertices;
        let slots = (v * (v - 1) / 2).max(1);
        for attempt in 0..SAMPLE_TRIES {
            let p = if attempt < 1000 {
                0.5
            } else {
                (self.max_edges as f64 / slots as f64).min(0.5)
            };
            let matrix = (0..v)
                .map(|i| (0..v).map(|j| j > i && rng.random_bool(p)).collect())
                .collect();
            let ops = (0..v)
                .map(|i| {
                    if i == 0 || i == v - 1 {
                        0
                    } else {
                        rng.random_range(0..self.ops.count())
                    }
                })
                .collect();
            let cell = Cell { matrix, ops };
            if self.invalid_reason(&cell).is_none() {
                return cell;
            }
        }
        let mut matrix = vec![vec![false; v]; v];
        matrix[0][v - 1] = true;
        Cell {
            matrix,
            ops: vec![0; v],
        }
    }

    /// NAS-Bench-101's `mutate_spec` with mutation rate 1: flip each possible edge with
    /// probability 1/edges and change each interior op with probability 1/interior vertices,
    /// retried until the result is valid and differs from the parent (a cell with no valid
    /// neighbour within `SAMPLE_TRIES` draws is returned unchanged: the search sees a known
    /// function, never a hang).
    fn mutate(&self, cell: &Cell, rng: &mut dyn RngCore) -> Cell {
        let v = cell.vertices();
        let slots = v * (v - 1) / 2;
        let interior = v.saturating_sub(2);
        for _ in 0..SAMPLE_TRIES {
            let mut child = cell.clone();
            for i in 0..v {
                for j in i + 1..v {
                    if rng.random_bool(1.0 / slots as f64) {
                        child.matrix[i][j] = !child.matrix[i][j];
                    }
                }
            }
            if interior > 0 && self.ops.count() > 1 {
                for i in 1..v - 1 {
                    if rng.random_bool(1.0 / interior as f64) {
                        child.ops[i] = super::pick_other(rng, self.ops.count(), child.ops[i]);
                    }
                }
            }
            if child != *cell && self.invalid_reason(&child).is_none() {
                return child;
            }
        }
        cell.clone()
    }

    /// Decodes a cell (pruned first) into the full network.
    fn decode(&self, cell: &Cell) -> Result<Network, SpaceError> {
        if let Some(reason) = self.invalid_reason(cell) {
            return Err(SpaceError::Invalid {
                space: self.name.clone(),
                message: reason,
            });
        }
        let cell = cell
            .pruned()
            .expect("valid cells have an input-output path");
        let s = &self.skeleton;
        let mut b = NetworkBuilder::new();
        let [c, h, w] = s.input;
        let mut x = b.input(Shape::new(c, h, w), "input")?;
        let mut channels = s.stem_channels;
        x = blocks::conv_bn_relu(&mut b, x, channels, ConvGeometry::same(3, 1), "stem")?;
        for stack in 0..s.stacks {
            if stack > 0 {
                x = b.add(
                    Op::MaxPool {
                        kernel: 2,
                        stride: 2,
                        padding: 0,
                    },
                    &[x],
                    format!("downsample{stack}"),
                )?;
                channels *= 2;
            }
            for i in 0..s.cells_per_stack {
                x =
                    self.build_cell(&mut b, x, &cell, channels, &format!("stack{stack}/cell{i}"))?;
            }
        }
        x = blocks::classifier(&mut b, x, s.classes, "head")?;
        Ok(b.finish(x)?)
    }

    /// Parses the JSON notation.
    fn parse(&self, text: &str) -> Result<Cell, SpaceError> {
        let notation: Notation = super::parse_json_named(text, &self.name)?;
        self.read_notation(&notation, text)
    }

    /// Parses the notation from a JSON value.
    fn parse_value(&self, value: &serde_json::Value) -> Result<Cell, SpaceError> {
        let text = value.to_string();
        let notation: Notation =
            serde_path_to_error::deserialize(value).map_err(|e| SpaceError::Parse {
                space: self.name.clone(),
                input: text.clone(),
                message: format!("at `{}`: {}", e.path(), e.inner()),
            })?;
        self.read_notation(&notation, &text)
    }

    /// Prints the JSON notation on one line.
    fn format(&self, cell: &Cell) -> String {
        serde_json::to_string(&self.notation(cell)).expect("notation serialises")
    }

    /// A text drawing: the adjacency matrix with op names.
    fn describe(&self, cell: &Cell) -> String {
        let n = self.notation(cell);
        let keep = cell.on_path();
        let mut out = String::from("cell (rows: from, columns: to; * = pruned vertex):\n");
        for (i, row) in n.matrix.iter().enumerate() {
            let bits: Vec<String> = row.iter().map(|b| b.to_string()).collect();
            let mark = if keep[i] { ' ' } else { '*' };
            out.push_str(&format!("  {i}{mark} [{}] {}\n", bits.join(" "), n.ops[i]));
        }
        out
    }

    /// The notation as a JSON object (documents store it as a value, not a string).
    fn to_value(&self, cell: &Cell) -> serde_json::Value {
        serde_json::to_value(self.notation(cell)).expect("notation serialises")
    }

    /// Counted by enumerating: no closed form covers the pruning and edge limits.
    fn size(&self) -> Size {
        Size::Exact(self.cells().count() as u64)
    }

    /// Every cell with every vertex on an input-output path (see `cells`).
    fn enumerate(&self) -> Option<Box<dyn Iterator<Item = Cell> + Send + '_>> {
        Some(Box::new(self.cells()))
    }
}

/// Interior vertices in a canonical topological order: Kahn's algorithm taking the ready vertex
/// with the smallest NAS-Bench-101-style iterated label (op, degrees and neighbours' labels),
/// index only breaking ties between vertices no label tells apart.
fn canonical_order(cell: &Cell) -> Vec<usize> {
    let v = cell.vertices();
    let op_code = |i: usize| -> u64 {
        if i == 0 {
            u64::MAX
        } else if i + 1 == v {
            u64::MAX - 1
        } else {
            u64::from(cell.ops[i])
        }
    };
    let mut labels: Vec<Label> = (0..v)
        .map(|i| {
            let ins = (0..v).filter(|&j| cell.matrix[j][i]).count() as u64;
            let outs = (0..v).filter(|&j| cell.matrix[i][j]).count() as u64;
            Mixer::new(101)
                .word(op_code(i))
                .word(ins)
                .word(outs)
                .finish()
        })
        .collect();
    for _ in 0..v {
        let next: Vec<Label> = (0..v)
            .map(|i| {
                let mut ins: Vec<Label> = (0..v)
                    .filter(|&j| cell.matrix[j][i])
                    .map(|j| labels[j])
                    .collect();
                let mut outs: Vec<Label> = (0..v)
                    .filter(|&j| cell.matrix[i][j])
                    .map(|j| labels[j])
                    .collect();
                ins.sort_unstable();
                outs.sort_unstable();
                let mut m = Mixer::new(102).label(labels[i]).word(ins.len() as u64);
                for l in ins {
                    m = m.label(l);
                }
                m = m.word(outs.len() as u64);
                for l in outs {
                    m = m.label(l);
                }
                m.finish()
            })
            .collect();
        labels = next;
    }
    let mut placed = vec![false; v];
    placed[0] = true;
    let mut order = Vec::with_capacity(v.saturating_sub(2));
    while order.len() + 2 < v {
        let next = (1..v - 1)
            .filter(|&i| !placed[i] && (0..i).all(|j| !cell.matrix[j][i] || placed[j]))
            .min_by_key(|&i| (labels[i], i))
            .expect("a DAG always has a ready vertex");
        placed[next] = true;
        order.push(next);
    }
    order
}

/// NAS-Bench-101's `compute_vertex_channels`: the output's channels are split evenly among the
/// vertices feeding it (remainder to the first ones, see [`canonical_order`]); other vertices
/// take the widest of their successors.
fn vertex_channels(cell: &Cell, in_channels: u32, out_channels: u32) -> Vec<u32> {
    let v = cell.vertices();
    let mut ch = vec![0u32; v];
    ch[0] = in_channels;
    ch[v - 1] = out_channels;
    if v == 2 {
        return ch;
    }
    let in_degree = (1..v - 1).filter(|&i| cell.matrix[i][v - 1]).count() as u32;
    let interior = out_channels / in_degree.max(1);
    let mut correction = out_channels % in_degree.max(1);
    // The reference gives the remainder to the lowest-numbered vertices; we give it to the first
    // in a canonical topological order, so relabelled (isomorphic) cells decode to isomorphic
    // networks. Both orders keep widths non-increasing along every edge.
    for i in canonical_order(cell) {
        if cell.matrix[i][v - 1] {
            ch[i] = interior;
            if correction > 0 {
                ch[i] += 1;
                correction -= 1;
            }
        }
    }
    for i in (1..v.saturating_sub(2)).rev() {
        if !cell.matrix[i][v - 1] {
            for j in i + 1..v - 1 {
                if cell.matrix[i][j] {
                    ch[i] = ch[i].max(ch[j]);
                }
            }
        }
    }
    ch
}
