//! The functional hash: equal exactly when two networks compute the same function (with
//! independently trained weights), whatever their encoding.
//!
//! # Design: an exact symbolic probe
//! The network is evaluated once, in topological order, on a symbolic input: instead of numbers,
//! each node's value is a term of a small algebra, kept in canonical form by rewrite rules that
//! hold for every value of the weights:
//!
//! 1. `identity(x) = x`; the output node passes its operand through.
//! 2. Zero: `0` absorbs every unary op (`op(0) = 0`), vanishes from sums (`x + 0 = x`), and a
//!    concatenation of zeros is zero. A learned bias on an all-zero input is treated as zero too:
//!    that is NAS-Bench-201's convention for `none` edges, and it keeps `none` a true no-op.
//! 3. Sums are flattened and unordered: `(a + b) + c = c + (b + a)`. Repeats count: `a + a` is
//!    not `a`.
//! 4. Weight-free linear ops distribute over sums: `avg_pool(a + b) = avg_pool(a) + avg_pool(b)`,
//!    and the same for global pooling, crop, truncate and channel shuffle.
//! 5. Weight-free ops are pure: the same op on the same value is the same value, wherever it is
//!    computed (hash-consing).
//! 6. Every weight-bearing op (convolution, linear layer, affine batch norm) is its own instance
//!    with its own weights: two of them on the same input are two values, not one.
//! 7. A concatenation whose channel order every consumer absorbs (full convolutions and linear
//!    layers, possibly behind channel-wise ops and sums with such outputs) is unordered.
//!
//! The result is a DAG of canonical terms; `hash::dag::digest` turns it into bits that
//! depend on its structure only. Because nothing is computed in floating point, equal functions
//! give equal bits on every machine and thread count, and no probe-weight coincidence can merge
//! two different functions. (A numeric probe with random weights cannot be exact here: floating
//! sums depend on order, and to be invariant under relabelling it must give symmetric weight
//! instances equal weights, which makes two independent convolutions indistinguishable from one
//! shared convolution.)
//!
//! Channel widths are part of every term, so a proxy-width network and the full one differ.

use std::collections::HashMap;

use super::dag::{self, Dag};
use super::signature;
use crate::ir::{Network, NodeId, Op, Shape};
use crate::mix::{Label, LabelBuild, Mixer};

const SIG: u64 = 0x6675_6e63;
const UNARY_KEY: u128 = 0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Input,
    Zero,
    Sum,
    Concat,
    Pure,
    Weighted,
}

/// Canonical term DAG under construction: the terms themselves live in `dag`; `kind` and
/// `shape` are kept beside it for the rewrite rules.
#[derive(Default)]
struct Canon {
    dag: Dag,
    kind: Vec<Kind>,
    shape: Vec<Shape>,
    /// Hash-consing of weight-free terms: key over (signature, operand ids) -> term.
    cons: HashMap<Label, u32, LabelBuild>,
    scratch: Vec<u32>,
    /// Reused buffer for flattening sums.
    flat: Vec<u32>,
}

impl Canon {
    fn with_capacity(n: usize) -> Self {
        Canon {
            dag: Dag::with_capacity(n),
            kind: Vec::with_capacity(n),
            shape: Vec::with_capacity(n),
            cons: HashMap::with_capacity_and_hasher(n, LabelBuild::default()),
            scratch: Vec::new(),
            flat: Vec::new(),
        }
    }

    fn push(
        &mut self,
        kind: Kind,
        sig: Label,
        children: &[u32],
        ordered: bool,
        shape: Shape,
    ) -> u32 {
        self.kind.push(kind);
        self.shape.push(shape);
        self.dag.push(sig, ordered, children)
    }

    /// A weight-free term, shared with any equal one built before.
    fn pure(
        &mut self,
        kind: Kind,
        sig: Label,
        children: &[u32],
        ordered: bool,
        shape: Shape,
    ) -> u32 {
        // The key only has to tell (kind, signature, operand ids) apart within one network.
        // Signatures are already well-mixed 128-bit labels, so a unary op's key is a cheap
        // combination with its operand id (a collision needs two signatures to differ by an
        // exact multiple of an odd 128-bit constant).
        if let [child] = children {
            let key = sig.wrapping_add(u128::from(*child).wrapping_add(1).wrapping_mul(UNARY_KEY))
                ^ (kind as u128);
            if let Some(&id) = self.cons.get(&key) {
                return id;
            }
            let id = self.push(kind, sig, children, ordered, shape);
            self.cons.insert(key, id);
            return id;
        }
        let mut key = Mixer::new(kind as u64)
            .label(sig)
            .word(u64::from(ordered))
            .word(children.len() as u64);
        if ordered {
            for &c in children {
                key = key.word(u64::from(c));
            }
        } else {
            self.scratch.clear();
            self.scratch.extend_from_slice(children);
            self.scratch.sort_unstable();
            for &c in &self.scratch {
                key = key.word(u64::from(c));
            }
        }
        let key = key.finish();
        if let Some(&id) = self.cons.get(&key) {
            return id;
        }
        let id = self.push(kind, sig, children, ordered, shape);
        self.cons.insert(key, id);
        id
    }

    fn zero(&mut self, shape: Shape) -> u32 {
        let sig = signature::shape(Mixer::new(SIG).word(100), shape).finish();
        self.pure(Kind::Zero, sig, &[], false, shape)
    }

    fn is_zero(&self, t: u32) -> bool {
        self.kind[t as usize] == Kind::Zero
    }

    fn sum(&mut self, operands: &[u32], shape: Shape) -> u32 {
        let mut flat = std::mem::take(&mut self.flat);
        flat.clear();
        for &o in operands {
            match self.kind[o as usize] {
                Kind::Zero => {}
                Kind::Sum => flat.extend_from_slice(self.dag.children(o)),
                _ => flat.push(o),
            }
        }
        let id = match flat.len() {
            0 => self.zero(shape),
            1 => flat[0],
            _ => {
                let sig = signature::shape(Mixer::new(SIG).word(101), shape).finish();
                self.pure(Kind::Sum, sig, &flat, false, shape)
            }
        };
        self.flat = flat;
        id
    }

    /// Applies a unary op to a term, with the rewrite rules of the module doc.
    fn unary(&mut self, op: &Op, x: u32, out: Shape) -> u32 {
        if self.is_zero(x) {
            return self.zero(out);
        }
        match op {
            Op::Identity | Op::Output => return x,
            Op::Zero { .. } => return self.zero(out),
            _ => {}
        }
        let input = self.shape[x as usize];
        let sig =
            signature::shape(signature::op(Mixer::new(SIG), op, Some(input), true), out).finish();
        match op {
            Op::AvgPool { .. }
            | Op::GlobalAvgPool
            | Op::Crop { .. }
            | Op::Truncate { .. }
            | Op::ChannelShuffle { .. } => {
                if self.kind[x as usize] == Kind::Sum {
                    let parts = self.dag.children(x).to_vec();
                    let mapped: Vec<u32> = parts.iter().map(|&p| self.unary(op, p, out)).collect();
                    self.sum(&mapped, out)
                } else {
                    self.pure(Kind::Pure, sig, &[x], true, out)
                }
            }
            Op::Relu | Op::MaxPool { .. } | Op::BatchNorm { affine: false } => {
                self.pure(Kind::Pure, sig, &[x], true, out)
            }
            Op::Conv(_) | Op::Linear { .. } | Op::BatchNorm { affine: true } => {
                self.push(Kind::Weighted, sig, &[x], true, out)
            }
            Op::Identity | Op::Output | Op::Zero { .. } => unreachable!("handled above"),
            Op::Input { .. } | Op::Add | Op::Concat => {
                unreachable!("not unary: handled by the caller")
            }
        }
    }
}

/// Ops that act on each channel alone, so a channel permutation passes through them.
fn channel_wise(op: &Op) -> bool {
    matches!(
        op,
        Op::Relu
            | Op::BatchNorm { .. }
            | Op::AvgPool { .. }
            | Op::MaxPool { .. }
            | Op::Identity
            | Op::Crop { .. }
    )
}

/// Whether permuting the channels of `node`'s value can be undone by the weights of what
/// consumes it (so a concatenation feeding it may list its operands in any order).
fn absorbs_forward(net: &Network, consumers: &[Vec<NodeId>], node: NodeId, depth: u32) -> bool {
    if depth > 64 {
        return false;
    }
    consumers[node.index()].iter().all(|&c| {
        let n = net.node(c);
        match n.op {
            Op::Conv(conv) => conv.groups == 1,
            Op::Linear { .. } => true,
            op if channel_wise(&op) => absorbs_forward(net, consumers, c, depth + 1),
            Op::Zero { .. } | Op::GlobalAvgPool | Op::Concat => {
                absorbs_forward(net, consumers, c, depth + 1)
            }
            Op::Add => {
                absorbs_forward(net, consumers, c, depth + 1)
                    && n.inputs
                        .iter()
                        .filter(|&&i| i != node)
                        .all(|&i| absorbs_backward(net, consumers, i, depth + 1))
            }
            // Truncate, shuffle and the output see channel order; grouped convolutions mix
            // within groups only.
            _ => false,
        }
    })
}

/// Whether `node`'s channels can be permuted by its own weights without any other consumer
/// seeing it: a full convolution, possibly behind channel-wise ops, used only once.
fn absorbs_backward(net: &Network, consumers: &[Vec<NodeId>], node: NodeId, depth: u32) -> bool {
    if depth > 64 || consumers[node.index()].len() != 1 {
        return false;
    }
    let n = net.node(node);
    match n.op {
        Op::Conv(c) => c.groups == 1,
        Op::Zero { .. } => true,
        op if channel_wise(&op) => absorbs_backward(net, consumers, n.inputs[0], depth + 1),
        _ => false,
    }
}

/// The algorithm version; part of every cache key. Bump it whenever any hash changes.
pub const VERSION: u32 = 2;

/// The functional hash of a network (see the module doc), as 32 bytes.
pub fn functional_digest(net: &Network) -> [u8; 32] {
    // Consumers are needed only to decide whether a concatenation is ordered.
    let consumers = if net.nodes().iter().any(|n| matches!(n.op, Op::Concat)) {
        net.consumers()
    } else {
        Vec::new()
    };
    let mut canon = Canon::with_capacity(net.len());
    let mut value: Vec<u32> = Vec::with_capacity(net.len());
    for (id, node) in net.ids().zip(net.nodes()) {
        let v = match node.op {
            Op::Input { .. } => {
                let sig = signature::shape(Mixer::new(SIG).word(102), node.shape).finish();
                canon.pure(Kind::Input, sig, &[], false, node.shape)
            }
            Op::Add => {
                let ops: Vec<u32> = node.inputs.iter().map(|x| value[x.index()]).collect();
                canon.sum(&ops, node.shape)
            }
            Op::Concat => {
                let ops: Vec<u32> = node.inputs.iter().map(|x| value[x.index()]).collect();
                if ops.iter().all(|&o| canon.is_zero(o)) {
                    canon.zero(node.shape)
                } else {
                    let ordered = !absorbs_forward(net, &consumers, id, 0);
                    let sig = signature::shape(Mixer::new(SIG).word(103), node.shape).finish();
                    canon.pure(Kind::Concat, sig, &ops, ordered, node.shape)
                }
            }
            _ => {
                let x = value[node.inputs[0].index()];
                canon.unary(&node.op, x, node.shape)
            }
        };
        value.push(v);
    }
    let output = value[net.output().index()];
    dag::digest(&canon.dag, output, b"evonas functional hash v2")
}
