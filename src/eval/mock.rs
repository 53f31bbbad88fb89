//! `[evaluator] kind = "mock"`: a deterministic stand-in that needs no data, for testing
//! campaigns, strategies, stores and deployments, and for measuring the engine's own overhead.
//!
//! The fitness of a function is a pseudo-random number in [0, 100) drawn from its functional
//! hash and the mock's seed: the same function always scores the same (equivalent encodings
//! included), different functions are independent. It has no locality, so strategies cannot
//! beat random search on it; it says nothing about NAS, only about the machinery around it.
//! Optional knobs make it behave like a real evaluator: simulated seconds per evaluation,
//! Gaussian noise per repeat (like `nb201-table`), a fraction of functions that fail, and a
//! wall-clock sleep per evaluation.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::registry::{EvaluatorSettings, SettingsError};
use super::{Evaluator, FailureKind, Outcome, Protocol, Task};

fn hundred() -> f64 {
    100.0
}

/// `[evaluator]` keys for `kind = "mock"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockConfig {
    /// Seed of the scores (another seed: another landscape).
    #[serde(default)]
    pub seed: u64,
    /// Simulated seconds charged per evaluation.
    #[serde(default = "hundred")]
    pub sim_seconds: f64,
    /// Standard deviation of Gaussian noise added per evaluation (repeat), in points.
    #[serde(default)]
    pub noise: f64,
    /// Fraction of functions whose evaluation fails, in [0, 1].
    #[serde(default)]
    pub fail_fraction: f64,
    /// Wall-clock milliseconds each evaluation sleeps (a stand-in for training time).
    #[serde(default)]
    pub sleep_ms: u64,
    /// A mock training of this many epochs (for successive halving and Hyperband): the score
    /// is the function's final score times e / (e + 3), plus an error of standard deviation
    /// 20 / sqrt(e) points drawn per function and epoch count, so short trainings rank
    /// functions only roughly; simulated seconds are `sim_seconds` per epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<u32>,
}

impl EvaluatorSettings for MockConfig {
    fn check(&self) -> Result<(), SettingsError> {
        if !(self.sim_seconds.is_finite() && self.sim_seconds >= 0.0) {
            return Err(SettingsError::invalid(
                "sim_seconds",
                format!("must be >= 0, got {}", self.sim_seconds),
            ));
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Err(SettingsError::invalid(
                "noise",
                format!("must be >= 0, got {}", self.noise),
            ));
        }
        if self.epochs == Some(0) {
            return Err(SettingsError::invalid("epochs", "must be at least 1"));
        }
        if !(0.0..=1.0).contains(&self.fail_fraction) {
            return Err(SettingsError::invalid(
                "fail_fraction",
                format!("must be in [0, 1], got {}", self.fail_fraction),
            ));
        }
        Ok(())
    }
}

/// The mock evaluator.
pub struct Mock {
    config: MockConfig,
    protocol: Protocol,
}

impl Mock {
    /// A mock with these settings.
    pub fn new(config: MockConfig) -> Self {
        // Sleeping changes no result: left out, so a cache filled fast serves a slow run.
        let mut description = serde_json::json!({
            "kind": "mock",
            "seed": config.seed,
            "sim_seconds": config.sim_seconds,
            "noise": config.noise,
            "fail_fraction": config.fail_fraction,
        });
        let mut protocol = Protocol::new(description.clone());
        if let Some(epochs) = config.epochs {
            description["epochs"] = epochs.into();
            protocol = Protocol::new(description).at(crate::fidelity::Fidelity::Epochs { epochs });
        }
        Mock { config, protocol }
    }

    fn rng(&self, hash: &str, repeat: Option<u32>) -> rand_chacha::ChaCha8Rng {
        let mut h = blake3::Hasher::new();
        h.update(b"evonas mock v1");
        h.update(&self.config.seed.to_le_bytes());
        h.update(hash.as_bytes());
        if let Some(r) = repeat {
            h.update(&r.to_le_bytes());
        }
        rand_chacha::ChaCha8Rng::from_seed(*h.finalize().as_bytes())
    }
}

impl Evaluator for Mock {
    fn protocol(&self) -> &Protocol {
        &self.protocol
    }

    fn evaluate(&self, task: &Task<'_>) -> Outcome {
        let start = Instant::now();
        if self.config.sleep_ms > 0 {
            std::thread::sleep(Duration::from_millis(self.config.sleep_ms));
        }
        let hash = task.hash.to_string();
        let mut rng = self.rng(&hash, None);
        let score: f64 = 100.0 * rng.random::<f64>();
        let fails: f64 = rng.random();
        if fails < self.config.fail_fraction {
            return Outcome::failed(
                FailureKind::Injected,
                "mock: this function is set to fail (fail_fraction)",
            );
        }
        let noise = if self.config.noise > 0.0 {
            let mut r = self.rng(&hash, Some(task.repeat));
            let u1: f64 = r.random::<f64>().max(f64::MIN_POSITIVE);
            let u2: f64 = r.random();
            self.config.noise * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        } else {
            0.0
        };
        let (score, simulated_seconds) = match self.config.epochs {
            Some(e) => {
                let e = f64::from(e);
                let mut r = self.rng(&format!("{hash}/epochs {e}"), None);
                let u1: f64 = r.random::<f64>().max(f64::MIN_POSITIVE);
                let u2: f64 = r.random();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                (
                    score * e / (e + 3.0) + 20.0 / e.sqrt() * z,
                    self.config.sim_seconds * e,
                )
            }
            None => (score, self.config.sim_seconds),
        };
        let mut metrics = BTreeMap::new();
        metrics.insert("valid_accuracy".to_string(), score);
        metrics.insert("test_accuracy".to_string(), 0.9 * score);
        Outcome::Done {
            fitness: score + noise,
            metrics,
            curves: BTreeMap::new(),
            simulated_seconds,
            wall_seconds: start.elapsed().as_secs_f64(),
        }
    }
}
