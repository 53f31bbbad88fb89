//! Hashes of networks: [`structural`] (the graph up to isomorphism) and [`functional`] (the
//! function the network computes, whatever its encoding). Both are versioned; the version is
//! part of every cache key, so changing an algorithm never serves stale results.

pub mod census;
mod dag;
pub mod functional;
mod signature;
pub mod structural;

use crate::ir::Network;

/// A 256-bit digest with the version of the algorithm that made it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    version: u32,
    bytes: [u8; 32],
}

impl Digest {
    /// The algorithm version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The 32 digest bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Full lowercase hex of the bytes.
    pub fn hex(&self) -> String {
        self.bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The functional hash of a network: equal for networks that compute the same function.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FunctionalHash(Digest);

/// The structural hash of a network: equal for isomorphic graphs (widths ignored).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StructuralHash(Digest);

impl FunctionalHash {
    /// Hashes a network.
    pub fn of(net: &Network) -> Self {
        FunctionalHash(Digest {
            version: functional::VERSION,
            bytes: functional::functional_digest(net),
        })
    }

    /// The digest.
    pub fn digest(&self) -> &Digest {
        &self.0
    }

    /// Parses the printed form `f<version>:<64 hex digits>`.
    pub fn parse(text: &str) -> Option<Self> {
        parse_digest(text, 'f').map(FunctionalHash)
    }
}

impl StructuralHash {
    /// Hashes a network.
    pub fn of(net: &Network) -> Self {
        StructuralHash(Digest {
            version: structural::VERSION,
            bytes: structural::structural_digest(net),
        })
    }

    /// The digest.
    pub fn digest(&self) -> &Digest {
        &self.0
    }

    /// Parses the printed form `s<version>:<64 hex digits>`.
    pub fn parse(text: &str) -> Option<Self> {
        parse_digest(text, 's').map(StructuralHash)
    }
}

fn parse_digest(text: &str, tag: char) -> Option<Digest> {
    let rest = text.strip_prefix(tag)?;
    let (version, hex) = rest.split_once(':')?;
    let version = version.parse().ok()?;
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(Digest { version, bytes })
}

impl std::fmt::Display for FunctionalHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "f{}:{}", self.0.version, self.0.hex())
    }
}

impl std::fmt::Display for StructuralHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s{}:{}", self.0.version, self.0.hex())
    }
}

impl std::fmt::Debug for FunctionalHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::fmt::Debug for StructuralHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Both hashes of a network.
pub fn hash(net: &Network) -> (FunctionalHash, StructuralHash) {
    (FunctionalHash::of(net), StructuralHash::of(net))
}
