//! The campaign config file (TOML), parsed once into typed settings.
//!
//! ```toml
//! name = "nb201-rea"
//! space = "nb201"
//! seed = 0
//! [strategy]
//! kind = "regularized-evolution"   # or "random"
//! population = 10
//! sample = 3
//! [budget]
//! simulated_seconds = 12000        # or evaluations / proposals / wall_seconds
//! [evaluator]
//! kind = "nb201-table"
//! path = "../shared/data/nb201"
//! dataset = "cifar10-valid"
//! [cache]
//! policy = "once"                  # off | once | aggregate:N | forgetful:P
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::eval::registry::EvaluatorSpec;
use crate::eval::registry::Registry;
pub use crate::search::stages::{HalvingConfig, Keep, ScreenConfig, WarmupConfig};
use crate::space::Knobs;
use crate::store::cache::CachePolicy;

/// The built-in campaign `evonas search` runs without a config.
pub const QUICKSTART: &str = include_str!("../../experiments/quickstart/synthetic.toml");

/// Regularized-evolution settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvolutionConfig {
    /// Population size P.
    pub population: usize,
    /// Tournament size S.
    pub sample: usize,
    /// Draw the tournament with replacement (NATS-Bench draws without).
    #[serde(default)]
    pub replacement: bool,
    /// Re-mutate a child whose functional hash equals its parent's, up to this many times
    /// (0: off).
    #[serde(default)]
    pub mutate_until_new: u32,
    /// After this many consecutive children whose hashes are already known, propose a random
    /// sample instead (0: off).
    #[serde(default)]
    pub dedup_patience: u32,
    /// Zero-cost warm-up (Abdelfattah et al. 2021): the first round scores `pool` random
    /// architectures with a cheap evaluator and the best `population` start the population.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<WarmupConfig>,
    /// Start the population from the best `population` functions the cache already holds under
    /// this campaign's protocol and space (what earlier campaigns learned), topped up at random.
    #[serde(default, skip_serializing_if = "is_false")]
    pub warm_start: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `[strategy]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum StrategyConfig {
    /// Aging evolution (Real et al. 2019).
    #[serde(rename = "regularized-evolution")]
    RegularizedEvolution(EvolutionConfig),
    /// Uniform random sampling.
    #[serde(rename = "random")]
    Random,
    /// Successive halving (Jamieson & Talwalkar 2016): each round trains random architectures
    /// for `min_epochs` and promotes the best 1/eta, eta times longer, up to `max_epochs`.
    #[serde(rename = "successive-halving")]
    SuccessiveHalving(HalvingConfig),
    /// Hyperband (Li et al. 2018): successive halving over brackets that trade how many
    /// architectures against how long each first trains; round r runs bracket r mod (s_max+1).
    #[serde(rename = "hyperband")]
    Hyperband(HalvingConfig),
}

fn ten_thousand() -> u64 {
    10_000
}

/// `[budget]`: the first one reached stops the campaign.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// Real evaluations (cache hits are free).
    pub evaluations: Option<u64>,
    /// Proposals, hits included.
    pub proposals: Option<u64>,
    /// Wall-clock seconds over all sessions.
    pub wall_seconds: Option<f64>,
    /// Simulated training seconds (table evaluators).
    pub simulated_seconds: Option<f64>,
    /// Stop when this many proposals in a row were answered by the cache: the strategy only
    /// proposes functions it already knows, and hits cost no budget (0: never).
    #[serde(default = "ten_thousand")]
    pub max_consecutive_hits: u64,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig {
            evaluations: None,
            proposals: None,
            wall_seconds: None,
            simulated_seconds: None,
            max_consecutive_hits: ten_thousand(),
        }
    }
}

/// `[cache]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// The policy.
    pub policy: CachePolicy,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            policy: CachePolicy::Once,
        }
    }
}

fn one() -> usize {
    1
}

/// `[parallel]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParallelConfig {
    /// Candidates proposed per round (K); 1 is the classic sequential algorithm. The campaign is
    /// deterministic for a given K whatever the thread count.
    #[serde(default = "one")]
    pub round_size: usize,
    /// Evaluation threads (default: all cores; with `devices`, one per device).
    #[serde(default)]
    pub threads: Option<usize>,
    /// Training devices (`["cuda:0", "cuda:1"]`), one evaluation on each at a time; a round's
    /// candidates spread over them. Fills a training evaluator's `devices` (backend `tch`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    /// A work queue (`redis://HOST:PORT/DB`, `rediss://...`; the password comes from
    /// `EVONAS_REDIS_PASSWORD`): cache misses become jobs for `evonas worker` processes instead
    /// of being evaluated here. Where the work runs changes no result, so it is not part of the
    /// campaign's identity (never stored; give it again, or `--queue`, when resuming).
    #[serde(default, skip_serializing)]
    pub queue: Option<String>,
    /// With a queue: a job delivered this many times without an answer (each worker that took
    /// it died) is recorded as a failure instead of being delivered again.
    #[serde(default = "three", skip_serializing_if = "is_three")]
    pub max_deliveries: u32,
    /// `rounds` (default): propose `round_size` candidates, evaluate them, commit them in
    /// proposal order; reproducible bit for bit whatever the threads or workers. `async`
    /// (needs a queue): keep `in_flight` evaluations running and propose the next candidate
    /// whenever one finishes (asynchronous aging evolution, Real et al. 2019); no worker waits
    /// for a round's slowest job, but the order in which jobs finish decides the search, so
    /// two runs differ, as with other asynchronous optimisers.
    #[serde(default, skip_serializing_if = "Mode::is_rounds")]
    pub mode: Mode,
    /// Async mode: evaluations kept in flight (about the number of workers' threads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<usize>,
}

/// How a campaign schedules its evaluations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Synchronous rounds of `round_size`.
    #[default]
    Rounds,
    /// Asynchronous: `in_flight` evaluations running at all times.
    Async,
}

impl Mode {
    fn is_rounds(&self) -> bool {
        *self == Mode::Rounds
    }
}

fn three() -> u32 {
    3
}

fn is_three(n: &u32) -> bool {
    *n == 3
}

impl Default for ParallelConfig {
    fn default() -> Self {
        ParallelConfig {
            round_size: 1,
            threads: None,
            devices: Vec::new(),
            queue: None,
            max_deliveries: three(),
            mode: Mode::Rounds,
            in_flight: None,
        }
    }
}

/// A campaign config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignConfig {
    /// Campaign name (unique within a store).
    pub name: String,
    /// Space: a built-in name or a path to a space TOML file.
    pub space: String,
    /// Seed of every random choice of the search.
    #[serde(default)]
    pub seed: u64,
    /// Width/depth knobs applied to the space's skeleton.
    #[serde(default, skip_serializing_if = "Knobs::is_empty")]
    pub knobs: Knobs,
    /// Search strategy.
    pub strategy: StrategyConfig,
    /// Stopping budgets.
    pub budget: BudgetConfig,
    /// How candidates are scored.
    pub evaluator: EvaluatorSpec,
    /// Screening stages before `[evaluator]` (`[[screen]]`, in order): each scores the round's
    /// remaining candidates and keeps the best.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub screen: Vec<ScreenConfig>,
    /// Cache policy.
    #[serde(default)]
    pub cache: CacheConfig,
    /// Round size and threads.
    #[serde(default)]
    pub parallel: ParallelConfig,
    /// Functional-hash algorithm version (default: the newest). An older one replays a
    /// campaign exactly as the evonas of that version ran it; a campaign keeps the version it
    /// started with when resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_version: Option<u32>,
}

/// Why a config is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Unreadable file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Not valid TOML, or a key is unknown, missing or of the wrong type.
    #[error("{origin}: {message}")]
    Parse {
        /// File path or `<config>`.
        origin: String,
        /// What is wrong (with line and key).
        message: String,
    },
    /// A value is out of range.
    #[error("{origin}: {message}")]
    Invalid {
        /// File path or `<config>`.
        origin: String,
        /// What is wrong.
        message: String,
    },
}

impl CampaignConfig {
    /// Parses config text with the built-in evaluator kinds; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        Self::parse_with(text, origin, &Registry::builtin())
    }

    /// Parses config text, reading `[evaluator]` with `registry`.
    pub fn parse_with(text: &str, origin: &str, registry: &Registry) -> Result<Self, ConfigError> {
        Self::parse_in(text, origin, registry, None)
    }

    fn parse_in(
        text: &str,
        origin: &str,
        registry: &Registry,
        base: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let mut config: CampaignConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        config
            .evaluator
            .normalize(registry, base)
            .map_err(|e| ConfigError::Invalid {
                origin: origin.to_string(),
                message: format!("[evaluator] {e}"),
            })?;
        for (i, s) in config.screen.iter_mut().enumerate() {
            s.evaluator
                .normalize(registry, base)
                .map_err(|e| ConfigError::Invalid {
                    origin: origin.to_string(),
                    message: format!("[[screen]] {}: evaluator {e}", i + 1),
                })?;
        }
        if let StrategyConfig::RegularizedEvolution(EvolutionConfig {
            warmup: Some(w), ..
        }) = &mut config.strategy
        {
            w.evaluator
                .normalize(registry, base)
                .map_err(|e| ConfigError::Invalid {
                    origin: origin.to_string(),
                    message: format!("[strategy.warmup] evaluator {e}"),
                })?;
        }
        config.check(origin)?;
        Ok(config)
    }

    /// Reads and parses a config file with the built-in evaluator kinds.
    pub fn load(path: &Path) -> Result<(Self, String), ConfigError> {
        Self::load_with(path, &Registry::builtin())
    }

    /// Reads and parses a config file; relative evaluator paths that do not exist from the
    /// current directory are taken relative to the file's folder.
    pub fn load_with(path: &Path, registry: &Registry) -> Result<(Self, String), ConfigError> {
        let text = crate::limits::read_text(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let config = Self::parse_in(&text, &path.display().to_string(), registry, Some(dir))?;
        Ok((config, text))
    }

    /// Checks values serde cannot.
    pub fn check(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |message: String| {
            Err(ConfigError::Invalid {
                origin: origin.to_string(),
                message,
            })
        };
        if self.name.trim().is_empty() || self.name.contains(['/', '\0']) {
            return bad(format!(
                "`name` = {:?}: give a non-empty name without `/`",
                self.name
            ));
        }
        if let StrategyConfig::RegularizedEvolution(e) = &self.strategy {
            if e.population < 1 || e.sample < 1 {
                return bad("[strategy] population and sample must be at least 1".into());
            }
            if !e.replacement && e.sample > e.population {
                return bad(format!(
                    "[strategy] sample {} exceeds population {} (set replacement = true to allow)",
                    e.sample, e.population
                ));
            }
        }
        if let StrategyConfig::SuccessiveHalving(h) | StrategyConfig::Hyperband(h) = &self.strategy
        {
            if h.eta < 2 {
                return bad(format!("[strategy] eta must be at least 2, got {}", h.eta));
            }
            if h.min_epochs < 1 || h.max_epochs < h.min_epochs {
                return bad(format!(
                    "[strategy] needs 1 <= min_epochs <= max_epochs, got {} and {}",
                    h.min_epochs, h.max_epochs
                ));
            }
            if h.candidates == Some(0) {
                return bad("[strategy] candidates must be at least 1".into());
            }
            if h.candidates.is_some() && matches!(self.strategy, StrategyConfig::Hyperband(_)) {
                return bad("[strategy] candidates is for successive halving; Hyperband sizes each bracket itself".into());
            }
        }
        let staged = !self.screen.is_empty()
            || matches!(
                &self.strategy,
                StrategyConfig::SuccessiveHalving(_)
                    | StrategyConfig::Hyperband(_)
                    | StrategyConfig::RegularizedEvolution(EvolutionConfig {
                        warmup: Some(_),
                        ..
                    })
            );
        if staged && self.parallel.mode == Mode::Async {
            return bad("[parallel] mode = \"async\" evaluates one proposal at a time; screens, warm-up, successive halving and Hyperband need rounds (mode = \"rounds\")".into());
        }
        let b = &self.budget;
        if b.evaluations.is_none()
            && b.proposals.is_none()
            && b.wall_seconds.is_none()
            && b.simulated_seconds.is_none()
        {
            return bad(
                "[budget] sets no limit; set evaluations, proposals, wall_seconds or simulated_seconds"
                    .into(),
            );
        }
        for (k, v) in [
            ("wall_seconds", b.wall_seconds),
            ("simulated_seconds", b.simulated_seconds),
        ] {
            if let Some(v) = v {
                if !(v.is_finite() && v > 0.0) {
                    return bad(format!("[budget] {k} must be positive, got {v}"));
                }
            }
        }
        if let Err(e) = self.knobs.check() {
            return bad(format!("[knobs] {e}"));
        }
        if let Some(v) = self.hash_version {
            use crate::hash::functional::{OLDEST, VERSION};
            if !(OLDEST..=VERSION).contains(&v) {
                return bad(format!(
                    "`hash_version` = {v}: this evonas computes functional hash versions {OLDEST} to {VERSION}"
                ));
            }
        }
        if self.parallel.round_size == 0 || self.parallel.round_size > 4096 {
            return bad("[parallel] round_size must be between 1 and 4096".into());
        }
        match (self.parallel.mode, self.parallel.in_flight) {
            (Mode::Async, None) => {
                return bad(
                    "[parallel] mode = \"async\" needs in_flight = W (evaluations kept running; about the workers' total threads)".into(),
                )
            }
            (Mode::Async, Some(w)) if w == 0 || w > 4096 => {
                return bad("[parallel] in_flight must be between 1 and 4096".into())
            }
            (Mode::Rounds, Some(_)) => {
                return bad("[parallel] in_flight is for mode = \"async\"; rounds use round_size".into())
            }
            _ => {}
        }
        if self.parallel.max_deliveries == 0 {
            return bad("[parallel] max_deliveries must be at least 1".into());
        }
        if let Some(url) = &self.parallel.queue {
            if let Err(e) = crate::queue::QueueAddress::parse_with(url, None) {
                return bad(format!("[parallel] queue: {e}"));
            }
        }
        if self.parallel.threads == Some(0) {
            return bad("[parallel] threads must be at least 1".into());
        }
        // The stages' own checks (keep, seconds, epochs fidelities).
        crate::search::stages::Stages::of(self).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REA: &str = r#"
name = "t"
space = "nb201"
[strategy]
kind = "regularized-evolution"
population = 10
sample = 3
[budget]
simulated_seconds = 12000
[evaluator]
kind = "nb201-table"
path = "x"
"#;

    #[test]
    fn parses_the_documented_shape() {
        let c = CampaignConfig::parse(REA, "t").unwrap();
        assert_eq!(c.cache.policy, CachePolicy::Once);
        assert_eq!(c.parallel.round_size, 1);
        assert_eq!(c.budget.simulated_seconds, Some(12000.0));
    }

    #[test]
    fn errors_name_the_key() {
        let e = CampaignConfig::parse(&REA.replace("sample = 3", "sampel = 3"), "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("sampel") && e.contains("c.toml"), "{e}");
        let e = CampaignConfig::parse(&REA.replace("sample = 3", "sample = 30"), "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("exceeds population"), "{e}");
        let e = CampaignConfig::parse(&REA.replace("simulated_seconds = 12000", ""), "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("sets no limit"), "{e}");
        let e = CampaignConfig::parse(&format!("{REA}[cache]\npolicy = \"sometimes\"\n"), "c")
            .unwrap_err()
            .to_string();
        assert!(e.contains("sometimes"), "{e}");
    }
}
