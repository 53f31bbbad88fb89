//! Isomorphism-invariant digest of a labelled DAG, shared by both hashes.
//!
//! Each node gets an *up* label (its signature and its operands' up labels: what it computes
//! from the input) and a *down* label (its up label and its consumers' down labels: where its
//! value goes). Up labels alone would be a Merkle hash, which cannot tell one value used twice
//! from two equal-looking values computed separately (one convolution feeding two edges versus
//! two convolutions with independent weights); the down pass tells them apart. The digest is
//! blake3 over the sorted multiset of (up, down) labels of the nodes that reach the output, so
//! it depends only on the graph's structure, never on node numbering.

#![allow(clippy::needless_range_loop)] // parallel arrays indexed by node

use crate::mix::{Label, Mixer};

const UP: u64 = 0x7570;
const DOWN: u64 = 0x646f_776e;
const EDGE: u128 = 0xA076_1D64_78BD_642F_E703_7ED1_A0B4_28DB;
const NODE: u64 = 0x6e6f_6465;

/// A DAG in compressed form: node `i` has signature `sig[i]` and operands
/// `children[start[i]..start[i + 1]]` (indices smaller than `i`).
#[derive(Clone, Debug, Default)]
pub struct Dag {
    sig: Vec<Label>,
    ordered: Vec<bool>,
    start: Vec<u32>,
    children: Vec<u32>,
}

impl Dag {
    /// An empty DAG with room for `n` nodes.
    pub fn with_capacity(n: usize) -> Self {
        let mut start = Vec::with_capacity(n + 1);
        start.push(0);
        Dag {
            sig: Vec::with_capacity(n),
            ordered: Vec::with_capacity(n),
            start,
            children: Vec::with_capacity(2 * n),
        }
    }

    /// Appends a node; returns its index. `ordered`: whether operand order matters.
    pub fn push(&mut self, sig: Label, ordered: bool, children: &[u32]) -> u32 {
        let id = self.sig.len() as u32;
        debug_assert!(children.iter().all(|&c| c < id), "operands come first");
        self.sig.push(sig);
        self.ordered.push(ordered);
        self.children.extend_from_slice(children);
        self.start.push(self.children.len() as u32);
        id
    }

    /// Number of nodes.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.sig.len()
    }

    /// Operands of node `i`.
    pub fn children(&self, i: u32) -> &[u32] {
        &self.children[self.start[i as usize] as usize..self.start[i as usize + 1] as usize]
    }
}

/// The label of a consumer edge: the consumer's down label, offset by the operand slot where
/// order matters (slot 0 means unordered). Down labels are well-mixed 128-bit values, so a
/// multiple of an odd constant keeps slots apart without another mixing round.
#[inline]
fn edge_label(down: Label, role: u64) -> Label {
    down.wrapping_add(u128::from(role).wrapping_mul(EDGE))
}

/// Digest of the DAG below `output`; nodes must be in topological order (operands first).
pub fn digest(dag: &Dag, output: u32, domain: &[u8]) -> [u8; 32] {
    let n = dag.len();
    let mut live = vec![false; n];
    live[output as usize] = true;
    for i in (0..n).rev() {
        if live[i] {
            for &c in dag.children(i as u32) {
                live[c as usize] = true;
            }
        }
    }
    let mut up: Vec<Label> = vec![0; n];
    let mut scratch: Vec<Label> = Vec::new();
    for i in 0..n {
        if !live[i] {
            continue;
        }
        let ordered = dag.ordered[i];
        scratch.clear();
        scratch.extend(dag.children(i as u32).iter().map(|&c| up[c as usize]));
        if !ordered {
            scratch.sort_unstable();
        }
        let mut m = Mixer::new(UP)
            .label(dag.sig[i])
            .word(scratch.len() as u64)
            .word(u64::from(ordered));
        for &l in &scratch {
            m = m.label(l);
        }
        up[i] = m.finish();
    }
    // Consumers of each node, with the operand slot where order matters, in one flat array
    // (compressed rows: node i's consumers are parents[start[i]..start[i + 1]]).
    let mut start = vec![0u32; n + 1];
    for i in 0..n {
        if live[i] {
            for &c in dag.children(i as u32) {
                start[c as usize + 1] += 1;
            }
        }
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut parents: Vec<(u32, u64)> = vec![(0, 0); start[n] as usize];
    for i in 0..n {
        if !live[i] {
            continue;
        }
        for (slot, &c) in dag.children(i as u32).iter().enumerate() {
            let role = if dag.ordered[i] { slot as u64 + 1 } else { 0 };
            parents[fill[c as usize] as usize] = (i as u32, role);
            fill[c as usize] += 1;
        }
    }
    let mut down: Vec<Label> = vec![0; n];
    for i in (0..n).rev() {
        if !live[i] {
            continue;
        }
        scratch.clear();
        scratch.extend(
            parents[start[i] as usize..start[i + 1] as usize]
                .iter()
                .map(|&(p, role)| edge_label(down[p as usize], role)),
        );
        scratch.sort_unstable();
        let mut m = Mixer::new(DOWN)
            .label(up[i])
            .word(u64::from(i as u32 == output))
            .word(scratch.len() as u64);
        for &l in &scratch {
            m = m.label(l);
        }
        down[i] = m.finish();
    }
    let mut labels: Vec<Label> = (0..n)
        .filter(|&i| live[i])
        .map(|i| Mixer::new(NODE).label(up[i]).label(down[i]).finish())
        .collect();
    labels.sort_unstable();
    let mut h = blake3::Hasher::new();
    h.update(domain);
    h.update(&(labels.len() as u64).to_le_bytes());
    h.update(&up[output as usize].to_le_bytes());
    for l in &labels {
        h.update(&l.to_le_bytes());
    }
    *h.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dag(nodes: &[(Label, &[u32])], ordered: bool) -> Dag {
        let mut d = Dag::with_capacity(nodes.len());
        for (sig, children) in nodes {
            d.push(*sig, ordered && children.len() > 1, children);
        }
        d
    }

    #[test]
    fn relabelling_does_not_change_the_digest() {
        // x -> a, x -> b, a + b
        let g1 = dag(&[(1, &[]), (2, &[0]), (3, &[0]), (4, &[1, 2])], false);
        let g2 = dag(&[(1, &[]), (3, &[0]), (2, &[0]), (4, &[2, 1])], false);
        assert_eq!(digest(&g1, 3, b"t"), digest(&g2, 3, b"t"));
    }

    #[test]
    fn sharing_differs_from_duplication() {
        // Two separate `c` nodes each feeding a `g`, versus one `c` feeding both `g`s.
        let dup = dag(
            &[
                (1, &[]),
                (2, &[0]),
                (2, &[0]),
                (3, &[1]),
                (3, &[2]),
                (4, &[3, 4]),
            ],
            false,
        );
        let shared = dag(
            &[(1, &[]), (2, &[0]), (3, &[1]), (3, &[1]), (4, &[2, 3])],
            false,
        );
        assert_ne!(digest(&dup, 5, b"t"), digest(&shared, 4, b"t"));
    }

    #[test]
    fn order_matters_only_for_ordered_nodes() {
        let a = dag(&[(1, &[]), (2, &[0]), (3, &[0]), (4, &[1, 2])], false);
        let b = dag(&[(1, &[]), (2, &[0]), (3, &[0]), (4, &[2, 1])], false);
        assert_eq!(digest(&a, 3, b"t"), digest(&b, 3, b"t"));
        let a = dag(&[(1, &[]), (2, &[0]), (3, &[0]), (4, &[1, 2])], true);
        let b = dag(&[(1, &[]), (2, &[0]), (3, &[0]), (4, &[2, 1])], true);
        assert_ne!(digest(&a, 3, b"t"), digest(&b, 3, b"t"));
    }

    #[test]
    fn dead_nodes_do_not_count() {
        let a = dag(&[(1, &[]), (2, &[0]), (3, &[1])], false);
        let b = dag(&[(1, &[]), (2, &[0]), (9, &[0]), (3, &[1])], false);
        assert_eq!(digest(&a, 2, b"t"), digest(&b, 3, b"t"));
    }
}
