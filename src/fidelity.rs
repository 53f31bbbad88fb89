//! Fidelity: how much of a full evaluation a result cost (a full protocol, a few epochs, a
//! training-free proxy). It sits below every other module because protocols, campaign headers
//! and exported documents all say it.

use serde::{Deserialize, Serialize};

/// How much of a full evaluation a protocol spends. Results of one function at two fidelities
/// are two different measurements: best-so-far, exports and reports say which fidelity a figure
/// comes from, and figures of different fidelities are never ranked against each other.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fidelity {
    /// The evaluator's complete protocol (a benchmark table's final figures, a mock).
    #[default]
    Full,
    /// Training for this many epochs.
    Epochs {
        /// Epochs trained.
        epochs: u32,
    },
    /// A training-free proxy score, computed at initialisation.
    Proxy {
        /// The proxy's name (`synflow`, `nwot`, ...).
        name: String,
    },
}

impl Fidelity {
    /// Whether figures at `self` and `other` may be ranked against each other.
    pub fn comparable(&self, other: &Fidelity) -> bool {
        self == other
    }

    /// An order of cost: proxies, then fewer epochs before more, then full. Best-so-far keeps
    /// the figure of the highest fidelity seen.
    pub fn rank(&self) -> (u8, u32) {
        match self {
            Fidelity::Proxy { .. } => (0, 0),
            Fidelity::Epochs { epochs } => (1, *epochs),
            Fidelity::Full => (2, 0),
        }
    }
}

impl std::fmt::Display for Fidelity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fidelity::Full => f.write_str("full"),
            Fidelity::Epochs { epochs: 1 } => f.write_str("1 epoch"),
            Fidelity::Epochs { epochs } => write!(f, "{epochs} epochs"),
            Fidelity::Proxy { name } => write!(f, "proxy {name}"),
        }
    }
}
