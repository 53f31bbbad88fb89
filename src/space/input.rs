//! Reading architectures the user typed or piped in: architecture documents (JSON objects with
//! `schema_version`) or genotypes in a space's native notation, one per line or as one JSON
//! value (a single document or an array of them).

use serde_json::Value;

use super::doc::{ArchDocError, ArchDocument};
use super::{AnyGenotype, AnySpace, Knobs, SpaceError};
use crate::ir::Network;

/// One architecture read from input.
#[derive(Clone, Debug)]
pub struct Parsed {
    /// The space (knobs not applied), when known.
    pub space: Option<AnySpace>,
    /// Knobs the network was decoded with.
    pub knobs: Knobs,
    /// The genotype, when the space is known.
    pub genotype: Option<AnyGenotype>,
    /// The network.
    pub network: Network,
    /// The text it came from (one line, or the JSON of one document).
    pub source: String,
}

/// Why an input architecture could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// An architecture document is invalid.
    #[error(transparent)]
    Doc(#[from] ArchDocError),
    /// A genotype does not parse in the space.
    #[error(transparent)]
    Space(#[from] SpaceError),
    /// Native notation was given without a space.
    #[error(
        "`{}` is not an architecture document; give --space to read it as a genotype",
        crate::error::excerpt(input)
    )]
    NeedSpace {
        /// The text.
        input: String,
    },
}

/// Splits input text into architecture texts: one JSON document or array, else one per
/// non-empty line (lines starting with `#` are comments).
pub fn split(text: &str) -> Vec<String> {
    let trimmed = text.trim();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
            match v {
                Value::Array(items) if items.iter().all(is_document) => {
                    return items.iter().map(|i| i.to_string()).collect();
                }
                Value::Object(_) => return vec![trimmed.to_string()],
                _ => {}
            }
        }
    }
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// An architecture document: written by evonas (`schema_version`), or by hand with only
/// `space` and `genotype` (and optionally `knobs`). Native notations never have these keys.
fn is_document(v: &Value) -> bool {
    v.get("schema_version").is_some() || (v.get("space").is_some() && v.get("genotype").is_some())
}

/// Reads one architecture. `space` is the one the user named (for native notation, and to
/// check documents against); without it, documents of built-in spaces still resolve theirs.
pub fn parse(text: &str, space: Option<&AnySpace>) -> Result<Parsed, InputError> {
    let value = serde_json::from_str::<Value>(text).ok();
    if let Some(v) = value.filter(is_document) {
        let doc = ArchDocument::parse_value(v)?;
        let network = doc.network()?;
        let resolved = match space {
            Some(s) => Some(s.clone()),
            None => AnySpace::builtin(&doc.space).ok(),
        };
        let genotype = match &resolved {
            Some(s) => Some(doc.genotype(s)?),
            None => None,
        };
        return Ok(Parsed {
            space: resolved,
            knobs: doc.knobs,
            genotype,
            network,
            source: text.to_string(),
        });
    }
    let space = space.ok_or_else(|| InputError::NeedSpace {
        input: text.to_string(),
    })?;
    let genotype = space.parse(text)?;
    let network = space.decode(&genotype)?;
    Ok(Parsed {
        space: Some(space.clone()),
        knobs: Knobs::default(),
        genotype: Some(genotype),
        network,
        source: text.to_string(),
    })
}
