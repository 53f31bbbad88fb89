//! Evaluators: what a candidate scores. An [`Evaluator`] turns a decoded network (and its
//! genotype) into an [`Outcome`]; its [`Protocol`] says exactly how, and its fingerprint is half
//! of every cache key, so a result obtained one way never answers a query made another way.
//!
//! `eval` sits below `store`: the store persists [`EvalRecord`]s without evaluators knowing
//! about sled.

pub mod data;
pub mod job;
pub mod machine;
pub mod memory;
pub mod mock;
pub mod registry;
pub mod table;
pub mod train;
pub mod zero_cost;

pub use crate::fidelity::Fidelity;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::hash::FunctionalHash;
use crate::ir::Network;
use crate::space::{AnyGenotype, AnySpace};

/// One evaluation to perform.
#[derive(Clone, Copy, Debug)]
pub struct Task<'a> {
    /// The candidate's space.
    pub space: &'a AnySpace,
    /// The candidate's genotype.
    pub genotype: &'a AnyGenotype,
    /// The decoded network.
    pub network: &'a Network,
    /// Its functional hash.
    pub hash: FunctionalHash,
    /// How many evaluations of this candidate's function came before (noise streams differ).
    pub repeat: u32,
}

/// What an evaluation produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// A score.
    Done {
        /// What the search maximises (e.g. validation accuracy in %).
        fitness: f64,
        /// Every reported metric (e.g. `valid_accuracy`, `test_accuracy`).
        metrics: BTreeMap<String, f64>,
        /// Per-epoch series (e.g. `train_loss`), for training evaluators.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        curves: BTreeMap<String, Vec<f64>>,
        /// Simulated training seconds charged (table evaluators), else 0.
        simulated_seconds: f64,
        /// Wall seconds the evaluation took.
        wall_seconds: f64,
    },
    /// The candidate could not be evaluated; the reason is recorded and the search goes on.
    Failed {
        /// What kind of failure (records written before kinds existed read as `other`).
        #[serde(default)]
        kind: FailureKind,
        /// Why, in words (diverged at which step, how much memory, ...).
        reason: String,
    },
}

/// Why a candidate could not be scored, as a kind a program can act on (the message says the
/// details).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Training diverged (a non-finite loss).
    Diverged,
    /// The evaluation needed or used more memory than its limit.
    OutOfMemory,
    /// A table evaluator has no entry for the architecture.
    NotInTable,
    /// The evaluator cannot score this network (another space, input shape or class count).
    Unsupported,
    /// Deliberate (a mock evaluator's `fail_fraction`).
    Injected,
    /// Anything else, and failures recorded before kinds existed.
    #[default]
    Other,
}

impl FailureKind {
    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Diverged => "diverged",
            FailureKind::OutOfMemory => "out_of_memory",
            FailureKind::NotInTable => "not_in_table",
            FailureKind::Unsupported => "unsupported",
            FailureKind::Injected => "injected",
            FailureKind::Other => "other",
        }
    }
}

impl Outcome {
    /// A failure of `kind`, said as `reason`.
    pub fn failed(kind: FailureKind, reason: impl Into<String>) -> Self {
        Outcome::Failed {
            kind,
            reason: reason.into(),
        }
    }

    /// The fitness, if the evaluation succeeded.
    pub fn fitness(&self) -> Option<f64> {
        match self {
            Outcome::Done { fitness, .. } => Some(*fitness),
            Outcome::Failed { .. } => None,
        }
    }
}

/// A precise description of how evaluations are made (data set, split, epochs, noise, ...).
/// Its fingerprint goes into every cache key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Protocol {
    /// Canonical description (keys sorted by serde_json's map).
    pub description: serde_json::Value,
    /// How much of a full evaluation it spends. The description must determine it (a training
    /// protocol's description holds its epochs), so two fidelities are two fingerprints and one
    /// cache holds a function's results at each, apart.
    #[serde(default)]
    pub fidelity: Fidelity,
}

impl Protocol {
    /// A protocol at full fidelity.
    pub fn new(description: serde_json::Value) -> Self {
        Protocol {
            description,
            fidelity: Fidelity::Full,
        }
    }

    /// The same protocol at `fidelity`.
    pub fn at(self, fidelity: Fidelity) -> Self {
        Protocol { fidelity, ..self }
    }

    /// blake3 of the canonical JSON description.
    pub fn fingerprint(&self) -> Fingerprint {
        // A `Value` always serialises (its map keys are strings).
        let text = self.description.to_string();
        Fingerprint(*blake3::hash(text.as_bytes()).as_bytes())
    }

    /// Hex of the first 8 fingerprint bytes, for display.
    pub fn short(&self) -> String {
        self.fingerprint().short()
    }
}

/// A protocol's fingerprint: blake3 of its canonical description, the second half of every
/// cache key. Stored and printed as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The 32 bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// From the 32 bytes (as read from a cache key).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Fingerprint(bytes)
    }

    /// Parses the printed form (64 hex digits).
    pub fn parse(text: &str) -> Option<Self> {
        crate::hex::decode32(text).map(Fingerprint)
    }

    /// Hex of the first 8 bytes: how reports and `cache stats` name a protocol.
    pub fn short(&self) -> String {
        crate::hex::encode(&self.0[..8])
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::hex::encode(&self.0))
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Fingerprint::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a protocol fingerprint (expected 64 hex digits)"
            ))
        })
    }
}

/// Something that scores candidates. Implementations must not panic on any candidate: a
/// candidate that cannot be evaluated is an [`Outcome::Failed`].
pub trait Evaluator: Send + Sync {
    /// How evaluations are made.
    fn protocol(&self) -> &Protocol;
    /// Scores one candidate.
    fn evaluate(&self, task: &Task<'_>) -> Outcome;
    /// The input shape (`[channels, height, width]`) and class count the networks must have,
    /// when the evaluator trains on data; the campaign decodes its space for them.
    fn input(&self) -> Option<([u32; 3], u32)> {
        None
    }
    /// Where evaluations run (training evaluators: CPU, instruction set, GPU, library), kept
    /// in each record they make.
    fn machine(&self) -> Option<machine::Machine> {
        None
    }
}

/// Current evaluation-record schema; records from a newer schema are refused.
pub const RECORD_SCHEMA: u32 = 1;

/// The cached result for one (function, protocol): possibly several evaluations' mean.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// [`RECORD_SCHEMA`] when written.
    pub schema: u32,
    /// Number of evaluations aggregated.
    pub evaluations: u32,
    /// Mean fitness over the evaluations (None if the candidate failed).
    pub fitness: Option<f64>,
    /// Mean of each metric.
    pub metrics: BTreeMap<String, f64>,
    /// Per-epoch series of the latest evaluation (training evaluators).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub curves: BTreeMap<String, Vec<f64>>,
    /// Why evaluation failed, if it did.
    pub failure: Option<String>,
    /// The kind of that failure (absent in records written before kinds existed: `other`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_kind: Option<FailureKind>,
    /// Parameter count of the evaluated network.
    pub params: u64,
    /// FLOPs of the evaluated network.
    pub flops: u64,
    /// Total simulated seconds charged.
    pub simulated_seconds: f64,
    /// Total wall seconds spent.
    pub wall_seconds: f64,
    /// The genotype first evaluated, in its space's notation.
    pub genotype: String,
    /// Its space.
    pub space: String,
    /// The knobs and input the genotype was decoded with (absent in records written before
    /// hash version 3: `evonas cache rehash` then finds them in the store's campaigns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded_with: Option<DecodeContext>,
    /// Where the latest evaluation ran (training evaluators; absent in older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<machine::Machine>,
    /// evonas version that wrote the record.
    pub evonas_version: String,
    /// Seconds since the Unix epoch when first written.
    pub created_unix: u64,
    /// Seconds since the Unix epoch when last updated.
    pub updated_unix: u64,
}

/// What, besides the space and the genotype, decides the network a record measured: enough to
/// decode it again and compute its hash under another algorithm version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecodeContext {
    /// Width and depth knobs.
    #[serde(default, skip_serializing_if = "crate::space::Knobs::is_empty")]
    pub knobs: crate::space::Knobs,
    /// Input `[channels, height, width]` and class count, if the evaluator set them (training
    /// evaluators); absent: the space's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<([u32; 3], u32)>,
}

impl EvalRecord {
    /// A record holding one outcome of a network of `cost`, genotype `genotype` (one-line
    /// notation) in `space`.
    pub fn first(outcome: &Outcome, cost: crate::ir::Cost, space: &str, genotype: String) -> Self {
        let now = unix_now();
        let mut r = EvalRecord {
            schema: RECORD_SCHEMA,
            evaluations: 0,
            fitness: None,
            metrics: BTreeMap::new(),
            curves: BTreeMap::new(),
            failure: None,
            failure_kind: None,
            params: cost.params,
            flops: cost.flops,
            simulated_seconds: 0.0,
            wall_seconds: 0.0,
            genotype,
            space: space.to_string(),
            decoded_with: None,
            machine: None,
            evonas_version: env!("CARGO_PKG_VERSION").to_string(),
            created_unix: now,
            updated_unix: now,
        };
        r.add(outcome);
        r
    }

    /// Folds one more outcome into the running means.
    pub fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Done {
                fitness,
                metrics,
                curves,
                simulated_seconds,
                wall_seconds,
            } => {
                self.curves = curves.clone();
                let n = f64::from(self.evaluations);
                let mean = |old: f64, new: f64| (old * n + new) / (n + 1.0);
                self.fitness = Some(mean(self.fitness.unwrap_or(0.0), *fitness));
                for (k, v) in metrics {
                    let old = self.metrics.get(k).copied().unwrap_or(0.0);
                    self.metrics.insert(k.clone(), mean(old, *v));
                }
                self.failure = None;
                self.failure_kind = None;
                self.simulated_seconds += simulated_seconds;
                self.wall_seconds += wall_seconds;
            }
            Outcome::Failed { kind, reason } => {
                self.failure = Some(reason.clone());
                self.failure_kind = Some(*kind);
            }
        }
        self.evaluations += 1;
        self.updated_unix = unix_now();
    }

    /// Folds another record of the same function into this one, as if its evaluations had been
    /// made here (two measurements of one function are two evaluations of it): counts and
    /// costs add up, fitness and metrics become the means weighted by evaluation counts, over
    /// the records that have a result. Genotype, space and cost stay this record's; the curves
    /// are the more recently updated record's.
    pub fn merge(&mut self, other: &EvalRecord) {
        let ok = |r: &EvalRecord| r.failure.is_none() && r.fitness.is_some();
        match (ok(self), ok(other)) {
            (true, true) => {
                let (a, b) = (f64::from(self.evaluations), f64::from(other.evaluations));
                let mean = |x: f64, y: f64| (x * a + y * b) / (a + b);
                self.fitness = Some(mean(
                    self.fitness.unwrap_or_default(),
                    other.fitness.unwrap_or_default(),
                ));
                for (k, v) in &other.metrics {
                    let merged = match self.metrics.get(k) {
                        Some(mine) => mean(*mine, *v),
                        None => *v,
                    };
                    self.metrics.insert(k.clone(), merged);
                }
            }
            (false, true) => {
                self.fitness = other.fitness;
                self.metrics = other.metrics.clone();
                self.failure = None;
                self.failure_kind = None;
            }
            (_, false) => {}
        }
        if other.updated_unix > self.updated_unix {
            self.curves = other.curves.clone();
        }
        self.evaluations += other.evaluations;
        self.simulated_seconds += other.simulated_seconds;
        self.wall_seconds += other.wall_seconds;
        self.decoded_with = self.decoded_with.or(other.decoded_with);
        self.created_unix = self.created_unix.min(other.created_unix);
        self.updated_unix = self.updated_unix.max(other.updated_unix);
    }

    /// The outcome this record serves on a cache hit (no cost: hits are free).
    pub fn as_hit(&self) -> Outcome {
        match (self.fitness, &self.failure) {
            (Some(fitness), None) => Outcome::Done {
                fitness,
                metrics: self.metrics.clone(),
                curves: self.curves.clone(),
                simulated_seconds: 0.0,
                wall_seconds: 0.0,
            },
            (_, Some(reason)) => Outcome::Failed {
                kind: self.failure_kind.unwrap_or_default(),
                reason: reason.clone(),
            },
            (None, None) => Outcome::failed(FailureKind::Other, "record without a result"),
        }
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A panic's message (what `panic!` was given), for recording it as a failure.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(fitness: f64, acc: f64, seconds: f64) -> Outcome {
        Outcome::Done {
            fitness,
            metrics: BTreeMap::from([("acc".to_string(), acc)]),
            curves: BTreeMap::new(),
            simulated_seconds: seconds,
            wall_seconds: 0.0,
        }
    }

    fn record(outcomes: &[Outcome]) -> EvalRecord {
        let cost = crate::ir::Cost {
            params: 10,
            flops: 20,
        };
        let mut r = EvalRecord::first(&outcomes[0], cost, "nb201", "g".into());
        for o in &outcomes[1..] {
            r.add(o);
        }
        r
    }

    #[test]
    fn merging_two_records_is_evaluating_one_function_in_both_places() {
        // 2 evaluations (mean 10) + 1 evaluation (40) = 3 evaluations of mean 20.
        let mut a = record(&[done(5.0, 1.0, 1.0), done(15.0, 3.0, 1.0)]);
        let b = record(&[done(40.0, 8.0, 2.0)]);
        a.merge(&b);
        assert_eq!(a.evaluations, 3);
        assert_eq!(a.fitness, Some(20.0));
        assert_eq!(a.metrics["acc"], 4.0);
        assert_eq!(a.simulated_seconds, 4.0);
        assert_eq!(a, {
            let mut all = record(&[
                done(5.0, 1.0, 1.0),
                done(15.0, 3.0, 1.0),
                done(40.0, 8.0, 2.0),
            ]);
            all.created_unix = a.created_unix;
            all.updated_unix = a.updated_unix;
            all
        });
        // A failed record adds its evaluations but not a result; a result beats a failure.
        let failed = record(&[Outcome::failed(FailureKind::Diverged, "nan")]);
        let mut c = a.clone();
        c.merge(&failed);
        assert_eq!(
            (c.evaluations, c.fitness, c.failure.clone()),
            (4, Some(20.0), None)
        );
        let mut d = failed.clone();
        d.merge(&a);
        assert_eq!((d.evaluations, d.fitness, d.failure), (4, Some(20.0), None));
    }
}
