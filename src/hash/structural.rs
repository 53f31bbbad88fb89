//! The structural hash: the network graph as it is (after the decoders' pruning of dead
//! nodes), up to isomorphism, ignoring channel widths and operand order.
//!
//! Like NAS-Bench-101's iterated graph hash, it labels each node by its op and the labels of
//! its neighbours in both directions (see `hash::dag`); unlike it, it reads the whole
//! network, so any space's networks (or hand-written IR) get one. Widths are left out so that a
//! network and its relabelled twin, whose reference implementation may split a channel
//! remainder differently (NAS-Bench-101), share a class; the functional hash keeps widths.

use super::dag::{self, Dag};
use super::signature;
use crate::ir::{Network, Op};
use crate::mix::Mixer;

const SIG: u64 = 0x7374_7275;

/// The algorithm version; part of every cache key.
pub const VERSION: u32 = 2;

/// The structural hash of a network, as 32 bytes.
pub fn structural_digest(net: &Network) -> [u8; 32] {
    let mut dag = Dag::with_capacity(net.len());
    let mut children: Vec<u32> = Vec::with_capacity(8);
    // DAG index of each network node; truncations only adjust widths, so they pass through.
    let mut index: Vec<u32> = Vec::with_capacity(net.len());
    for n in net.nodes() {
        if let Op::Truncate { .. } = n.op {
            index.push(index[n.inputs[0].index()]);
            continue;
        }
        let input = n.inputs.first().map(|&i| net.node(i).shape);
        children.clear();
        children.extend(n.inputs.iter().map(|i| index[i.index()]));
        let sig = signature::op(Mixer::new(SIG), &n.op, input, false).finish();
        index.push(dag.push(sig, false, &children));
    }
    dag::digest(
        &dag,
        index[net.output().index()],
        b"evonas structural hash v2",
    )
}
