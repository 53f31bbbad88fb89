//! The JSON form of a [`Network`]: a list of nodes in topological order, each with its op and
//! the ids of its operands.
//!
//! ```json
//! {"nodes": [
//!   {"id": 0, "op": {"kind": "input", "channels": 3, "height": 32, "width": 32}, "inputs": []},
//!   {"id": 1, "op": {"kind": "relu"}, "inputs": [0]},
//!   {"id": 2, "op": {"kind": "output"}, "inputs": [1]}
//! ]}
//! ```
//!
//! `shape` and `label` are optional on input; a given `shape` must match the inferred one.

use serde::{Deserialize, Serialize};

use super::network::{GraphError, Network};
use super::op::{Op, Shape};

/// One node of a [`NetworkDoc`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeDoc {
    /// Node id, unique within the document.
    pub id: usize,
    /// The op and its parameters.
    pub op: Op,
    /// Operand ids, in order.
    #[serde(default)]
    pub inputs: Vec<usize>,
    /// Output shape (checked on input when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Shape>,
    /// Where the node comes from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
}

/// The serialisable form of a [`Network`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkDoc {
    /// Nodes; written in topological order.
    pub nodes: Vec<NodeDoc>,
}

/// Why a [`NetworkDoc`] does not describe a valid network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocError {
    /// Two nodes share an id.
    #[error("nodes[{position}]: id {id} is used twice")]
    DuplicateId {
        /// Position in the `nodes` array.
        position: usize,
        /// The repeated id.
        id: usize,
    },
    /// An operand names no node.
    #[error("nodes[{position}] (id {id}): operand {operand} is not the id of any node")]
    UnknownOperand {
        /// Position in the `nodes` array.
        position: usize,
        /// The node's id.
        id: usize,
        /// The unknown operand.
        operand: usize,
    },
    /// A declared shape disagrees with the inferred one.
    #[error("nodes[{position}] (id {id}): declared shape {declared} but the op gives {inferred}")]
    ShapeMismatch {
        /// Position in the `nodes` array.
        position: usize,
        /// The node's id.
        id: usize,
        /// The shape in the document.
        declared: Shape,
        /// The shape the op infers.
        inferred: Shape,
    },
    /// The graph itself is invalid (node numbers are positions in the `nodes` array).
    #[error(transparent)]
    Graph(#[from] GraphError),
}

impl NetworkDoc {
    /// The document of a network: node ids are the network's node indices.
    pub fn from_network(net: &Network) -> Self {
        let nodes = net
            .nodes()
            .iter()
            .enumerate()
            .map(|(i, n)| NodeDoc {
                id: i,
                op: n.op,
                inputs: n.inputs.iter().map(|x| x.index()).collect(),
                shape: Some(n.shape),
                label: n.label.clone(),
            })
            .collect();
        NetworkDoc { nodes }
    }

    /// Validates the document and builds the network it describes.
    pub fn to_network(&self) -> Result<Network, DocError> {
        let mut position_of = std::collections::HashMap::with_capacity(self.nodes.len());
        for (position, node) in self.nodes.iter().enumerate() {
            if position_of.insert(node.id, position).is_some() {
                return Err(DocError::DuplicateId {
                    position,
                    id: node.id,
                });
            }
        }
        let mut parts = Vec::with_capacity(self.nodes.len());
        for (position, node) in self.nodes.iter().enumerate() {
            let inputs = node
                .inputs
                .iter()
                .map(|op| {
                    position_of
                        .get(op)
                        .copied()
                        .ok_or(DocError::UnknownOperand {
                            position,
                            id: node.id,
                            operand: *op,
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            parts.push((node.op, inputs, node.label.clone()));
        }
        let net = Network::from_nodes(parts)?;
        // `from_nodes` keeps positions when the document is topologically sorted; match shapes
        // by label-independent position via the stable order.
        let sorted = self
            .nodes
            .iter()
            .enumerate()
            .all(|(p, n)| n.inputs.iter().all(|i| position_of[i] < p));
        if sorted {
            for (position, (doc, node)) in self.nodes.iter().zip(net.nodes()).enumerate() {
                if let Some(declared) = doc.shape {
                    if declared != node.shape {
                        return Err(DocError::ShapeMismatch {
                            position,
                            id: doc.id,
                            declared,
                            inferred: node.shape,
                        });
                    }
                }
            }
        }
        Ok(net)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = r#"{"nodes": [
        {"id": 0, "op": {"kind": "input", "channels": 3, "height": 8, "width": 8}},
        {"id": 1, "op": {"kind": "conv", "out_channels": 4, "kernel": [3, 3], "padding": [1, 1]}, "inputs": [0]},
        {"id": 2, "op": {"kind": "output"}, "inputs": [1]}
    ]}"#;

    #[test]
    fn round_trips() {
        let doc: NetworkDoc = serde_json::from_str(TINY).unwrap();
        let net = doc.to_network().unwrap();
        assert_eq!(net.output_shape(), Shape::new(4, 8, 8));
        let again = NetworkDoc::from_network(&net);
        let text = serde_json::to_string(&again).unwrap();
        let back: NetworkDoc = serde_json::from_str(&text).unwrap();
        assert_eq!(back.to_network().unwrap(), net);
    }

    #[test]
    fn unknown_op_and_field_are_rejected() {
        let bad = TINY
            .replace("\"relu\"", "\"gelu\"")
            .replace("\"conv\"", "\"convolution\"");
        assert!(serde_json::from_str::<NetworkDoc>(&bad).is_err());
        let typo = TINY.replace("\"padding\"", "\"paddin\"");
        let err = serde_json::from_str::<NetworkDoc>(&typo).unwrap_err();
        assert!(err.to_string().contains("paddin"), "{err}");
    }

    #[test]
    fn wrong_declared_shape_is_rejected() {
        let mut doc: NetworkDoc = serde_json::from_str(TINY).unwrap();
        doc.nodes[1].shape = Some(Shape::new(5, 8, 8));
        assert!(matches!(
            doc.to_network(),
            Err(DocError::ShapeMismatch { position: 1, .. })
        ));
    }

    #[test]
    fn unknown_operand_is_named() {
        let bad = TINY.replace("\"inputs\": [1]", "\"inputs\": [7]");
        let doc: NetworkDoc = serde_json::from_str(&bad).unwrap();
        let err = doc.to_network().unwrap_err();
        assert!(err.to_string().contains("operand 7"), "{err}");
    }
}
