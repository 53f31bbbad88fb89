//! Campaigns in the store: a header (config, counters, strategy state, best so far), the
//! in-flight round, and the journal of every event.
//!
//! A round is written in two steps: its proposals (the in-flight set) before any evaluation,
//! then, after the evaluations, all its events together with the new header, as one atomic
//! commit. Each finished evaluation is written as a slot result (with its cache entry) the moment
//! it ends, so a crash never loses or repeats one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::cache::CacheKey;
use super::{Commit, Result, Store, StoreError, TreeId};
use crate::eval::{EvalRecord, FailureKind, Fidelity, Fingerprint, Outcome};
use crate::hash::FunctionalHash;

/// Campaign-record schema written by this build.
pub const CAMPAIGN_SCHEMA: u32 = 1;

/// Lifecycle of a campaign as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    /// A process is (or was, until it died) running it.
    Running,
    /// Stopped on request; resumable.
    Interrupted,
    /// A budget was reached.
    Finished,
}

impl CampaignState {
    /// The state as stored (`running` also for a campaign whose process died).
    pub fn name(self) -> &'static str {
        match self {
            CampaignState::Running => "running",
            CampaignState::Interrupted => "interrupted",
            CampaignState::Finished => "finished",
        }
    }
}

/// Why a campaign finished: the budget that ran out. Stored in its printed form (the sentence
/// users read in `status`), which parses back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FinishReason {
    /// `[budget] evaluations` reached.
    Evaluations(u64),
    /// `[budget] proposals` reached.
    Proposals(u64),
    /// `[budget] simulated_seconds` reached.
    SimulatedSeconds(f64),
    /// `[budget] wall_seconds` reached.
    WallSeconds(f64),
    /// `[budget] max_consecutive_hits` proposals in a row were cache hits.
    Stalled(u64),
}

const STALLED_ADVICE: &str = "proposals were all answered by the cache (the strategy only finds known functions); set [strategy] dedup_patience, or a proposals budget";

impl std::fmt::Display for FinishReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FinishReason::Evaluations(n) => write!(f, "evaluation budget of {n} reached"),
            FinishReason::Proposals(n) => write!(f, "proposal budget of {n} reached"),
            FinishReason::SimulatedSeconds(s) => {
                write!(f, "simulated-time budget of {s} s reached")
            }
            FinishReason::WallSeconds(s) => write!(f, "wall-time budget of {s} s reached"),
            FinishReason::Stalled(n) => write!(f, "stalled: the last {n} {STALLED_ADVICE}"),
        }
    }
}

/// A stored finish reason that is none of the sentences [`FinishReason`] prints.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a finish reason")]
pub struct FinishReasonError {
    /// The stored text.
    pub text: String,
}

impl std::str::FromStr for FinishReason {
    type Err = FinishReasonError;
    fn from_str(text: &str) -> std::result::Result<Self, FinishReasonError> {
        let between = |prefix: &str, suffix: &str| {
            text.strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix(suffix))
        };
        let parsed = if let Some(n) = between("evaluation budget of ", " reached") {
            n.parse().ok().map(FinishReason::Evaluations)
        } else if let Some(n) = between("proposal budget of ", " reached") {
            n.parse().ok().map(FinishReason::Proposals)
        } else if let Some(s) = between("simulated-time budget of ", " s reached") {
            s.parse().ok().map(FinishReason::SimulatedSeconds)
        } else if let Some(s) = between("wall-time budget of ", " s reached") {
            s.parse().ok().map(FinishReason::WallSeconds)
        } else if let Some(n) = between("stalled: the last ", &format!(" {STALLED_ADVICE}")) {
            n.parse().ok().map(FinishReason::Stalled)
        } else {
            None
        };
        parsed.ok_or_else(|| FinishReasonError {
            text: text.to_string(),
        })
    }
}

impl Serialize for FinishReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FinishReason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Where a candidate's result came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A real evaluation (a training, a table lookup) made it.
    Evaluated,
    /// The cache (or an equal function earlier in the same round) answered it.
    Cache,
}

/// `Source` stored as the boolean `evaluated` (the format of slot results).
mod evaluated_flag {
    use super::Source;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(source: &Source, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(*source == Source::Evaluated)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Source, D::Error> {
        Ok(if bool::deserialize(d)? {
            Source::Evaluated
        } else {
            Source::Cache
        })
    }
}

/// `Source` stored as the boolean `cached` (the format of `failed` journal events).
mod cached_flag {
    use super::Source;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(source: &Source, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(*source == Source::Cache)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Source, D::Error> {
        Ok(if bool::deserialize(d)? {
            Source::Cache
        } else {
            Source::Evaluated
        })
    }
}

/// Campaign counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Candidates committed.
    pub proposals: u64,
    /// Real evaluations (trainings or table lookups), cache hits excluded.
    pub evaluations: u64,
    /// Candidates answered by the cache.
    pub cache_hits: u64,
    /// Candidates that failed.
    pub failures: u64,
    /// Rounds committed.
    pub rounds: u64,
    /// Proposals in a row answered by the cache (reset by any real evaluation).
    #[serde(default)]
    pub consecutive_hits: u64,
    /// Candidates a screen, a warm-up or a halving rung stopped before the campaign's
    /// evaluator (they count as proposals, not as evaluations).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub screened: u64,
    /// Real evaluations by screens, warm-ups and lower rungs (cache hits excluded).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub screen_evaluations: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The best candidate so far.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Best {
    /// Genotype in the space's native notation.
    pub genotype: String,
    /// Its functional hash.
    pub functional_hash: FunctionalHash,
    /// Its fitness.
    pub fitness: f64,
    /// Every reported metric.
    pub metrics: BTreeMap<String, f64>,
    /// Proposal number (0-based) at which it was found.
    pub proposal: u64,
    /// The fidelity of its fitness (absent in stores written before fidelities: full).
    #[serde(default, skip_serializing_if = "is_full")]
    pub fidelity: Fidelity,
}

fn is_full(f: &Fidelity) -> bool {
    *f == Fidelity::Full
}

/// The stored campaign header.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignHeader {
    /// [`CAMPAIGN_SCHEMA`] when written.
    pub schema: u32,
    /// Campaign name.
    pub name: String,
    /// The config file, verbatim.
    pub config_toml: String,
    /// The config after command-line overrides, as parsed (compared on resume).
    pub effective_config: serde_json::Value,
    /// Lifecycle state.
    pub state: CampaignState,
    /// Why it finished, if it did.
    pub finish_reason: Option<FinishReason>,
    /// Counters.
    pub counters: Counters,
    /// Index of the next round.
    pub round: u64,
    /// Next journal sequence number.
    pub next_seq: u64,
    /// Best so far.
    pub best: Option<Best>,
    /// Running blake3 chain over (functional hash, fitness) of committed candidates.
    pub history_digest: String,
    /// Wall seconds spent running, over all sessions.
    pub elapsed_seconds: f64,
    /// Simulated seconds charged (table evaluators).
    pub simulated_seconds: f64,
    /// The strategy's state (population, counters) after the last committed round.
    pub strategy: serde_json::Value,
    /// Unix seconds at creation.
    pub created_unix: u64,
    /// Unix seconds at the last commit.
    pub updated_unix: u64,
    /// How candidates are evaluated (set when a session starts; absent in older stores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<StoredProtocol>,
    /// The functional-hash version the campaign runs under (absent in campaigns started before
    /// hash version 3: see [`Store::campaign_hash_version`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_version: Option<u32>,
}

impl CampaignHeader {
    /// The header of a campaign that has not run yet.
    pub fn new(
        name: &str,
        config_toml: &str,
        effective_config: serde_json::Value,
        now: u64,
    ) -> Self {
        CampaignHeader {
            schema: CAMPAIGN_SCHEMA,
            name: name.to_string(),
            config_toml: config_toml.to_string(),
            effective_config,
            state: CampaignState::Running,
            finish_reason: None,
            counters: Counters::default(),
            round: 0,
            next_seq: 0,
            best: None,
            history_digest: blake3::hash(b"evonas history v1").to_hex().to_string(),
            elapsed_seconds: 0.0,
            simulated_seconds: 0.0,
            strategy: serde_json::Value::Null,
            created_unix: now,
            updated_unix: now,
            protocol: None,
            hash_version: None,
        }
    }
}

/// The evaluation protocol of a campaign, kept in its header so results can be read back
/// (exports, retraining) without rebuilding the evaluator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredProtocol {
    /// The protocol's canonical description.
    pub description: serde_json::Value,
    /// Its fingerprint (the second half of the campaign's cache keys).
    pub fingerprint: Fingerprint,
    /// Its fidelity (absent in stores written before fidelities: full).
    #[serde(default, skip_serializing_if = "is_full")]
    pub fidelity: Fidelity,
    /// Input `[channels, height, width]` and class count the evaluator decodes networks for
    /// (training evaluators), if not the space's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<([u32; 3], u32)>,
}

/// One proposed candidate of the in-flight round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Genotype, in the space's native notation as JSON.
    pub genotype: serde_json::Value,
    /// Functional hash.
    pub hash: FunctionalHash,
    /// Whether the strategy drew it at random (not by mutation).
    pub random: bool,
}

/// The round whose proposals are written but not yet committed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Inflight {
    /// Round index.
    pub round: u64,
    /// Proposals in order.
    pub candidates: Vec<Candidate>,
}

/// An asynchronous campaign's proposals in flight (`[parallel] mode = "async"`): written with
/// every commit, so a killed coordinator resumes with the same proposals pending.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// The index the next proposal gets (proposal `i` draws from seeded stream `i`).
    pub next: u64,
    /// Proposals not yet answered, by index, in proposal order.
    pub proposals: Vec<(u64, Candidate)>,
}

/// How a slot of the in-flight round was answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlotResult {
    /// Whether a real evaluation produced it or the cache.
    #[serde(rename = "evaluated", with = "evaluated_flag")]
    pub source: Source,
    /// The outcome the search sees (a running mean under aggregation).
    pub outcome: Outcome,
}

/// A journal event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A session started or resumed.
    Session {
        /// Unix seconds.
        unix: u64,
        /// `start` or `resume`.
        how: String,
    },
    /// A candidate was proposed.
    Proposed {
        /// Round.
        round: u64,
        /// Position in the round.
        slot: u32,
        /// Genotype (native notation).
        genotype: String,
        /// Functional hash.
        hash: FunctionalHash,
    },
    /// A candidate was evaluated.
    Evaluated {
        /// Proposal number.
        proposal: u64,
        /// Functional hash.
        hash: FunctionalHash,
        /// Fitness the search saw.
        fitness: f64,
        /// Metrics.
        metrics: BTreeMap<String, f64>,
        /// Simulated seconds charged.
        simulated_seconds: f64,
    },
    /// A candidate was answered by the cache.
    CacheHit {
        /// Proposal number.
        proposal: u64,
        /// Functional hash.
        hash: FunctionalHash,
        /// Fitness served.
        fitness: f64,
        /// Metrics served.
        metrics: BTreeMap<String, f64>,
    },
    /// A candidate failed.
    Failed {
        /// Proposal number.
        proposal: u64,
        /// Functional hash.
        hash: FunctionalHash,
        /// The kind of failure (`other` in journals written before kinds existed).
        #[serde(default)]
        kind: FailureKind,
        /// Why.
        reason: String,
        /// Whether it was evaluated or served by the cache.
        #[serde(rename = "cached", with = "cached_flag")]
        source: Source,
    },
    /// A candidate was scored by a screening stage (a `[[screen]]`, a warm-up, a lower rung of
    /// successive halving or Hyperband). Whether it went on is the stage's promotion decision.
    Screened {
        /// Proposal number.
        proposal: u64,
        /// Functional hash.
        hash: FunctionalHash,
        /// The stage (index into the campaign's stages; 0 is its `[evaluator]`).
        stage: u32,
        /// The stage's fidelity.
        fidelity: Fidelity,
        /// Its score (None: it failed).
        fitness: Option<f64>,
        /// Simulated seconds charged for it.
        seconds: f64,
        /// Whether it was evaluated or served by the cache.
        #[serde(rename = "cached", with = "cached_flag")]
        source: Source,
        /// Promoted to the next stage.
        kept: bool,
    },
    /// A population member aged out (regularized evolution).
    AgedOut {
        /// Functional hash.
        hash: FunctionalHash,
        /// Genotype.
        genotype: String,
    },
    /// The session stopped on request.
    Interrupted,
    /// A budget was reached.
    Finished {
        /// Which.
        reason: FinishReason,
    },
}

impl Event {
    /// The functional hash the event is about, if any.
    pub fn hash(&self) -> Option<&FunctionalHash> {
        match self {
            Event::Proposed { hash, .. }
            | Event::Evaluated { hash, .. }
            | Event::CacheHit { hash, .. }
            | Event::Failed { hash, .. }
            | Event::Screened { hash, .. }
            | Event::AgedOut { hash, .. } => Some(hash),
            Event::Session { .. } | Event::Interrupted | Event::Finished { .. } => None,
        }
    }
}

fn header_key(name: &str) -> Vec<u8> {
    format!("c/{name}").into_bytes()
}

fn inflight_key(name: &str) -> Vec<u8> {
    format!("i/{name}").into_bytes()
}

fn pending_key(name: &str) -> Vec<u8> {
    format!("a/{name}").into_bytes()
}

fn slot_prefix(name: &str) -> Vec<u8> {
    format!("s/{name}/").into_bytes()
}

fn slot_key(name: &str, slot: u32) -> Vec<u8> {
    let mut k = slot_prefix(name);
    k.extend_from_slice(&slot.to_be_bytes());
    k
}

impl Commit {
    /// Writes the campaign header.
    pub fn put_header(&mut self, h: &CampaignHeader) {
        self.put(TreeId::Campaigns, header_key(&h.name), h);
    }

    /// Writes the in-flight round.
    pub fn put_inflight(&mut self, name: &str, inflight: &Inflight) {
        self.put(TreeId::Campaigns, inflight_key(name), inflight);
    }

    /// Writes an asynchronous campaign's pending proposals.
    pub fn put_pending(&mut self, name: &str, pending: &Pending) {
        self.put(TreeId::Campaigns, pending_key(name), pending);
    }

    /// Removes an asynchronous campaign's pending proposals (it finished).
    pub fn clear_pending(&mut self, name: &str) {
        self.remove(TreeId::Campaigns, pending_key(name));
    }

    /// Writes one slot result.
    pub fn put_slot(&mut self, name: &str, slot: u32, result: &SlotResult) {
        self.put(TreeId::Campaigns, slot_key(name, slot), result);
    }

    /// Clears the in-flight round and its slot results (those under keys `slots`).
    pub fn clear_inflight(&mut self, name: &str, slots: impl IntoIterator<Item = u32>) {
        self.remove(TreeId::Campaigns, inflight_key(name));
        for s in slots {
            self.remove(TreeId::Campaigns, slot_key(name, s));
        }
    }

    /// Appends events to the journal, advancing `next_seq`.
    pub fn append(&mut self, next_seq: &mut u64, events: &[Event]) {
        for e in events {
            self.put(TreeId::Journal, next_seq.to_be_bytes().to_vec(), e);
            *next_seq += 1;
        }
    }

    /// Adds a cache record write.
    pub fn put_record(&mut self, key: &CacheKey, record: &EvalRecord) {
        Store::cache_put(self, key, record);
    }
}

impl Store {
    /// The header of campaign `name`, if it exists.
    pub fn campaign(&self, name: &str) -> Result<Option<CampaignHeader>> {
        let h: Option<CampaignHeader> =
            self.get_json("campaigns", &format!("campaigns/{name}"), &header_key(name))?;
        if let Some(h) = &h {
            if h.schema > CAMPAIGN_SCHEMA {
                return Err(StoreError::NewerSchema {
                    dir: self.dir.clone(),
                    found: h.schema,
                });
            }
        }
        Ok(h)
    }

    /// Every campaign header, by name.
    pub fn campaigns(&self) -> Result<Vec<CampaignHeader>> {
        let mut out = Vec::new();
        for (k, v) in self.kv_scan("campaigns", b"c/")? {
            let label = String::from_utf8_lossy(&k).into_owned();
            out.push(self.decode(&label, &v)?);
        }
        Ok(out)
    }

    /// The functional-hash version campaign `h` runs under: the header's, or, for a campaign
    /// started before headers recorded it, the version of the first hash in its journal or
    /// in-flight round; None if it has none yet (any version continues it consistently).
    pub fn campaign_hash_version(&self, h: &CampaignHeader) -> Result<Option<u32>> {
        if let Some(v) = h.hash_version {
            return Ok(Some(v));
        }
        for (_, e) in self.journal(&h.name)? {
            if let Some(hash) = e.hash() {
                return Ok(Some(hash.version()));
            }
        }
        Ok(self
            .inflight(&h.name)?
            .and_then(|i| i.candidates.first().map(|c| c.hash.version())))
    }

    /// The in-flight round of a campaign, if any.
    pub fn inflight(&self, name: &str) -> Result<Option<Inflight>> {
        self.get_json(
            "campaigns",
            &format!("campaigns/i/{name}"),
            &inflight_key(name),
        )
    }

    /// An asynchronous campaign's pending proposals, if it has any stored.
    pub fn pending(&self, name: &str) -> Result<Option<Pending>> {
        self.get_json(
            "campaigns",
            &format!("campaigns/a/{name}"),
            &pending_key(name),
        )
    }

    /// Slot results of the in-flight round.
    pub fn slots(&self, name: &str) -> Result<BTreeMap<u32, SlotResult>> {
        let prefix = slot_prefix(name);
        let mut out = BTreeMap::new();
        for (k, v) in self.kv_scan("campaigns", &prefix)? {
            let tail = &k[prefix.len()..];
            let slot = <[u8; 4]>::try_from(tail)
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt {
                    dir: self.dir.clone(),
                    key: String::from_utf8_lossy(&k).into_owned(),
                    reason: "slot key is not 4 bytes".into(),
                })?;
            out.insert(
                slot,
                self.decode(&format!("campaigns/s/{name}/{slot}"), &v)?,
            );
        }
        Ok(out)
    }

    /// The damage "the stored in-flight round of `name` is not the round the campaign proposes
    /// again from its committed state" (a store written by another build, or tampered with).
    pub fn inflight_differs(&self, name: &str) -> StoreError {
        StoreError::Corrupt {
            dir: self.dir.clone(),
            key: format!("campaigns/{}", String::from_utf8_lossy(&inflight_key(name))),
            reason: "the in-flight round differs from what the campaign proposes again".into(),
        }
    }

    /// The sequence number the next journal event of `name` gets.
    pub fn journal_end(&self, name: &str) -> Result<u64> {
        match self.kv_last_key(&format!("journal/{name}"))? {
            Some(k) => <[u8; 8]>::try_from(k.as_slice())
                .map(|b| u64::from_be_bytes(b) + 1)
                .map_err(|_| StoreError::Corrupt {
                    dir: self.dir.clone(),
                    key: format!("journal/{name}"),
                    reason: "sequence key is not 8 bytes".into(),
                }),
            None => Ok(0),
        }
    }

    /// The whole journal of a campaign, in order.
    pub fn journal(&self, name: &str) -> Result<Vec<(u64, Event)>> {
        let mut out = Vec::new();
        for (k, v) in self.kv_scan(&format!("journal/{name}"), b"")? {
            let seq = <[u8; 8]>::try_from(k.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::Corrupt {
                    dir: self.dir.clone(),
                    key: format!("journal/{name}"),
                    reason: "sequence key is not 8 bytes".into(),
                })?;
            out.push((seq, self.decode(&format!("journal/{name}/{seq}"), &v)?));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::FinishReason;

    #[test]
    fn finish_reasons_read_back_what_they_print() {
        for r in [
            FinishReason::Evaluations(40),
            FinishReason::Proposals(7),
            FinishReason::SimulatedSeconds(30000.0),
            FinishReason::SimulatedSeconds(0.25),
            FinishReason::WallSeconds(1e-3),
            FinishReason::Stalled(50),
        ] {
            assert_eq!(r.to_string().parse::<FinishReason>(), Ok(r));
        }
        // The sentence stores wrote before the type existed.
        assert_eq!(
            "simulated-time budget of 30000 s reached".parse::<FinishReason>(),
            Ok(FinishReason::SimulatedSeconds(30000.0))
        );
        assert!("budget reached".parse::<FinishReason>().is_err());
        assert!("evaluation budget of x reached"
            .parse::<FinishReason>()
            .is_err());
    }
    /// Resuming reads counters such as simulated seconds back from JSON; a last-bit change
    /// would make a resumed campaign differ from the uninterrupted one (serde_json needs its
    /// `float_roundtrip` feature for this).
    #[test]
    fn floats_survive_the_json_round_trip_bit_for_bit() {
        let mut x = 0.0f64;
        for i in 0..10_000 {
            x += 12.0 * (1.0 + f64::from(i).sqrt() / 7.0);
            let text = serde_json::to_string(&x).expect("serialise");
            let back: f64 = serde_json::from_str(&text).expect("parse");
            assert_eq!(back.to_bits(), x.to_bits(), "{x} -> {text} -> {back}");
        }
    }
}
