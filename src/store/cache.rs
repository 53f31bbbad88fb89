//! The functional-equivalence cache: (functional hash with its version, evaluation protocol
//! fingerprint) -> [`EvalRecord`]. It outlives campaigns: any campaign with the same protocol
//! reuses every result, whatever encoding its candidates came in.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Commit, Result, Store, StoreError, TreeId};
use crate::eval::{EvalRecord, Fingerprint, RECORD_SCHEMA};
use crate::hash::FunctionalHash;

/// What to do with a cached result when an equivalent candidate comes again.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CachePolicy {
    /// Never read or write the cache.
    Off,
    /// Evaluate once, then always reuse.
    Once,
    /// Re-evaluate on a hit until N evaluations, serving the running mean.
    Aggregate(u32),
    /// On a hit, drop the entry and re-evaluate with probability P.
    Forgetful(f64),
}

/// A cache policy that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "cache policy `{text}`: expected off, once, aggregate:N (N >= 1) or forgetful:P (0 <= P <= 1)"
)]
pub struct PolicyError {
    /// The text given.
    pub text: String,
}

impl FromStr for CachePolicy {
    type Err = PolicyError;
    fn from_str(s: &str) -> std::result::Result<Self, PolicyError> {
        let bad = || PolicyError {
            text: s.to_string(),
        };
        match s.split_once(':') {
            None if s == "off" => Ok(CachePolicy::Off),
            None if s == "once" => Ok(CachePolicy::Once),
            Some(("aggregate", n)) => match n.parse::<u32>() {
                Ok(n) if n >= 1 => Ok(CachePolicy::Aggregate(n)),
                _ => Err(bad()),
            },
            Some(("forgetful", p)) => match p.parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) => Ok(CachePolicy::Forgetful(p)),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for CachePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CachePolicy::Off => write!(f, "off"),
            CachePolicy::Once => write!(f, "once"),
            CachePolicy::Aggregate(n) => write!(f, "aggregate:{n}"),
            CachePolicy::Forgetful(p) => write!(f, "forgetful:{p}"),
        }
    }
}

impl Serialize for CachePolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for CachePolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What the policy says to do for one candidate.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Serve this record; no evaluation.
    Hit(EvalRecord),
    /// Evaluate; fold the result into `base` if given (aggregation), else start a new record.
    Evaluate {
        /// The record to extend.
        base: Option<EvalRecord>,
    },
}

impl CachePolicy {
    /// Whether the policy reads and writes the cache at all.
    pub fn uses_cache(&self) -> bool {
        !matches!(self, CachePolicy::Off)
    }

    /// The decision for a candidate whose cached record is `existing`; `coin` is a uniform
    /// draw in [0, 1) from the campaign's seeded stream (used by `forgetful`).
    pub fn decide(&self, existing: Option<EvalRecord>, coin: f64) -> Decision {
        match (self, existing) {
            (CachePolicy::Off, _) | (_, None) => Decision::Evaluate { base: None },
            (CachePolicy::Once, Some(r)) => Decision::Hit(r),
            (CachePolicy::Aggregate(n), Some(r)) if r.evaluations >= *n => Decision::Hit(r),
            (CachePolicy::Aggregate(_), Some(r)) => Decision::Evaluate { base: Some(r) },
            (CachePolicy::Forgetful(p), Some(_)) if coin < *p => Decision::Evaluate { base: None },
            (CachePolicy::Forgetful(_), Some(r)) => Decision::Hit(r),
        }
    }
}

/// The cache key of a function under a protocol: `f`, the hash version (big-endian u32), the
/// hash's 32 bytes, the protocol fingerprint's 32 bytes. Printed (in exports and damage
/// reports) as the hex of those 69 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey {
    /// The function.
    pub hash: FunctionalHash,
    /// The protocol.
    pub protocol: Fingerprint,
}

impl CacheKey {
    /// The key of `hash` under `protocol`.
    pub fn new(hash: FunctionalHash, protocol: Fingerprint) -> Self {
        CacheKey { hash, protocol }
    }

    /// The stored bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut k = Vec::with_capacity(69);
        k.push(b'f');
        k.extend_from_slice(&self.hash.digest().version().to_be_bytes());
        k.extend_from_slice(self.hash.digest().bytes());
        k.extend_from_slice(self.protocol.bytes());
        k
    }

    /// Reads stored bytes; None if they are not a cache key.
    pub fn from_bytes(k: &[u8]) -> Option<Self> {
        if k.len() != 69 || k[0] != b'f' {
            return None;
        }
        let version = u32::from_be_bytes([k[1], k[2], k[3], k[4]]);
        let hash = FunctionalHash::from_parts(version, k[5..37].try_into().ok()?);
        let protocol = Fingerprint::from_bytes(k[37..69].try_into().ok()?);
        Some(CacheKey { hash, protocol })
    }

    /// Parses the printed form.
    pub fn parse(text: &str) -> Option<Self> {
        Self::from_bytes(&crate::hex::decode(text)?)
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::hex::encode(&self.to_bytes()))
    }
}

impl Serialize for CacheKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CacheKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        CacheKey::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a cache key (expected 138 hex digits: f, hash version, hash, protocol fingerprint)"
            ))
        })
    }
}

/// One exported cache entry (the JSON-lines format of `evonas cache export`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The cache key.
    pub key: CacheKey,
    /// The record.
    pub record: EvalRecord,
}

/// Records an unfinished campaign reads: its hash version, under its protocol (every protocol
/// for a campaign stored before protocols were).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pin {
    /// The campaign.
    pub campaign: String,
    /// Its functional-hash version.
    pub version: u32,
    /// Its protocol fingerprint, if stored.
    pub protocol: Option<Fingerprint>,
}

impl Pin {
    /// Whether the record under `key` is one the campaign may look up.
    pub fn holds(&self, key: &CacheKey) -> bool {
        key.hash.version() == self.version && self.protocol.is_none_or(|p| p == key.protocol)
    }
}

/// Summary of the cache.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stats {
    /// Entries in total.
    pub entries: u64,
    /// Entries per protocol fingerprint (first 8 bytes, hex).
    pub by_protocol: BTreeMap<String, u64>,
    /// Entries with a failure recorded.
    pub failures: u64,
    /// Evaluations aggregated over all entries.
    pub evaluations: u64,
    /// Entries keyed by an older hash-algorithm version (removed by `gc`).
    pub stale_hash_version: u64,
    /// Database size on disk.
    pub bytes_on_disk: u64,
}

impl Store {
    /// The cached record under `key`, if any.
    pub fn cache_get(&self, key: &CacheKey) -> Result<Option<EvalRecord>> {
        let r: Option<EvalRecord> =
            self.get_json("evals", &format!("evals/{key}"), &key.to_bytes())?;
        if let Some(rec) = &r {
            if rec.schema > RECORD_SCHEMA {
                return Err(StoreError::NewerSchema {
                    dir: self.dir.clone(),
                    found: rec.schema,
                });
            }
        }
        Ok(r)
    }

    /// Adds a cache write to a commit.
    pub fn cache_put(commit: &mut Commit, key: &CacheKey, record: &EvalRecord) {
        commit.put(TreeId::Evals, key.to_bytes(), record);
    }

    /// The key stored as `k`, or damage.
    fn cache_key(&self, k: &[u8]) -> Result<CacheKey> {
        CacheKey::from_bytes(k).ok_or_else(|| StoreError::Corrupt {
            dir: self.dir.clone(),
            key: format!("evals/{}", crate::hex::encode(k)),
            reason: "not a cache key (f, hash version, hash, protocol fingerprint)".into(),
        })
    }

    /// Every entry, in key order.
    pub fn cache_entries(&self) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        for (k, v) in self.kv_scan("evals", b"")? {
            let key = self.cache_key(&k)?;
            let record: EvalRecord = self.decode(&format!("evals/{key}"), &v)?;
            out.push(Entry { key, record });
        }
        Ok(out)
    }

    /// Summary counts.
    pub fn cache_stats(&self) -> Result<Stats> {
        let mut s = Stats {
            entries: 0,
            by_protocol: BTreeMap::new(),
            failures: 0,
            evaluations: 0,
            stale_hash_version: 0,
            bytes_on_disk: self.size_on_disk(),
        };
        for (k, v) in self.kv_scan("evals", b"")? {
            let key = self.cache_key(&k)?;
            let record: EvalRecord = self.decode(&format!("evals/{key}"), &v)?;
            s.entries += 1;
            s.evaluations += u64::from(record.evaluations);
            s.failures += u64::from(record.failure.is_some());
            if key.hash.digest().version() != crate::hash::functional::VERSION {
                s.stale_hash_version += 1;
            }
            *s.by_protocol.entry(key.protocol.short()).or_default() += 1;
        }
        Ok(s)
    }

    /// Removes entries keyed by an older hash-algorithm version that no unfinished campaign
    /// reads (new campaigns never hit them). Returns (removed, kept for unfinished campaigns).
    pub fn cache_gc(&self) -> Result<(u64, u64)> {
        let pins = self.cache_pins()?;
        let mut commit = Commit::new();
        let (mut removed, mut kept) = (0, 0);
        for (k, _) in self.kv_scan("evals", b"")? {
            let key = CacheKey::from_bytes(&k);
            if key.is_some_and(|key| key.hash.version() == crate::hash::functional::VERSION) {
                continue;
            }
            if key.is_some_and(|key| pins.iter().any(|p| p.holds(&key))) {
                kept += 1;
                continue;
            }
            commit.remove(TreeId::Evals, k.to_vec());
            removed += 1;
        }
        self.commit("", &commit)?;
        Ok((removed, kept))
    }

    /// What unfinished campaigns may still look up: records under their hash version and
    /// protocol must stay where they are, or a resumed campaign would miss its own results
    /// and take another path.
    pub fn cache_pins(&self) -> Result<Vec<Pin>> {
        let mut pins = Vec::new();
        for h in self.campaigns()? {
            if h.state == super::campaign::CampaignState::Finished {
                continue;
            }
            if let Some(version) = self.campaign_hash_version(&h)? {
                pins.push(Pin {
                    campaign: h.name.clone(),
                    version,
                    protocol: h.protocol.as_ref().map(|p| p.fingerprint),
                });
            }
        }
        Ok(pins)
    }

    /// Writes one record (flushed), outside any campaign (`evonas rank`).
    pub fn cache_write(&self, key: &CacheKey, record: &EvalRecord) -> Result<()> {
        let mut commit = Commit::new();
        commit.put_record(key, record);
        self.commit("", &commit)
    }

    /// Removes `remove` and writes `put` in one atomic write (a crash leaves all or nothing).
    pub fn cache_replace(&self, remove: &[CacheKey], put: &[Entry]) -> Result<()> {
        let mut commit = Commit::new();
        for key in remove {
            commit.remove(TreeId::Evals, key.to_bytes());
        }
        for e in put {
            commit.put(TreeId::Evals, e.key.to_bytes(), &e.record);
        }
        self.commit("", &commit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_print() {
        for s in ["off", "once", "aggregate:3", "forgetful:0.25"] {
            assert_eq!(s.parse::<CachePolicy>().unwrap().to_string(), s);
        }
        for bad in [
            "",
            "always",
            "aggregate:0",
            "aggregate:x",
            "forgetful:2",
            "once:1",
        ] {
            assert!(bad.parse::<CachePolicy>().is_err(), "{bad}");
        }
    }
}
