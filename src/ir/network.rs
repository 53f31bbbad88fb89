//! [`Network`]: a validated DAG of primitive ops, and the [`NetworkBuilder`] that makes one.

use std::collections::BinaryHeap;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Dfs, Reversed};

use super::op::{Arity, Op, Shape, ShapeError};

/// Index of a node inside one [`Network`] (or the builder that makes it).
///
/// Node ids are dense and follow a topological order: a node's operands always have smaller ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(u32);

impl NodeId {
    /// The position of the node in [`Network::nodes`].
    pub fn index(self) -> usize {
        self.0 as usize
    }

    fn from_index(i: usize) -> Self {
        NodeId(u32::try_from(i).expect("networks hold fewer than 2^32 nodes"))
    }

    fn graph_index(self) -> NodeIndex {
        NodeIndex::new(self.index())
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One node: an op, its ordered operands, its inferred output shape and a human label.
///
/// The label (`"stage1/cell0/edge2<-1/nor_conv_3x3/conv"`) is for people and exports; nothing
/// semantic depends on it, so the hashes ignore it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The operation.
    pub op: Op,
    /// Operands in order (the order matters for `concat` only).
    pub inputs: Vec<NodeId>,
    /// Inferred output shape.
    pub shape: Shape,
    /// Free-form label saying where the node comes from.
    pub label: String,
}

/// The most nodes a network may have: far above any real one (NASNet at 256 cells per stage
/// has ~43,000), low enough that hashing, costing and exporting one stays in memory.
pub const MAX_NODES: usize = 1 << 20;

/// Why a graph is not a valid network. Every variant names the offending node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// The graph has more nodes than any real network ([`MAX_NODES`]).
    #[error("the network has more than {MAX_NODES} nodes (node {node}, {label}); the largest built-in network at its largest knobs, NASNet at 256 cells, has ~43,000")]
    TooLarge {
        /// The first node past the limit.
        node: usize,
        /// Its label.
        label: String,
    },
    /// The graph has no `input` node.
    #[error("the network has no input node")]
    NoInput,
    /// The graph has two `input` nodes.
    #[error("the network has two input nodes ({first} and {second}); exactly one is allowed")]
    TwoInputs {
        /// The first input node.
        first: usize,
        /// The second input node.
        second: usize,
    },
    /// The graph has no `output` node.
    #[error("the network has no output node")]
    NoOutput,
    /// The graph has two `output` nodes.
    #[error("the network has two output nodes ({first} and {second}); exactly one is allowed")]
    TwoOutputs {
        /// The first output node.
        first: usize,
        /// The second output node.
        second: usize,
    },
    /// An operand refers to a node that does not exist.
    #[error("node {node} ({label}) takes operand {operand}, which is not a node of the network")]
    UnknownOperand {
        /// The node whose operand is wrong.
        node: usize,
        /// Its label.
        label: String,
        /// The missing operand.
        operand: usize,
    },
    /// The graph has a cycle through this node.
    #[error("the network has a cycle through node {node} ({label})")]
    Cycle {
        /// A node on the cycle.
        node: usize,
        /// Its label.
        label: String,
    },
    /// An op got the wrong number of operands.
    #[error("node {node} ({label}): op `{op}` takes {expected} operand(s), found {found}")]
    Arity {
        /// The node.
        node: usize,
        /// Its label.
        label: String,
        /// The op's name.
        op: &'static str,
        /// What the op takes.
        expected: Arity,
        /// What it got.
        found: usize,
    },
    /// Operand shapes do not fit the op.
    #[error("node {node} ({label}): op `{op}`: {reason}")]
    Shape {
        /// The node.
        node: usize,
        /// Its label.
        label: String,
        /// The op's name.
        op: &'static str,
        /// What does not fit.
        reason: ShapeError,
    },
    /// A node is not on a path from the input to the output.
    #[error("node {node} ({label}) is dangling: it {reason}; remove it or connect it")]
    Dangling {
        /// The node.
        node: usize,
        /// Its label.
        label: String,
        /// "is not reachable from the input" or "does not reach the output".
        reason: &'static str,
    },
    /// The output node feeds another node.
    #[error("node {node} ({label}) consumes the output node; the output must be the last node")]
    OutputConsumed {
        /// The consuming node.
        node: usize,
        /// Its label.
        label: String,
    },
}

/// A neural network as a DAG of primitive ops with one input and one output.
///
/// Invariants, checked when it is built (by [`NetworkBuilder::finish`] or [`Network::from_nodes`]):
/// the graph is acyclic and node ids are in topological order; there is exactly one
/// [`Op::Input`] and one [`Op::Output`]; every op has the right number of operands and fitting
/// shapes; every node lies on a path from the input to the output (no dangling or dead nodes).
#[derive(Clone, Debug)]
pub struct Network {
    nodes: Vec<Node>,
    graph: DiGraph<(), u32>,
    input: NodeId,
    output: NodeId,
}

impl PartialEq for Network {
    fn eq(&self, other: &Self) -> bool {
        self.nodes == other.nodes
    }
}
impl Eq for Network {}

impl Network {
    /// All nodes, in topological order (operands before their consumers).
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// One node.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    /// Ids of all nodes, in topological order.
    pub fn ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.nodes.len()).map(NodeId::from_index)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: a valid network has at least an input and an output.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The input node.
    pub fn input(&self) -> NodeId {
        self.input
    }

    /// The output node.
    pub fn output(&self) -> NodeId {
        self.output
    }

    /// Shape of the network input.
    pub fn input_shape(&self) -> Shape {
        self.node(self.input).shape
    }

    /// Shape of the network output.
    pub fn output_shape(&self) -> Shape {
        self.node(self.output).shape
    }

    /// The petgraph view (node weights empty, edge weight = operand slot), for graph algorithms.
    pub fn graph(&self) -> &DiGraph<(), u32> {
        &self.graph
    }

    /// For each node, the nodes that consume it (with repetition, in id order).
    pub fn consumers(&self) -> Vec<Vec<NodeId>> {
        let mut out = vec![Vec::new(); self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            for &src in &n.inputs {
                out[src.index()].push(NodeId::from_index(i));
            }
        }
        out
    }

    /// Builds and validates a network from nodes given in any order, each as
    /// `(op, operand indices, label)`; operands index into `nodes`.
    ///
    /// If the nodes are already in topological order, node `i` of the result is `nodes[i]`;
    /// otherwise they are reordered topologically (stably).
    pub fn from_nodes(nodes: Vec<(Op, Vec<usize>, String)>) -> Result<Network, GraphError> {
        let n = nodes.len();
        for (i, (_, inputs, label)) in nodes.iter().enumerate() {
            if let Some(&bad) = inputs.iter().find(|&&j| j >= n) {
                return Err(GraphError::UnknownOperand {
                    node: i,
                    label: label.clone(),
                    operand: bad,
                });
            }
        }
        let order = stable_topological_order(&nodes)?;
        let mut position = vec![0usize; n];
        for (pos, &i) in order.iter().enumerate() {
            position[i] = pos;
        }
        let mut b = NetworkBuilder::new();
        let mut output = None;
        for &i in &order {
            let (op, inputs, label) = &nodes[i];
            let operands: Vec<NodeId> = inputs
                .iter()
                .map(|&j| NodeId::from_index(position[j]))
                .collect();
            let id = b.push(*op, &operands, label.clone(), i)?;
            if matches!(op, Op::Output) {
                if let Some(first) = output.replace((id, i)) {
                    return Err(GraphError::TwoOutputs {
                        first: first.1,
                        second: i,
                    });
                }
            }
        }
        let (output, _) = output.ok_or(GraphError::NoOutput)?;
        b.seal(output)
    }
}

/// Kahn's algorithm taking the smallest ready index first, so an already sorted list stays put.
fn stable_topological_order(nodes: &[(Op, Vec<usize>, String)]) -> Result<Vec<usize>, GraphError> {
    let n = nodes.len();
    let mut indegree = vec![0usize; n];
    let mut consumers = vec![Vec::new(); n];
    for (i, (_, inputs, _)) in nodes.iter().enumerate() {
        indegree[i] = inputs.len();
        for &j in inputs {
            consumers[j].push(i);
        }
    }
    let mut ready: BinaryHeap<std::cmp::Reverse<usize>> = (0..n)
        .filter(|&i| indegree[i] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(std::cmp::Reverse(i)) = ready.pop() {
        order.push(i);
        for &c in &consumers[i] {
            indegree[c] -= 1;
            if indegree[c] == 0 {
                ready.push(std::cmp::Reverse(c));
            }
        }
    }
    if order.len() < n {
        let node = (0..n)
            .find(|&i| indegree[i] > 0)
            .expect("a node with remaining in-degree exists when the order is short");
        return Err(GraphError::Cycle {
            node,
            label: nodes[node].2.clone(),
        });
    }
    Ok(order)
}

/// Builds a [`Network`] node by node, inferring shapes as it goes so decoders can ask for the
/// shape of what they have built so far.
#[derive(Debug, Default)]
pub struct NetworkBuilder {
    nodes: Vec<Node>,
    /// For each node, its index in the caller's numbering (for error messages).
    origin: Vec<usize>,
    input: Option<NodeId>,
}

impl NetworkBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the network input.
    pub fn input(&mut self, shape: Shape, label: impl Into<String>) -> Result<NodeId, GraphError> {
        let op = Op::Input {
            channels: shape.channels,
            height: shape.height,
            width: shape.width,
        };
        self.add(op, &[], label)
    }

    /// Adds a node; its operands must already exist. Returns its id.
    pub fn add(
        &mut self,
        op: Op,
        inputs: &[NodeId],
        label: impl Into<String>,
    ) -> Result<NodeId, GraphError> {
        let origin = self.nodes.len();
        self.push(op, inputs, label.into(), origin)
    }

    fn push(
        &mut self,
        op: Op,
        inputs: &[NodeId],
        label: String,
        origin: usize,
    ) -> Result<NodeId, GraphError> {
        let id = NodeId::from_index(self.nodes.len());
        if self.nodes.len() >= MAX_NODES {
            return Err(GraphError::TooLarge {
                node: origin,
                label,
            });
        }
        if let Some(&bad) = inputs.iter().find(|i| i.index() >= self.nodes.len()) {
            return Err(GraphError::UnknownOperand {
                node: origin,
                label,
                operand: bad.index(),
            });
        }
        if !op.arity().accepts(inputs.len()) {
            return Err(GraphError::Arity {
                node: origin,
                label,
                op: op.name(),
                expected: op.arity(),
                found: inputs.len(),
            });
        }
        if let Some(&consumed) = inputs
            .iter()
            .find(|i| matches!(self.nodes[i.index()].op, Op::Output))
        {
            let _ = consumed;
            return Err(GraphError::OutputConsumed {
                node: origin,
                label,
            });
        }
        if matches!(op, Op::Input { .. }) {
            if let Some(first) = self.input {
                return Err(GraphError::TwoInputs {
                    first: self.origin[first.index()],
                    second: origin,
                });
            }
            self.input = Some(id);
        }
        let shapes: Vec<Shape> = inputs.iter().map(|i| self.nodes[i.index()].shape).collect();
        let shape = op
            .infer_shape(&shapes)
            .map_err(|reason| GraphError::Shape {
                node: origin,
                label: label.clone(),
                op: op.name(),
                reason,
            })?;
        self.nodes.push(Node {
            op,
            inputs: inputs.to_vec(),
            shape,
            label,
        });
        self.origin.push(origin);
        Ok(id)
    }

    /// The inferred shape of a node added earlier.
    pub fn shape(&self, id: NodeId) -> Shape {
        self.nodes[id.index()].shape
    }

    /// Adds the output node fed by `result` and validates the whole network.
    pub fn finish(mut self, result: NodeId) -> Result<Network, GraphError> {
        let out = self.add(Op::Output, &[result], "output")?;
        self.seal(out)
    }

    fn seal(self, output: NodeId) -> Result<Network, GraphError> {
        let input = self.input.ok_or(GraphError::NoInput)?;
        let mut graph = DiGraph::<(), u32>::with_capacity(self.nodes.len(), self.nodes.len() * 2);
        for _ in &self.nodes {
            graph.add_node(());
        }
        for (i, n) in self.nodes.iter().enumerate() {
            for (slot, src) in n.inputs.iter().enumerate() {
                let slot = u32::try_from(slot).expect("fewer than 2^32 operands");
                graph.add_edge(src.graph_index(), NodeIndex::new(i), slot);
            }
        }
        let reached = reachable(&graph, input.graph_index(), false);
        let reaches = reachable(&graph, output.graph_index(), true);
        for (i, n) in self.nodes.iter().enumerate() {
            let reason = if !reached[i] {
                "is not reachable from the input"
            } else if !reaches[i] {
                "does not reach the output"
            } else {
                continue;
            };
            return Err(GraphError::Dangling {
                node: self.origin[i],
                label: n.label.clone(),
                reason,
            });
        }
        Ok(Network {
            nodes: self.nodes,
            graph,
            input,
            output,
        })
    }
}

fn reachable(graph: &DiGraph<(), u32>, start: NodeIndex, backwards: bool) -> Vec<bool> {
    let mut seen = vec![false; graph.node_count()];
    if backwards {
        let rev = Reversed(graph);
        let mut dfs = Dfs::new(rev, start);
        while let Some(n) = dfs.next(rev) {
            seen[n.index()] = true;
        }
    } else {
        let mut dfs = Dfs::new(graph, start);
        while let Some(n) = dfs.next(graph) {
            seen[n.index()] = true;
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_past_the_node_limit_is_refused_at_the_first_node_too_many() {
        let mut b = NetworkBuilder::new();
        let mut x = b.input(Shape::new(1, 2, 2), "in").unwrap();
        for _ in 1..MAX_NODES {
            x = b.add(Op::Relu, &[x], "r").unwrap();
        }
        let e = b.add(Op::Relu, &[x], "one too many").unwrap_err();
        assert_eq!(
            e,
            GraphError::TooLarge {
                node: MAX_NODES,
                label: "one too many".into()
            }
        );
        assert!(e.to_string().contains("more than 1048576 nodes"), "{e}");
    }

    fn relu_chain() -> Vec<(Op, Vec<usize>, String)> {
        vec![
            (
                Op::Input {
                    channels: 3,
                    height: 8,
                    width: 8,
                },
                vec![],
                "in".into(),
            ),
            (Op::Relu, vec![0], "a".into()),
            (Op::Add, vec![0, 1], "sum".into()),
            (Op::Output, vec![2], "out".into()),
        ]
    }

    #[test]
    fn builds_a_valid_network() {
        let net = Network::from_nodes(relu_chain()).unwrap();
        assert_eq!(net.len(), 4);
        assert_eq!(net.output_shape(), Shape::new(3, 8, 8));
        assert_eq!(net.consumers()[0], vec![NodeId(1), NodeId(2)]);
    }

    #[test]
    fn reorders_unsorted_nodes_stably() {
        let mut nodes = relu_chain();
        nodes.swap(1, 3);
        // now: 0 input, 1 output(2), 2 add(0, 3), 3 relu(0)
        nodes[1].1 = vec![2];
        nodes[2].1 = vec![0, 3];
        nodes[3].1 = vec![0];
        let net = Network::from_nodes(nodes).unwrap();
        let names: Vec<_> = net.nodes().iter().map(|n| n.label.as_str()).collect();
        assert_eq!(names, ["in", "a", "sum", "out"]);
    }

    #[test]
    fn rejects_cycles_naming_a_node() {
        let mut nodes = relu_chain();
        nodes[1].1 = vec![2];
        match Network::from_nodes(nodes) {
            Err(GraphError::Cycle { node, .. }) => assert!(node == 1 || node == 2),
            other => panic!("expected a cycle error, got {other:?}"),
        }
    }

    #[test]
    fn rejects_dangling_and_dead_nodes() {
        let mut nodes = relu_chain();
        nodes.push((Op::Relu, vec![1], "dead".into()));
        let err = Network::from_nodes(nodes).unwrap_err();
        assert!(matches!(err, GraphError::Dangling { node: 4, .. }), "{err}");
        assert!(err.to_string().contains("dead"));
    }

    #[test]
    fn rejects_bad_arity_and_unknown_operands() {
        let mut nodes = relu_chain();
        nodes[1].1 = vec![0, 0];
        assert!(matches!(
            Network::from_nodes(nodes),
            Err(GraphError::Arity { node: 1, .. })
        ));
        let mut nodes = relu_chain();
        nodes[2].1 = vec![0, 9];
        assert!(matches!(
            Network::from_nodes(nodes),
            Err(GraphError::UnknownOperand {
                node: 2,
                operand: 9,
                ..
            })
        ));
    }

    #[test]
    fn rejects_two_inputs_and_missing_output() {
        let mut nodes = relu_chain();
        nodes[1].0 = Op::Input {
            channels: 3,
            height: 8,
            width: 8,
        };
        nodes[1].1 = vec![];
        assert!(matches!(
            Network::from_nodes(nodes),
            Err(GraphError::TwoInputs { .. })
        ));
        let mut nodes = relu_chain();
        nodes.pop();
        assert!(matches!(
            Network::from_nodes(nodes),
            Err(GraphError::NoOutput)
        ));
    }
}
