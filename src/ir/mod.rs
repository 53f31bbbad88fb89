//! The intermediate representation: every search space decodes to an [`ir::Network`](Network),
//! and hashing, cost, training and export read only this.
//!
//! A network is a DAG of primitive [`Op`]s (petgraph underneath) with one input and one output,
//! shapes inferred and checked when it is built. [`blocks`] expands the composite blocks of the
//! literature into primitives; [`doc`] is the JSON form; [`cost()`] counts parameters and FLOPs.

pub mod blocks;
pub mod cost;
pub mod doc;
mod network;
mod op;

pub use cost::{cost, Cost};
pub use network::{GraphError, Network, NetworkBuilder, Node, NodeId, MAX_NODES};
pub use op::{Arity, Conv, Op, Shape, ShapeError};
