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
//! 8. (Version 3) Positive scales: every value is `k · t`, a positive integer `k` times a term
//!    `t`. A sum collects equal terms (`a + a = 2·a`) and factors out the greatest common divisor
//!    of its coefficients (`2a + 2b = 2·(a + b)`). Positively homogeneous ops pass the scale
//!    through (`relu(k·t) = k·relu(t)`, the same for max and average pooling, global pooling,
//!    crop, truncate, shuffle, and convolutions and linear layers *without* bias, with the same
//!    weights), batch normalisation removes it (`bn(k·t) = bn(t)`: it divides by the batch's own
//!    standard deviation), and everything else sees it (a bias, the network output, an
//!    unequal concatenation): there `k · t` becomes a term of its own. So
//!    `relu-conv-bn(2a + 2b) = relu-conv-bn(a + b)` with the same weights, at every training step,
//!    while `conv_with_bias(2a)`, `2a + b` and an identity path to the output keep the 2. The
//!    one approximation: batch normalisation's epsilon (`1e-5`, added to the variance) makes
//!    `bn(2t)` and `bn(t)` differ by a relative `~1e-5 / var` where the variance is tiny; the
//!    hash treats them as equal.
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
//!
//! # Versions
//! [`VERSION`] is what new campaigns and caches use. Older versions stay computable
//! ([`OLDEST`]..=[`VERSION`]) so a campaign started under one resumes with the hashes it began
//! with, and `evonas cache rehash` can check a stored key before moving its record. Version 2 is
//! version 3 without rule 8 (and with repeated operands where version 3 has coefficients).

use std::collections::HashMap;

use super::dag::{self, Dag};
use super::signature;
use crate::ir::{Network, NodeId, Op, Shape};
use crate::mix::{Label, LabelBuild, Mixer};

const SIG: u64 = 0x6675_6e63;
const UNARY_KEY: u128 = 0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835;

/// Version 2 writes a coefficient as repeated operands; past this many it refuses the network
/// (no built-in space comes near; a hand-made chain of doublings would need 2^depth operands).
const MAX_V2_OPERANDS: u64 = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Input,
    Zero,
    Sum,
    Concat,
    Pure,
    Weighted,
    /// `k · t` as a term of its own (k > 1), where the scale is visible (rule 8).
    Scaled,
}

/// A value of the probe: `scale · term` (scale >= 1; always 1 under version 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Value {
    scale: u64,
    term: u32,
}

impl Value {
    fn plain(term: u32) -> Self {
        Value { scale: 1, term }
    }
}

/// Canonical term DAG under construction: the terms themselves live in `dag`; `kind`, `shape`
/// and `factor` are kept beside it for the rewrite rules.
struct Canon {
    /// Rule 8 on (version 3) or off (version 2).
    scales: bool,
    dag: Dag,
    kind: Vec<Kind>,
    shape: Vec<Shape>,
    /// The `k` of a [`Kind::Scaled`] term (1 for every other kind).
    factor: Vec<u64>,
    /// Hash-consing of weight-free terms: key over (signature, operand ids) -> term.
    cons: HashMap<Label, u32, LabelBuild>,
    scratch: Vec<u32>,
    /// Reused buffer for collecting a sum's (term, coefficient) pairs.
    terms: Vec<(u32, u64)>,
    /// Set when version 2 would need more than [`MAX_V2_OPERANDS`] repeated operands.
    too_large: bool,
}

impl Canon {
    fn with_capacity(n: usize, scales: bool) -> Self {
        Canon {
            scales,
            dag: Dag::with_capacity(n),
            kind: Vec::with_capacity(n),
            shape: Vec::with_capacity(n),
            factor: Vec::with_capacity(n),
            cons: HashMap::with_capacity_and_hasher(n, LabelBuild::default()),
            scratch: Vec::new(),
            terms: Vec::new(),
            too_large: false,
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
        self.factor.push(1);
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

    fn zero(&mut self, shape: Shape) -> Value {
        let sig = signature::shape(Mixer::new(SIG).word(100), shape).finish();
        Value::plain(self.pure(Kind::Zero, sig, &[], false, shape))
    }

    fn is_zero(&self, t: u32) -> bool {
        self.kind[t as usize] == Kind::Zero
    }

    /// `v` as one term: `t` itself at scale 1, else the term `k · t`.
    fn materialize(&mut self, v: Value) -> u32 {
        if v.scale == 1 {
            return v.term;
        }
        let shape = self.shape[v.term as usize];
        let sig = signature::shape(Mixer::new(SIG).word(105).word(v.scale), shape).finish();
        let id = self.pure(Kind::Scaled, sig, &[v.term], true, shape);
        self.factor[id as usize] = v.scale;
        id
    }

    /// A term as (coefficient, term): a [`Kind::Scaled`] term unwrapped, any other as it is.
    fn unscaled(&self, t: u32) -> (u64, u32) {
        if self.kind[t as usize] == Kind::Scaled {
            (self.factor[t as usize], self.dag.children(t)[0])
        } else {
            (1, t)
        }
    }

    /// `by · v`: the scales multiplied, or, past `u64`, the product kept as nested terms (exact,
    /// only no longer merged with equal functions written otherwise).
    fn times(&mut self, by: u64, v: Value) -> Value {
        match by.checked_mul(v.scale) {
            Some(scale) => Value {
                scale,
                term: v.term,
            },
            None => {
                let inner = self.materialize(v);
                Value {
                    scale: by,
                    term: inner,
                }
            }
        }
    }

    fn sum(&mut self, operands: &[Value], shape: Shape) -> Value {
        let mut terms = std::mem::take(&mut self.terms);
        terms.clear();
        let mut overflow = false;
        for v in operands {
            match self.kind[v.term as usize] {
                Kind::Zero => {}
                Kind::Sum => {
                    for &c in self.dag.children(v.term) {
                        let (k, t) = self.unscaled(c);
                        match k.checked_mul(v.scale) {
                            Some(k) => terms.push((t, k)),
                            None => overflow = true,
                        }
                    }
                }
                _ => terms.push((v.term, v.scale)),
            }
        }
        // Equal terms collect their coefficients (`a + a = 2a`).
        terms.sort_unstable_by_key(|&(t, _)| t);
        let mut merged = 0;
        for i in 0..terms.len() {
            if merged > 0 && terms[merged - 1].0 == terms[i].0 {
                match terms[merged - 1].1.checked_add(terms[i].1) {
                    Some(k) => terms[merged - 1].1 = k,
                    None => overflow = true,
                }
            } else {
                terms[merged] = terms[i];
                merged += 1;
            }
        }
        terms.truncate(merged);
        let value = if overflow {
            self.opaque_sum(operands, shape)
        } else if terms.is_empty() {
            self.zero(shape)
        } else if self.scales {
            let g = terms.iter().fold(0, |g, &(_, k)| gcd(g, k));
            if let [(t, _)] = terms[..] {
                Value { scale: g, term: t }
            } else {
                let children: Vec<u32> = terms
                    .iter()
                    .map(|&(t, k)| {
                        self.materialize(Value {
                            scale: k / g,
                            term: t,
                        })
                    })
                    .collect();
                let sig = signature::shape(Mixer::new(SIG).word(101), shape).finish();
                Value {
                    scale: g,
                    term: self.pure(Kind::Sum, sig, &children, false, shape),
                }
            }
        } else {
            // Version 2: coefficients as repeated operands.
            let total = terms.iter().fold(0u64, |n, &(_, k)| n.saturating_add(k));
            if total > MAX_V2_OPERANDS {
                self.too_large = true;
            }
            if total == 1 || self.too_large {
                Value::plain(terms[0].0)
            } else {
                let mut children = Vec::with_capacity(total as usize);
                for &(t, k) in &terms {
                    children.extend(std::iter::repeat_n(t, k as usize));
                }
                let sig = signature::shape(Mixer::new(SIG).word(101), shape).finish();
                Value::plain(self.pure(Kind::Sum, sig, &children, false, shape))
            }
        };
        self.terms = terms;
        value
    }

    /// A sum whose coefficients would pass `u64`: its operands kept as they are, unflattened.
    fn opaque_sum(&mut self, operands: &[Value], shape: Shape) -> Value {
        let mut children = Vec::with_capacity(operands.len());
        for &v in operands {
            if !self.is_zero(v.term) {
                children.push(self.materialize(v));
            }
        }
        let sig = signature::shape(Mixer::new(SIG).word(104), shape).finish();
        Value::plain(self.pure(Kind::Pure, sig, &children, false, shape))
    }

    fn concat(&mut self, operands: &[Value], ordered: bool, shape: Shape) -> Value {
        // A common scale of the non-zero parts comes out (`concat(2a, 4b) = 2·concat(a, 2b)`).
        let g = if self.scales {
            operands
                .iter()
                .filter(|v| !self.is_zero(v.term))
                .fold(0, |g, v| gcd(g, v.scale))
        } else {
            1
        };
        let children: Vec<u32> = operands
            .iter()
            .map(|&v| {
                if self.is_zero(v.term) {
                    v.term
                } else {
                    self.materialize(Value {
                        scale: v.scale / g,
                        term: v.term,
                    })
                }
            })
            .collect();
        let sig = signature::shape(Mixer::new(SIG).word(103), shape).finish();
        Value {
            scale: g,
            term: self.pure(Kind::Concat, sig, &children, ordered, shape),
        }
    }

    /// Applies a unary op to a value, with the rewrite rules of the module doc.
    fn unary(&mut self, op: &Op, x: Value, out: Shape) -> Value {
        if self.is_zero(x.term) {
            return self.zero(out);
        }
        match op {
            Op::Identity | Op::Output => return x,
            Op::Zero { .. } => return self.zero(out),
            _ => {}
        }
        let input = self.shape[x.term as usize];
        let sig =
            signature::shape(signature::op(Mixer::new(SIG), op, Some(input), true), out).finish();
        match op {
            Op::AvgPool { .. }
            | Op::GlobalAvgPool
            | Op::Crop { .. }
            | Op::Truncate { .. }
            | Op::ChannelShuffle { .. } => {
                let inner = if self.kind[x.term as usize] == Kind::Sum {
                    let parts = self.dag.children(x.term).to_vec();
                    let mapped: Vec<Value> = parts
                        .iter()
                        .map(|&p| {
                            let (k, t) = self.unscaled(p);
                            let v = self.unary(op, Value::plain(t), out);
                            self.times(k, v)
                        })
                        .collect();
                    self.sum(&mapped, out)
                } else {
                    Value::plain(self.pure(Kind::Pure, sig, &[x.term], true, out))
                };
                self.times(x.scale, inner)
            }
            Op::Relu | Op::MaxPool { .. } => Value {
                scale: x.scale,
                term: self.pure(Kind::Pure, sig, &[x.term], true, out),
            },
            // Normalisation divides the scale away.
            Op::BatchNorm { affine: false } => {
                let x = self.unless_scales(x);
                Value::plain(self.pure(Kind::Pure, sig, &[x], true, out))
            }
            Op::BatchNorm { affine: true } => {
                let x = self.unless_scales(x);
                Value::plain(self.push(Kind::Weighted, sig, &[x], true, out))
            }
            // Linear maps without bias carry the scale out, with the same weights.
            Op::Conv(crate::ir::Conv { bias: false, .. }) | Op::Linear { bias: false, .. }
                if self.scales =>
            {
                Value {
                    scale: x.scale,
                    term: self.push(Kind::Weighted, sig, &[x.term], true, out),
                }
            }
            // A bias sees the scale.
            Op::Conv(_) | Op::Linear { .. } => {
                let x = self.materialize(x);
                Value::plain(self.push(Kind::Weighted, sig, &[x], true, out))
            }
            Op::Identity | Op::Output | Op::Zero { .. } => unreachable!("handled above"),
            Op::Input { .. } | Op::Add | Op::Concat => {
                unreachable!("not unary: handled by the caller")
            }
        }
    }

    /// The term batch normalisation sees: the unscaled term under rule 8, else `k · t`.
    fn unless_scales(&mut self, x: Value) -> u32 {
        if self.scales {
            x.term
        } else {
            self.materialize(x)
        }
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
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

/// The algorithm version new hashes are made with; part of every cache key. Bump it whenever
/// any hash changes.
pub const VERSION: u32 = 3;

/// The oldest version this build can still compute.
pub const OLDEST: u32 = 2;

/// Why a network has no functional hash of a requested version.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// The version is not one this build computes.
    #[error("functional hash version {version} cannot be computed by this evonas (it computes versions {OLDEST} to {VERSION})")]
    Unsupported {
        /// The version asked for.
        version: u32,
    },
    /// Version 2 writes coefficients as repeated operands, and this network needs too many.
    #[error("the network is too large for functional hash version 2 (a sum would need more than {MAX_V2_OPERANDS} repeated operands)")]
    TooLarge,
}

/// The functional hash of a network under the current [`VERSION`] (see the module doc).
pub fn functional_digest(net: &Network) -> [u8; 32] {
    digest_with(net, true)
}

/// The functional hash of a network under `version`.
pub fn functional_digest_version(net: &Network, version: u32) -> Result<[u8; 32], VersionError> {
    match version {
        3 => Ok(digest_with(net, true)),
        2 => {
            let (digest, too_large) = probe(net, false);
            if too_large {
                return Err(VersionError::TooLarge);
            }
            Ok(digest)
        }
        _ => Err(VersionError::Unsupported { version }),
    }
}

fn digest_with(net: &Network, scales: bool) -> [u8; 32] {
    probe(net, scales).0
}

fn probe(net: &Network, scales: bool) -> ([u8; 32], bool) {
    // Consumers are needed only to decide whether a concatenation is ordered.
    let consumers = if net.nodes().iter().any(|n| matches!(n.op, Op::Concat)) {
        net.consumers()
    } else {
        Vec::new()
    };
    let mut canon = Canon::with_capacity(net.len(), scales);
    let mut value: Vec<Value> = Vec::with_capacity(net.len());
    let mut operands: Vec<Value> = Vec::new();
    for (id, node) in net.ids().zip(net.nodes()) {
        let v = match node.op {
            Op::Input { .. } => {
                let sig = signature::shape(Mixer::new(SIG).word(102), node.shape).finish();
                Value::plain(canon.pure(Kind::Input, sig, &[], false, node.shape))
            }
            Op::Add => {
                operands.clear();
                operands.extend(node.inputs.iter().map(|x| value[x.index()]));
                canon.sum(&operands, node.shape)
            }
            Op::Concat => {
                operands.clear();
                operands.extend(node.inputs.iter().map(|x| value[x.index()]));
                if operands.iter().all(|o| canon.is_zero(o.term)) {
                    canon.zero(node.shape)
                } else {
                    let ordered = !absorbs_forward(net, &consumers, id, 0);
                    canon.concat(&operands, ordered, node.shape)
                }
            }
            _ => {
                let x = value[node.inputs[0].index()];
                canon.unary(&node.op, x, node.shape)
            }
        };
        value.push(v);
    }
    let output = canon.materialize(value[net.output().index()]);
    let domain: &[u8] = if scales {
        b"evonas functional hash v3"
    } else {
        b"evonas functional hash v2"
    };
    (dag::digest(&canon.dag, output, domain), canon.too_large)
}
