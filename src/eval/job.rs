//! Owned evaluation jobs: everything an evaluation needs, by value, so it can be written to a
//! queue and run by any process holding the same [`Registry`]. [`Runner::run`] checks a job is
//! meant for its runner, then calls [`Runner::evaluate`]; the campaign calls `evaluate` itself
//! for its own candidates, so there is one way to turn a candidate into an [`Outcome`].
//!
//! A job carries no separate seed: an evaluation's seed is a function of the protocol's own
//! settings (`seed`, `seed_policy`), the functional hash and the repeat index, so every process
//! derives the same one, and a job run twice gives the same outcome.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::registry::{EvaluatorSpec, Registry, SpecError};
use super::{Evaluator, Fingerprint, Outcome, Task};
use crate::hash::FunctionalHash;
use crate::ir::Cost;
use crate::space::{AnySpace, Knobs, SpaceError, BUILTIN};

/// Job schema written by this build; a runner refuses jobs of a newer one.
pub const JOB_SCHEMA: u32 = 1;

/// Where a job's space comes from: a built-in name, or the text of a space file (a path would
/// not mean the same on another machine).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpaceSource {
    /// A built-in space (`nb201`, `nasnet`, ...).
    Builtin(String),
    /// A space TOML file's text, with the name it was loaded under (for messages).
    Toml {
        /// The file's name as the campaign gave it.
        name: String,
        /// Its contents.
        text: String,
    },
}

impl SpaceSource {
    /// The source of `name_or_path` (what a campaign config's `space` holds): reads the file
    /// when it is not a built-in name.
    pub fn of(name_or_path: &str) -> Result<SpaceSource, SpaceError> {
        if BUILTIN.iter().any(|(n, _)| *n == name_or_path) {
            return Ok(SpaceSource::Builtin(name_or_path.to_string()));
        }
        match crate::limits::read_text(std::path::Path::new(name_or_path)) {
            Ok(text) => Ok(SpaceSource::Toml {
                name: name_or_path.to_string(),
                text,
            }),
            // `load` says precisely what is wrong with a name that is neither a built-in space
            // nor a readable file.
            Err(e) => Err(AnySpace::load(name_or_path)
                .err()
                .unwrap_or(SpaceError::Config {
                    source_name: name_or_path.to_string(),
                    message: format!("cannot read the file: {e}"),
                })),
        }
    }

    /// The space.
    pub fn load(&self) -> Result<AnySpace, SpaceError> {
        match self {
            SpaceSource::Builtin(name) => AnySpace::builtin(name),
            SpaceSource::Toml { name, text } => AnySpace::from_toml(text, name),
        }
    }
}

/// The space candidates of `source` decode in under `knobs`, for an evaluator's `input` shape
/// and class count (None: the space's own).
pub fn decoding_space(
    source: &SpaceSource,
    knobs: &Knobs,
    input: Option<([u32; 3], u32)>,
) -> Result<AnySpace, SpaceError> {
    let space = source.load()?.with_knobs(knobs);
    Ok(match input {
        Some((input, classes)) => space.with_io(input, classes),
        None => space,
    })
}

/// One evaluation to perform, owned and serialisable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// [`JOB_SCHEMA`] when written.
    pub schema: u32,
    /// The candidate's space.
    pub space: SpaceSource,
    /// Width and depth knobs applied to the space.
    #[serde(default, skip_serializing_if = "Knobs::is_empty")]
    pub knobs: Knobs,
    /// The genotype in the space's native notation (as campaigns store it).
    pub genotype: serde_json::Value,
    /// The evaluator, as the registry builds it.
    pub evaluator: EvaluatorSpec,
    /// The fingerprint of the protocol the result will be cached under; a runner whose
    /// evaluator has another refuses the job rather than answer for the wrong protocol.
    pub protocol: Fingerprint,
    /// The candidate's functional hash. A runner whose hash algorithm has another version
    /// refuses the job: its result would be cached under a key the campaign never asks for.
    pub hash: FunctionalHash,
    /// How many evaluations of this function came before (noise and seeds differ per repeat).
    pub repeat: u32,
}

/// The part of a job that changes from candidate to candidate, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct JobParts<'a> {
    /// The candidate's space.
    pub space: &'a SpaceSource,
    /// Knobs applied to it.
    pub knobs: &'a Knobs,
    /// The genotype in native notation.
    pub genotype: &'a serde_json::Value,
    /// Its functional hash.
    pub hash: FunctionalHash,
    /// Evaluations of this function before this one.
    pub repeat: u32,
}

impl Job {
    /// The candidate this job evaluates.
    pub fn parts(&self) -> JobParts<'_> {
        JobParts {
            space: &self.space,
            knobs: &self.knobs,
            genotype: &self.genotype,
            hash: self.hash,
            repeat: self.repeat,
        }
    }
}

/// What running a job produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The outcome.
    pub outcome: Outcome,
    /// Parameters and FLOPs of the evaluated network.
    pub cost: Cost,
    /// The space's name.
    pub space: String,
    /// The genotype in the space's one-line notation.
    pub genotype: String,
    /// The knobs and input it was decoded with.
    pub decoded_with: crate::eval::DecodeContext,
    /// Where it ran (training evaluators).
    pub machine: Option<crate::eval::machine::Machine>,
}

impl Evaluation {
    /// The cache record of a function evaluated once, by this evaluation.
    pub fn first_record(&self) -> crate::eval::EvalRecord {
        let mut r = crate::eval::EvalRecord::first(
            &self.outcome,
            self.cost,
            &self.space,
            self.genotype.clone(),
        );
        r.decoded_with = Some(self.decoded_with);
        r.machine = self.machine.clone();
        r
    }
}

/// Why a job could not be run (as opposed to a candidate that failed, which is an
/// [`Outcome::Failed`]).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job was written by a newer evonas.
    #[error("job schema {found} is newer than this build's ({JOB_SCHEMA}); upgrade evonas")]
    NewerSchema {
        /// The job's schema.
        found: u32,
    },
    /// The job's evaluator cannot be built here.
    #[error(transparent)]
    Evaluator(#[from] SpecError),
    /// This runner was built for another evaluator.
    #[error("the job asks for evaluator {asked:?}, this runner has {have:?}")]
    OtherEvaluator {
        /// The job's evaluator kind.
        asked: String,
        /// The runner's.
        have: String,
    },
    /// The evaluator built here has another protocol fingerprint than the job's.
    #[error("protocol mismatch: the job's is {job}, this process's evaluator has {here} (another evonas version, data set or settings)")]
    Protocol {
        /// The job's fingerprint.
        job: Fingerprint,
        /// This process's.
        here: Fingerprint,
    },
    /// The space or genotype does not decode.
    #[error(transparent)]
    Space(#[from] SpaceError),
    /// The job's hash was made by a version of the hash algorithm this build cannot compute.
    #[error("the job's functional hash {job} is of hash version {}, this evonas computes versions {} to {here} (another evonas version)", job.digest().version(), crate::hash::functional::OLDEST)]
    HashVersion {
        /// The job's hash.
        job: FunctionalHash,
        /// The newest hash version this build computes.
        here: u32,
    },
}

/// Runs jobs of one evaluator: holds the evaluator and the spaces already loaded.
pub struct Runner {
    spec: EvaluatorSpec,
    evaluator: Box<dyn Evaluator>,
    fingerprint: Fingerprint,
    spaces: Mutex<HashMap<(SpaceSource, Knobs), Arc<AnySpace>>>,
}

impl Runner {
    /// A runner for the evaluator `spec` describes, built from `registry`.
    pub fn new(spec: &EvaluatorSpec, registry: &Registry) -> Result<Runner, JobError> {
        let evaluator = spec.build(registry)?;
        Ok(Runner::with_evaluator(spec.clone(), evaluator))
    }

    /// A runner around an evaluator already built from `spec`.
    pub fn with_evaluator(spec: EvaluatorSpec, evaluator: Box<dyn Evaluator>) -> Runner {
        Runner {
            spec,
            fingerprint: evaluator.protocol().fingerprint(),
            evaluator,
            spaces: Mutex::new(HashMap::new()),
        }
    }

    /// The spec the evaluator was built from.
    pub fn spec(&self) -> &EvaluatorSpec {
        &self.spec
    }

    /// The evaluator.
    pub fn evaluator(&self) -> &dyn Evaluator {
        self.evaluator.as_ref()
    }

    /// The space `job` decodes in: its source with its knobs, for the evaluator's input shape.
    pub fn space(&self, source: &SpaceSource, knobs: &Knobs) -> Result<Arc<AnySpace>, SpaceError> {
        // A poisoned lock only means another job panicked while inserting; the map is fine.
        let mut spaces = self.spaces.lock().unwrap_or_else(|p| p.into_inner());
        // Looked up by reference: a campaign runs thousands of jobs of one space per second.
        if let Some((_, s)) = spaces
            .iter()
            .find(|((src, k), _)| src == source && k == knobs)
        {
            return Ok(Arc::clone(s));
        }
        let space = Arc::new(decoding_space(source, knobs, self.evaluator.input())?);
        spaces.insert((source.clone(), *knobs), Arc::clone(&space));
        Ok(space)
    }

    /// Runs `job`: checks it is meant for this evaluator (spec, protocol fingerprint, hash
    /// version), decodes the candidate and evaluates it.
    pub fn run(&self, job: &Job) -> Result<Evaluation, JobError> {
        if job.schema > JOB_SCHEMA {
            return Err(JobError::NewerSchema { found: job.schema });
        }
        if job.evaluator != self.spec {
            return Err(JobError::OtherEvaluator {
                asked: job.evaluator.kind.clone(),
                have: self.spec.kind.clone(),
            });
        }
        if job.protocol != self.fingerprint {
            return Err(JobError::Protocol {
                job: job.protocol,
                here: self.fingerprint,
            });
        }
        // A campaign started under an older (still computable) version keeps its hashes.
        let here = crate::hash::functional::VERSION;
        let oldest = crate::hash::functional::OLDEST;
        if !(oldest..=here).contains(&job.hash.version()) {
            return Err(JobError::HashVersion {
                job: job.hash,
                here,
            });
        }
        self.evaluate(job.parts())
    }

    /// Evaluates the candidate `parts` describes. [`Runner::run`] checks a job first; the
    /// campaign calls this directly for its own candidates, since its runner was built from
    /// its own spec (the checks would compare the campaign with itself), and cloning the spec
    /// into a job per evaluation cost ~8% of a table campaign's throughput.
    pub fn evaluate(&self, parts: JobParts<'_>) -> Result<Evaluation, JobError> {
        let space = self.space(parts.space, parts.knobs)?;
        let genotype = space.parse_value(parts.genotype)?;
        let network = space.decode(&genotype)?;
        let outcome = self.evaluator.evaluate(&Task {
            space: &space,
            genotype: &genotype,
            network: &network,
            hash: parts.hash,
            repeat: parts.repeat,
        });
        Ok(Evaluation {
            outcome,
            cost: crate::ir::cost(&network),
            space: space.name().to_string(),
            genotype: space.format(&genotype)?,
            decoded_with: crate::eval::DecodeContext {
                knobs: *parts.knobs,
                input: self.evaluator.input(),
            },
            machine: self.evaluator.machine(),
        })
    }
}
