//! The NASNet / AmoebaNet cell space (Zoph et al. 2018, Real et al. 2019) in the DARTS form.
//!
//! A genotype has a normal and a reduction cell of `B` blocks (5). Block `b` sums two
//! `(op, input)` pairs; input 0 is the output of the cell before the previous one, input 1 the
//! previous cell's, input `2 + k` block `k`'s. The cell output concatenates the block outputs no
//! other block uses (NASNet's rule; `concat = "all"` takes every block, as DARTS does).
//!
//! Notation (DARTS' `Genotype`, as JSON):
//! `{"normal": [["sep_conv_3x3", 0], ["skip_connect", 1], ...], "normal_concat": [4, 5, 6],
//!   "reduce": [...], "reduce_concat": [...]}`; the concat lists may be left out. This is what
//! evonas prints and documents store. Two more forms are read (see [`super::pyliteral`]), so
//! genotypes from the literature and from benchmark files need no conversion:
//! - DARTS' Python form, as in its `genotypes.py`: `Genotype(normal=[('sep_conv_3x3', 0), ...],
//!   normal_concat=range(2, 6), reduce=[...], reduce_concat=range(2, 6))`;
//! - the compact form of NASLib and BANANAS (NAS-Bench-301's encoding): `[[(0, 3), (1, 5), ...],
//!   [...]]`, the normal then the reduction cell, each pair `(input, op index)` with the op
//!   index into the space's `ops` list (the `darts` space lists them in NASLib's order, so
//!   NAS-Bench-301 cells read as they are). [`NasNet::compact`] prints it.
//!
//! Skeleton (DARTS `NetworkCIFAR`): a 3x3 conv stem with `stem_multiplier * C` channels and
//! batch norm; stages of N normal cells with reduction cells between them, channels doubling at
//! each reduction; each cell first maps its two inputs to C channels (1x1 ReLU-Conv-BN, or
//! factorized reduction after a reduction cell); global pooling and a linear classifier.
//!
//! `distinct_inputs = true` (the `darts` space) makes a block's two pairs read two different
//! states, as DARTS' genotypes and NAS-Bench-301's cells do; block 0 then reads both cell
//! inputs, so no part of any network is pruned, and parameter counts compare one to one with
//! DARTS' (all batch norms affine) and, leaving out the cell ops' batch-norm affine parameters
//! (NASLib builds those with `affine=False`), with NASLib's NAS-Bench-301 network.

use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use super::ops::{OpDef, OpSet};
use super::{pick_other, Knobs, SearchSpace, Size, SpaceError, SpaceFileError};
use crate::ir::blocks::{self, ConvGeometry};
use crate::ir::{GraphError, Network, NetworkBuilder, NodeId, Shape};

/// One block: two `(input, op)` pairs whose results are summed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Block {
    /// Input state of each pair (0, 1: cell inputs; 2 + k: block k).
    pub inputs: [u8; 2],
    /// Op index of each pair.
    pub ops: [u8; 2],
}

/// One cell: its blocks in order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cell {
    /// The blocks; block `b` may read states `0..2 + b`.
    pub blocks: Vec<Block>,
}

/// A NASNet genotype: a normal and a reduction cell.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Genotype {
    /// The normal cell.
    pub normal: Cell,
    /// The reduction cell.
    pub reduce: Cell,
}

/// Which kind of mutation [`NasNet::mutate_detailed`] applied (Real et al. 2019).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// One pair reads a different hidden state.
    HiddenState,
    /// One pair applies a different op.
    Op,
    /// No change.
    Identity,
}

/// Which block outputs a cell concatenates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConcatRule {
    /// Block outputs no other block reads (NASNet, AmoebaNet).
    Unused,
    /// Every block output (DARTS).
    All,
}

/// Relative weights of the three mutations.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MutationWeights {
    /// Hidden-state mutation.
    pub hidden_state: f64,
    /// Op mutation.
    pub op: f64,
    /// Identity (no change).
    pub identity: f64,
}

/// The TOML form of a NASNet-family space.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Space name.
    pub name: String,
    /// Always `"nasnet"`.
    pub family: String,
    /// One-line description.
    #[serde(default)]
    pub description: String,
    /// Blocks per cell (5).
    pub blocks: u32,
    /// Which block outputs form the cell output.
    pub concat: ConcatRule,
    /// Whether a block's two pairs must read two different states (DARTS keeps, per node, the
    /// strongest edges from two different predecessors; NAS-Bench-301 samples its cells so).
    /// Every cell then reads both of its inputs, so nothing of a network is pruned.
    #[serde(default)]
    pub distinct_inputs: bool,
    /// Candidate ops.
    pub ops: Vec<OpDef>,
    /// Mutation weights.
    pub mutation: MutationWeights,
    /// Macro skeleton.
    pub skeleton: Skeleton,
}

/// The NASNet macro skeleton.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skeleton {
    /// Input `[channels, height, width]`.
    pub input: [u32; 3],
    /// Output classes.
    pub classes: u32,
    /// Cell channels C of the first stage.
    pub channels: u32,
    /// Stem channels are `stem_multiplier * C`.
    pub stem_multiplier: u32,
    /// Stages (reduction cells sit between them).
    pub stages: u32,
    /// Normal cells per stage (N).
    pub cells_per_stage: u32,
}

/// JSON notation of a genotype.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notation {
    /// Normal cell pairs `(op, input)`, two per block.
    pub normal: Vec<(String, u32)>,
    /// Concatenated states of the normal cell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normal_concat: Option<Vec<u32>>,
    /// Reduction cell pairs.
    pub reduce: Vec<(String, u32)>,
    /// Concatenated states of the reduction cell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reduce_concat: Option<Vec<u32>>,
}

/// A NASNet-family space.
#[derive(Clone, Debug)]
pub struct NasNet {
    name: String,
    description: String,
    blocks: usize,
    concat: ConcatRule,
    distinct_inputs: bool,
    ops: OpSet,
    mutation: MutationWeights,
    skeleton: Skeleton,
}

impl NasNet {
    /// The candidate ops.
    pub fn ops(&self) -> &OpSet {
        &self.ops
    }

    /// Blocks per cell.
    pub fn blocks(&self) -> usize {
        self.blocks
    }

    /// log10 of the number of genotypes: per cell, the product over blocks of the ordered
    /// input pairs ((2+b)^2, or (2+b)(1+b) when distinct) times ops^2.
    pub fn log10_size(&self) -> f64 {
        let ops = self.ops.len() as f64;
        let per_cell: f64 = (0..self.blocks)
            .map(|b| {
                let states = (2 + b) as f64;
                let pairs = if self.distinct_inputs {
                    states * (states - 1.0)
                } else {
                    states * states
                };
                (pairs * ops * ops).log10()
            })
            .sum();
        2.0 * per_cell
    }

    /// Whether a block's two pairs must read different states.
    pub fn distinct_inputs(&self) -> bool {
        self.distinct_inputs
    }

    fn sample_cell(&self, rng: &mut dyn RngCore) -> Cell {
        let blocks = (0..self.blocks)
            .map(|b| {
                let states = u8::try_from(2 + b).expect("at most 34 states");
                let first = rng.random_range(0..states);
                let second = if self.distinct_inputs {
                    pick_other(rng, states, first)
                } else {
                    rng.random_range(0..states)
                };
                Block {
                    inputs: [first, second],
                    ops: [
                        rng.random_range(0..self.ops.count()),
                        rng.random_range(0..self.ops.count()),
                    ],
                }
            })
            .collect();
        Cell { blocks }
    }

    /// One mutation of Real et al. (2019): pick a cell, then a hidden-state, op or identity
    /// mutation by the configured weights. Returns the child and the mutation applied.
    pub fn mutate_detailed(&self, g: &Genotype, rng: &mut dyn RngCore) -> (Genotype, Mutation) {
        let m = self.mutation;
        let total = m.hidden_state + m.op + m.identity;
        let r = rng.random::<f64>() * total;
        let mut kind = if r < m.hidden_state {
            Mutation::HiddenState
        } else if r < m.hidden_state + m.op {
            Mutation::Op
        } else {
            Mutation::Identity
        };
        if kind == Mutation::Op && self.ops.count() < 2 {
            kind = Mutation::HiddenState;
        }
        let mut child = g.clone();
        if kind == Mutation::Identity {
            return (child, kind);
        }
        let cell = if rng.random_bool(0.5) {
            &mut child.normal
        } else {
            &mut child.reduce
        };
        // With distinct inputs, block 0 reads states 0 and 1 and cannot move another state;
        // `from_config` ensures another block exists. (Drawing from 0 otherwise keeps the
        // draws of spaces without the rule as they were.)
        let lowest = usize::from(kind == Mutation::HiddenState && self.distinct_inputs);
        let b = rng.random_range(lowest..cell.blocks.len());
        let pair = rng.random_range(0..2);
        let block = &mut cell.blocks[b];
        match kind {
            Mutation::HiddenState => {
                let states = u8::try_from(2 + b).expect("at most 34 states");
                block.inputs[pair] = if self.distinct_inputs {
                    pick_neither(rng, states, block.inputs)
                } else {
                    pick_other(rng, states, block.inputs[pair])
                };
            }
            Mutation::Op => {
                block.ops[pair] = pick_other(rng, self.ops.count(), block.ops[pair]);
            }
            Mutation::Identity => unreachable!("returned above"),
        }
        (child, kind)
    }

    /// The states a cell concatenates into its output, in increasing order.
    pub fn concat_states(&self, cell: &Cell) -> Vec<usize> {
        let n = cell.blocks.len();
        match self.concat {
            ConcatRule::All => (2..2 + n).collect(),
            ConcatRule::Unused => {
                let mut used = vec![false; n + 2];
                for b in &cell.blocks {
                    for &i in &b.inputs {
                        used[usize::from(i)] = true;
                    }
                }
                (2..2 + n).filter(|&s| !used[s]).collect()
            }
        }
    }

    fn cell_notation(&self, cell: &Cell) -> (Vec<(String, u32)>, Vec<u32>) {
        let pairs = cell
            .blocks
            .iter()
            .flat_map(|b| {
                (0..2).map(move |p| (self.ops.get(b.ops[p]).name.clone(), u32::from(b.inputs[p])))
            })
            .collect();
        let concat = self
            .concat_states(cell)
            .into_iter()
            .map(|s| u32::try_from(s).expect("small state index"))
            .collect();
        (pairs, concat)
    }

    /// The JSON notation of a genotype.
    pub fn notation(&self, g: &Genotype) -> Notation {
        let (normal, normal_concat) = self.cell_notation(&g.normal);
        let (reduce, reduce_concat) = self.cell_notation(&g.reduce);
        Notation {
            normal,
            normal_concat: Some(normal_concat),
            reduce,
            reduce_concat: Some(reduce_concat),
        }
    }

    /// The genotype as NASLib's compact form: `[[(input, op index), ...], [...]]`, the normal
    /// then the reduction cell, two pairs per block (what [`SearchSpace::parse`] also reads).
    pub fn compact(&self, g: &Genotype) -> String {
        let cell = |c: &Cell| {
            let pairs: Vec<String> = c
                .blocks
                .iter()
                .flat_map(|b| (0..2).map(move |p| format!("({}, {})", b.inputs[p], b.ops[p])))
                .collect();
            format!("[{}]", pairs.join(", "))
        };
        format!("[{}, {}]", cell(&g.normal), cell(&g.reduce))
    }

    fn parse_error(&self, text: &str, message: String) -> SpaceError {
        SpaceError::Parse {
            space: self.name.clone(),
            input: text.to_string(),
            message,
        }
    }

    /// An array is the compact form; anything else must be the notation's object.
    fn read_value(&self, value: &serde_json::Value, text: &str) -> Result<Genotype, SpaceError> {
        if let serde_json::Value::Array(cells) = value {
            return self.read_compact(cells, text);
        }
        let n: Notation = serde_path_to_error::deserialize(value)
            .map_err(|e| self.parse_error(text, format!("at `{}`: {}", e.path(), e.inner())))?;
        self.read_notation(&n, text)
    }

    /// The compact form's two cells, each `(input, op index)` pairs.
    fn read_compact(
        &self,
        cells: &[serde_json::Value],
        text: &str,
    ) -> Result<Genotype, SpaceError> {
        let [normal, reduce] = cells else {
            return Err(self.parse_error(text, format!(
                "the compact form is [normal, reduce], two lists of (input, op index) pairs; found {} items",
                cells.len()
            )));
        };
        Ok(Genotype {
            normal: self.read_compact_cell("normal", normal, text)?,
            reduce: self.read_compact_cell("reduce", reduce, text)?,
        })
    }

    /// One cell of the compact form: op indices become names, then the cell is read as the
    /// notation's cells are (same checks, same messages).
    fn read_compact_cell(
        &self,
        which: &str,
        cell: &serde_json::Value,
        text: &str,
    ) -> Result<Cell, SpaceError> {
        let err = |message: String| self.parse_error(text, message);
        let pairs = cell.as_array().ok_or_else(|| {
            err(format!(
                "`{which}` must be a list of (input, op index) pairs, not {cell}"
            ))
        })?;
        let mut named = Vec::with_capacity(pairs.len());
        for (at, pair) in pairs.iter().enumerate() {
            let numbers = pair.as_array().and_then(|p| match p[..] {
                [ref i, ref o] => Some((i.as_u64()?, o.as_u64()?)),
                _ => None,
            });
            let Some((input, op)) = numbers else {
                return Err(err(format!(
                    "`{which}[{at}]` must be a pair (input, op index) of integers, not {pair}"
                )));
            };
            let Some(def) = usize::try_from(op)
                .ok()
                .and_then(|o| self.ops.defs().get(o))
            else {
                return Err(err(format!(
                    "`{which}[{at}]`: op index {op} is out of range; this space's ops are 0 to {} ({})",
                    self.ops.len() - 1,
                    self.ops.names()
                )));
            };
            // An input too large for u32 is out of range for every block: say so as for any.
            let input = u32::try_from(input).unwrap_or(u32::MAX);
            named.push((def.name.clone(), input));
        }
        self.parse_cell(which, &named, None, text)
    }

    fn read_notation(&self, n: &Notation, text: &str) -> Result<Genotype, SpaceError> {
        let normal = self.parse_cell("normal", &n.normal, n.normal_concat.as_deref(), text)?;
        let reduce = self.parse_cell("reduce", &n.reduce, n.reduce_concat.as_deref(), text)?;
        Ok(Genotype { normal, reduce })
    }

    fn parse_cell(
        &self,
        which: &str,
        pairs: &[(String, u32)],
        concat: Option<&[u32]>,
        text: &str,
    ) -> Result<Cell, SpaceError> {
        let err = |message: String| self.parse_error(text, message);
        if pairs.len() != 2 * self.blocks {
            return Err(err(format!(
                "`{which}` has {} pairs; expected {} (two per block)",
                pairs.len(),
                2 * self.blocks
            )));
        }
        let mut blocks = Vec::with_capacity(self.blocks);
        for (b, chunk) in pairs.chunks(2).enumerate() {
            let mut block = Block {
                inputs: [0; 2],
                ops: [0; 2],
            };
            for (p, (name, input)) in chunk.iter().enumerate() {
                let at = 2 * b + p;
                block.ops[p] = self.ops.index_of(name).ok_or_else(|| {
                    err(format!(
                        "`{which}[{at}]`: unknown op `{name}`; known ops: {}",
                        self.ops.names()
                    ))
                })?;
                if *input as usize >= 2 + b {
                    return Err(err(format!(
                        "`{which}[{at}]`: block {b} can read states 0..={} (0, 1: cell inputs; 2+k: block k), not {input}",
                        1 + b
                    )));
                }
                block.inputs[p] = u8::try_from(*input).expect("checked above");
            }
            if self.distinct_inputs && block.inputs[0] == block.inputs[1] {
                return Err(err(format!(
                    "`{which}[{}]` and `{which}[{}]`: block {b} reads state {} twice; in this space a block's two inputs differ (DARTS keeps two different predecessors per node)",
                    2 * b,
                    2 * b + 1,
                    block.inputs[0]
                )));
            }
            blocks.push(block);
        }
        let cell = Cell { blocks };
        if let Some(given) = concat {
            let derived: Vec<u32> = self
                .concat_states(&cell)
                .into_iter()
                .map(|s| s as u32)
                .collect();
            let mut sorted = given.to_vec();
            sorted.sort_unstable();
            if sorted != derived {
                return Err(err(format!(
                    "`{which}_concat` is {given:?} but this space concatenates {} block outputs: {derived:?}",
                    match self.concat {
                        ConcatRule::Unused => "the unused",
                        ConcatRule::All => "all",
                    }
                )));
            }
        }
        Ok(cell)
    }

    #[allow(clippy::too_many_arguments)]
    fn build_cell(
        &self,
        b: &mut NetworkBuilder,
        s0: Option<NodeId>,
        s1: Option<NodeId>,
        cell: &Cell,
        channels: u32,
        reduction: bool,
        reduction_prev: bool,
        label: &str,
    ) -> Result<NodeId, GraphError> {
        let uses = |s: u8| cell.blocks.iter().any(|blk| blk.inputs.contains(&s));
        let mut states: Vec<Option<NodeId>> = vec![None, None];
        let missing = |i: u8| {
            panic!("{label}: state {i} is read but its cell was pruned as dead (decoder bug)")
        };
        if uses(0) {
            let s0 = s0.unwrap_or_else(|| missing(0));
            let l = format!("{label}/preprocess0");
            states[0] = Some(if reduction_prev {
                blocks::factorized_reduce(b, s0, channels, &l)?
            } else {
                blocks::relu_conv_bn(b, s0, channels, ConvGeometry::same(1, 1), &l)?
            });
        }
        if uses(1) {
            let s1 = s1.unwrap_or_else(|| missing(1));
            let l = format!("{label}/preprocess1");
            states[1] = Some(blocks::relu_conv_bn(
                b,
                s1,
                channels,
                ConvGeometry::same(1, 1),
                &l,
            )?);
        }
        for (k, blk) in cell.blocks.iter().enumerate() {
            let mut terms = Vec::with_capacity(2);
            for p in 0..2 {
                let input = usize::from(blk.inputs[p]);
                let x = states[input].expect("states read by a block were built");
                let stride = if reduction && input < 2 { 2 } else { 1 };
                let def = self.ops.get(blk.ops[p]);
                let l = format!("{label}/b{k}/{p}/{}", def.name);
                terms.push(def.kind.apply(b, x, channels, stride, &l)?);
            }
            states.push(Some(blocks::sum(b, &terms, &format!("{label}/b{k}"))?));
        }
        let outs: Vec<NodeId> = self
            .concat_states(cell)
            .into_iter()
            .map(|s| states[s].expect("block states are built"))
            .collect();
        blocks::concat(b, &outs, &format!("{label}/output"))
    }

    /// Whether a genotype fits this space (block count, state and op indices, distinct inputs
    /// where the space asks for them).
    pub fn check(&self, g: &Genotype) -> bool {
        [&g.normal, &g.reduce].iter().all(|c| {
            c.blocks.len() == self.blocks
                && c.blocks.iter().enumerate().all(|(k, blk)| {
                    blk.inputs.iter().all(|&i| usize::from(i) < 2 + k)
                        && blk.ops.iter().all(|&o| o < self.ops.count())
                        && !(self.distinct_inputs && blk.inputs[0] == blk.inputs[1])
                })
        })
    }
}

/// A uniformly random state in `0..states` that neither of two different `taken` states is
/// (`states >= 3`): a new input for a block that must keep its two inputs different.
fn pick_neither(rng: &mut dyn RngCore, states: u8, taken: [u8; 2]) -> u8 {
    let (lo, hi) = (taken[0].min(taken[1]), taken[0].max(taken[1]));
    let mut r = rng.random_range(0..states - 2);
    if r >= lo {
        r += 1;
    }
    if r >= hi {
        r += 1;
    }
    r
}

impl SearchSpace for NasNet {
    type Genotype = Genotype;
    type Config = Config;
    const FAMILY: &'static str = "nasnet";

    /// Builds the space from its parsed TOML.
    fn from_config(c: Config) -> Result<Self, SpaceFileError> {
        if !(1..=32).contains(&c.blocks) {
            return Err(SpaceFileError::invalid(
                "blocks",
                format!("must be between 1 and 32, got {}", c.blocks),
            ));
        }
        if c.distinct_inputs && c.blocks < 2 {
            return Err(SpaceFileError::invalid(
                "distinct_inputs",
                "needs blocks >= 2 (block 0 can only read states 0 and 1, so a single block could never change its inputs)",
            ));
        }
        let m = c.mutation;
        let weights = [m.hidden_state, m.op, m.identity];
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || weights.iter().sum::<f64>() <= 0.0
        {
            return Err(SpaceFileError::invalid(
                "mutation",
                "weights must be finite, non-negative and not all zero",
            ));
        }
        let s = &c.skeleton;
        if s.stages == 0
            || s.channels < 2
            || s.stem_multiplier == 0
            || s.classes == 0
            || s.input.contains(&0)
        {
            return Err(SpaceFileError::invalid(
                "skeleton",
                "input, classes, stem_multiplier and stages must be positive, channels >= 2",
            ));
        }
        super::check_skeleton(
            s.input,
            s.classes,
            &[s.channels, s.channels.saturating_mul(s.stem_multiplier)],
            s.stages,
            s.cells_per_stage,
        )?;
        Ok(NasNet {
            name: c.name,
            description: c.description,
            blocks: c.blocks as usize,
            concat: c.concat,
            distinct_inputs: c.distinct_inputs,
            ops: OpSet::new(c.ops)?,
            mutation: c.mutation,
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
            s.skeleton.channels = c.max(2);
        }
        if let Some(n) = k.cells {
            s.skeleton.cells_per_stage = n;
        }
        s
    }

    /// A uniformly random genotype.
    fn sample(&self, rng: &mut dyn RngCore) -> Genotype {
        Genotype {
            normal: self.sample_cell(rng),
            reduce: self.sample_cell(rng),
        }
    }

    /// Real et al.'s mutation; which kind was applied is dropped (see `mutate_detailed`).
    fn mutate(&self, g: &Genotype, rng: &mut dyn RngCore) -> Genotype {
        self.mutate_detailed(g, rng).0
    }

    /// Decodes a genotype into the full network, after checking that it belongs to this space
    /// (a genotype from a document may have been written for another block or op count).
    fn decode(&self, g: &Genotype) -> Result<Network, SpaceError> {
        if !self.check(g) {
            return Err(SpaceError::Invalid {
                space: self.name.clone(),
                message: "wrong block count, state or op index".into(),
            });
        }
        let s = &self.skeleton;
        let mut b = NetworkBuilder::new();
        let [c, h, w] = s.input;
        let x = b.input(Shape::new(c, h, w), "input")?;
        let stem = blocks::conv(
            &mut b,
            x,
            s.stem_multiplier * s.channels,
            ConvGeometry::same(3, 1),
            1,
            "stem",
        )?;
        let stem = blocks::bn(&mut b, stem, "stem")?;
        // Cell k reads the outputs of cells k-2 (state 0) and k-1 (state 1). A cell whose
        // output no later cell reads computes nothing the network returns, so it is not built
        // (the IR holds no dead nodes).
        let mut kinds: Vec<bool> = Vec::new();
        for stage in 0..s.stages {
            if stage > 0 {
                kinds.push(true);
            }
            kinds.extend(std::iter::repeat_n(false, s.cells_per_stage as usize));
        }
        let cell_of = |reduction: bool| if reduction { &g.reduce } else { &g.normal };
        let reads = |k: usize, state: u8| {
            cell_of(kinds[k])
                .blocks
                .iter()
                .any(|blk| blk.inputs.contains(&state))
        };
        let n = kinds.len();
        let mut live = vec![false; n];
        for k in (0..n).rev() {
            live[k] = k + 1 == n
                || (live[k + 1] && reads(k + 1, 1))
                || (k + 2 < n && live[k + 2] && reads(k + 2, 0));
        }
        // outputs[k + 1] is cell k's output; outputs[0] the stem's.
        let mut outputs: Vec<Option<NodeId>> = vec![Some(stem)];
        let mut channels = s.channels;
        for (k, &reduction) in kinds.iter().enumerate() {
            if reduction {
                channels *= 2;
            }
            if !live[k] {
                outputs.push(None);
                continue;
            }
            // A live cell's read inputs are live by construction of `live`.
            let s1 = outputs[k];
            let s0 = if k == 0 { outputs[0] } else { outputs[k - 1] };
            let reduction_prev = k > 0 && kinds[k - 1];
            let kind = if reduction { "reduce" } else { "normal" };
            let out = self.build_cell(
                &mut b,
                s0,
                s1,
                cell_of(reduction),
                channels,
                reduction,
                reduction_prev,
                &format!("cell{k}:{kind}"),
            )?;
            outputs.push(Some(out));
        }
        let s1 = outputs[n].expect("the last cell is live");
        let out = blocks::classifier(&mut b, s1, s.classes, "head")?;
        Ok(b.finish(out)?)
    }

    /// Parses the JSON notation, DARTS' Python `Genotype(..)` or the compact form.
    fn parse(&self, text: &str) -> Result<Genotype, SpaceError> {
        if text.trim_start().starts_with('{') {
            let n: Notation = super::parse_json_named(text, &self.name)?;
            return self.read_notation(&n, text);
        }
        let value =
            super::pyliteral::parse(text).map_err(|e| self.parse_error(text, e.to_string()))?;
        self.read_value(&value, text)
    }

    /// Parses the notation (or the compact form, an array) from a JSON value.
    fn parse_value(&self, value: &serde_json::Value) -> Result<Genotype, SpaceError> {
        self.read_value(value, &value.to_string())
    }

    /// Prints the notation as one-line JSON.
    fn format(&self, g: &Genotype) -> String {
        serde_json::to_string(&self.notation(g)).expect("notation serialises")
    }

    /// A text drawing of both cells.
    fn describe(&self, g: &Genotype) -> String {
        let state = |s: u8| match s {
            0 => "c[k-2]".to_string(),
            1 => "c[k-1]".to_string(),
            k => format!("b{}", k - 2),
        };
        let mut out = String::new();
        for (name, cell) in [("normal", &g.normal), ("reduce", &g.reduce)] {
            out.push_str(&format!("{name} cell:\n"));
            for (b, blk) in cell.blocks.iter().enumerate() {
                out.push_str(&format!(
                    "  b{b} = {}({}) + {}({})\n",
                    self.ops.get(blk.ops[0]).name,
                    state(blk.inputs[0]),
                    self.ops.get(blk.ops[1]).name,
                    state(blk.inputs[1])
                ));
            }
            let cat: Vec<String> = self
                .concat_states(cell)
                .into_iter()
                .map(|s| format!("b{}", s - 2))
                .collect();
            out.push_str(&format!("  output = concat({})\n", cat.join(", ")));
        }
        out
    }

    /// The notation as a JSON object (documents store it as a value, not a string).
    fn to_value(&self, g: &Genotype) -> serde_json::Value {
        serde_json::to_value(self.notation(g)).expect("notation serialises")
    }

    /// Too many genotypes to count exactly; see `log10_size`.
    fn size(&self) -> Size {
        Size::Log10(self.log10_size())
    }

    /// Too large to list.
    fn enumerate(&self) -> Option<Box<dyn Iterator<Item = Genotype> + Send + '_>> {
        None
    }
}
