//! Hashes of networks: [`structural`] (the graph up to isomorphism) and [`functional`] (the
//! function the network computes, whatever its encoding). Both are versioned; the version is
//! part of every cache key, so changing an algorithm never serves stale results.

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
        crate::hex::encode(&self.bytes)
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

    /// Hashes a network with algorithm `version` (what a campaign started under an older
    /// version keeps using, and what `cache rehash` checks stored keys with).
    pub fn of_version(net: &Network, version: u32) -> Result<Self, functional::VersionError> {
        Ok(FunctionalHash(Digest {
            version,
            bytes: functional::functional_digest_version(net, version)?,
        }))
    }

    /// The digest.
    pub fn digest(&self) -> &Digest {
        &self.0
    }

    /// The algorithm version.
    pub fn version(&self) -> u32 {
        self.0.version
    }

    /// Parses the printed form `f<version>:<64 hex digits>`.
    pub fn parse(text: &str) -> Option<Self> {
        parse_digest(text, 'f').map(FunctionalHash)
    }

    /// The hash of algorithm `version` with digest `bytes` (as read from a cache key).
    pub fn from_parts(version: u32, bytes: [u8; 32]) -> Self {
        FunctionalHash(Digest { version, bytes })
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
    let bytes = crate::hex::decode32(hex)?;
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

/// A JSON-schema string with the printed form's pattern.
fn digest_schema(tag: char, what: &str) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "pattern": format!("^{tag}[0-9]+:[0-9a-f]{{64}}$"),
        "description": format!("{what} hash: {tag}<algorithm version>:<64 hex digits>"),
    })
}

impl schemars::JsonSchema for FunctionalHash {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FunctionalHash".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        digest_schema('f', "functional")
    }
}

impl schemars::JsonSchema for StructuralHash {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StructuralHash".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        digest_schema('s', "structural")
    }
}

/// Stored in its printed form (`f3:<hex>`); a value that does not parse is an error of the
/// record holding it, so every reader reports a damaged hash the same way (as damage).
impl serde::Serialize for FunctionalHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for FunctionalHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        FunctionalHash::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a functional hash (expected f<version>:<64 hex digits>)"
            ))
        })
    }
}

/// Stored in its printed form (`s1:<hex>`), like [`FunctionalHash`].
impl serde::Serialize for StructuralHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for StructuralHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        StructuralHash::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a structural hash (expected s<version>:<64 hex digits>)"
            ))
        })
    }
}
