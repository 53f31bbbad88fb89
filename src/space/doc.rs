//! The architecture document: one self-describing JSON object per architecture.
//!
//! ```json
//! {"schema_version": 1, "space": "nb201", "genotype": "|nor_conv_3x3~0|+...",
//!  "knobs": {"channels": 8}, "network": {"nodes": [...]}}
//! ```
//!
//! `genotype` is in the space's native notation; `network` is the decoded IR, so a reader needs
//! no space definition to rebuild the network. `knobs` records width/depth scaling, if any.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{AnyGenotype, AnySpace, Knobs, SpaceError};
use crate::fidelity::Fidelity;
use crate::hash::{FunctionalHash, StructuralHash};
use crate::ir::doc::{DocError, NetworkDoc};
use crate::ir::Network;

/// The schema version written by this build; newer documents are refused.
pub const SCHEMA_VERSION: u32 = 1;

/// One architecture: space, genotype and decoded network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchDocument {
    /// Format version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Name of the space the genotype belongs to.
    pub space: String,
    /// The genotype in the space's native notation.
    pub genotype: serde_json::Value,
    /// Width/depth knobs the network was decoded with.
    #[serde(default, skip_serializing_if = "Knobs::is_empty")]
    pub knobs: Knobs,
    /// The decoded network.
    pub network: NetworkDoc,
    /// What a campaign measured, in exported documents (`evonas export`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ArchResult>,
}

/// The results `evonas export` attaches to a document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchResult {
    /// Functional hash (`f<version>:<hex>`).
    pub functional_hash: FunctionalHash,
    /// Structural hash (`s<version>:<hex>`).
    pub structural_hash: StructuralHash,
    /// Fitness the search saw (None: the evaluation failed).
    pub fitness: Option<f64>,
    /// Every metric of the evaluation (e.g. `valid_accuracy`, `test_accuracy`).
    pub metrics: BTreeMap<String, f64>,
    /// Per-epoch series (e.g. `train_loss`), for trained networks.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub curves: BTreeMap<String, Vec<f64>>,
    /// Why the evaluation failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Parameter count of the network as exported.
    pub params: u64,
    /// FLOPs (multiply-adds) of the network as exported.
    pub flops: u64,
    /// The evaluation protocol (the campaign's `[evaluator]` settings).
    pub protocol: serde_json::Value,
    /// The fidelity of `fitness` and `metrics` (absent in documents exported before
    /// fidelities: full).
    #[serde(default)]
    pub fidelity: Fidelity,
    /// Where the result comes from.
    pub provenance: Provenance,
}

/// Where an exported result comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// Campaign name.
    pub campaign: String,
    /// Proposal number of the architecture's first score in the campaign.
    pub proposal: u64,
    /// The campaign's seed.
    pub seed: u64,
    /// The campaign's state when exported (`finished`, `interrupted`, `running`).
    pub campaign_state: String,
    /// evonas version that exported it.
    pub evonas_version: String,
    /// Seconds since the Unix epoch at export.
    pub exported_unix: u64,
    /// Where the figures were measured (training evaluators: CPU, instruction set, GPU,
    /// library and version), from the cache record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<crate::eval::machine::Machine>,
}

/// Why an architecture document cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ArchDocError {
    /// Not valid JSON, or a field is missing or of the wrong type.
    #[error("architecture document: {message}")]
    Malformed {
        /// What is wrong, with the JSON path of the field.
        message: String,
    },
    /// Written by a newer evonas.
    #[error("architecture document has schema_version {found}; this evonas reads up to {SCHEMA_VERSION}; upgrade evonas")]
    TooNew {
        /// The document's version.
        found: u32,
    },
    /// The `network` field is not a valid network.
    #[error("architecture document: field `network`: {0}")]
    Network(DocError),
    /// The genotype does not belong to the space or does not parse.
    #[error("architecture document: field `genotype`: {0}")]
    Genotype(SpaceError),
    /// The document names a different space.
    #[error("architecture document is for space `{found}`, not `{expected}`")]
    OtherSpace {
        /// The space asked for.
        expected: String,
        /// The space in the document.
        found: String,
    },
    /// The stored network is not what the genotype decodes to.
    #[error("architecture document: `network` does not match what `genotype` decodes to in space `{space}` (edited by hand, or written by another version of the space)")]
    Mismatch {
        /// The space.
        space: String,
    },
}

// Manual conversions: the wrapped error is part of the message, so it is not also a `source`
// (which would print it twice in a `{:#}` chain).
impl From<DocError> for ArchDocError {
    fn from(e: DocError) -> Self {
        ArchDocError::Network(e)
    }
}

impl From<SpaceError> for ArchDocError {
    fn from(e: SpaceError) -> Self {
        ArchDocError::Genotype(e)
    }
}

/// The network of a document that names only its space, genotype and knobs.
fn decode_hand_written(
    obj: &serde_json::Map<String, serde_json::Value>,
) -> Result<serde_json::Value, ArchDocError> {
    let malformed = |message: String| ArchDocError::Malformed { message };
    let name =
        match obj.get("space") {
            Some(serde_json::Value::String(s)) => s,
            Some(_) => return Err(malformed("field `space`: expected a space name".into())),
            None => return Err(malformed(
                "missing field `space` (a document without `network` needs `space` and `genotype`)"
                    .into(),
            )),
        };
    let knobs: Knobs = match obj.get("knobs") {
        Some(k) => serde_path_to_error::deserialize(k.clone())
            .map_err(|e| malformed(format!("field `knobs.{}`: {}", e.path(), e.inner())))?,
        None => Knobs::default(),
    };
    let space = AnySpace::load(name)?.with_knobs(&knobs);
    let g = space.parse_value(&obj["genotype"])?;
    let net = space.decode(&g)?;
    serde_json::to_value(NetworkDoc::from_network(&net))
        .map_err(|e| malformed(format!("field `network`: {e}")))
}

impl ArchDocument {
    /// The document of a genotype in `space` (already carrying `knobs`).
    pub fn new(space: &AnySpace, knobs: Knobs, g: &AnyGenotype) -> Result<Self, SpaceError> {
        let net = space.decode(g)?;
        Ok(ArchDocument {
            schema_version: SCHEMA_VERSION,
            space: space.name().to_string(),
            genotype: space.to_value(g)?,
            knobs,
            network: NetworkDoc::from_network(&net),
            result: None,
        })
    }

    /// Parses a document from JSON text, naming the offending field on error.
    pub fn from_json(text: &str) -> Result<Self, ArchDocError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ArchDocError::Malformed {
                message: format!("invalid JSON: {e}"),
            })?;
        Self::parse_value(value)
    }

    /// Parses a document from a JSON value.
    ///
    /// A hand-written document may give only `space`, `genotype` and `knobs`: the network is
    /// decoded from them (and `schema_version` taken as the current one). When `network` is
    /// present, [`ArchDocument::genotype`] checks it against the genotype.
    pub fn parse_value(mut value: serde_json::Value) -> Result<Self, ArchDocError> {
        if let Some(v) = value.get("schema_version").and_then(|v| v.as_u64()) {
            if v > u64::from(SCHEMA_VERSION) {
                return Err(ArchDocError::TooNew {
                    found: u32::try_from(v).unwrap_or(u32::MAX),
                });
            }
        }
        if let Some(obj) = value.as_object_mut() {
            if !obj.contains_key("network") && obj.contains_key("genotype") {
                let network = decode_hand_written(obj)?;
                obj.insert("network".into(), network);
                obj.entry("schema_version")
                    .or_insert_with(|| SCHEMA_VERSION.into());
            }
        }
        let doc: ArchDocument =
            serde_path_to_error::deserialize(value).map_err(|e| ArchDocError::Malformed {
                message: format!("field `{}`: {}", e.path(), e.inner()),
            })?;
        Ok(doc)
    }

    /// Pretty JSON.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("documents serialise")
    }

    /// One-line JSON.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("documents serialise")
    }

    /// The network, validated.
    pub fn network(&self) -> Result<Network, ArchDocError> {
        Ok(self.network.to_network()?)
    }

    /// The genotype in `space` (which must be the document's space, knobs not yet applied),
    /// checked against the stored network.
    pub fn genotype(&self, space: &AnySpace) -> Result<AnyGenotype, ArchDocError> {
        if space.name() != self.space {
            return Err(ArchDocError::OtherSpace {
                expected: space.name().to_string(),
                found: self.space.clone(),
            });
        }
        let g = space.parse_value(&self.genotype)?;
        let net = self.network()?;
        // A network trained on other data (28x28x1, 100 classes, ...) was decoded for that
        // input and class count: decode for the document's own.
        let input = net.input_shape();
        let classes = net.output_shape().channels;
        let decoded = space
            .with_knobs(&self.knobs)
            .with_io([input.channels, input.height, input.width], classes)
            .decode(&g)?;
        if decoded != net {
            return Err(ArchDocError::Mismatch {
                space: self.space.clone(),
            });
        }
        Ok(g)
    }
}
