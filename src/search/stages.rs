//! Staged evaluation: score every proposal of a round cheaply, and spend the campaign's own
//! evaluator only on the survivors.
//!
//! A round's plan ([`Plan`]) is a list of screening steps, each an evaluator (a stage) and how
//! many candidates go on; the campaign's `[evaluator]` scores whoever is left. Three features
//! build their rounds this way:
//!
//! - `[[screen]]` stages, for any strategy: every round's `round_size` proposals are scored by
//!   the first screen, its best `keep` go to the next, and so on (e.g. a zero-cost proxy, then
//!   a short training, then the full protocol).
//! - `[strategy.warmup]` for regularized evolution (Abdelfattah et al. 2021, "Zero-Cost Proxies
//!   for Lightweight NAS"): the first round draws `pool` random architectures, scores them with
//!   the warm-up evaluator, and the best `population` start the population.
//! - `successive-halving` and `hyperband` strategies (Jamieson & Talwalkar 2016; Li et al.
//!   2018, "Hyperband: A Novel Bandit-Based Approach to Hyperparameter Optimization"): a round
//!   is a bracket of random architectures trained for an increasing number of epochs, the best
//!   `1/eta` of each rung promoted to the next ([`brackets`]).
//!
//! Every stage is an evaluator with its own protocol, so its results are cached under that
//! protocol like any other. Promotions are a pure function of the stage results, which are
//! stored the moment they exist: a killed round resumes with the same promotions.

use serde::{Deserialize, Serialize};

use super::config::{CampaignConfig, ConfigError, EvaluatorSpec, StrategyConfig};

/// How many of a stage's candidates go on to the next stage.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Keep {
    /// This many (`keep = 3`); all of them if fewer were scored.
    Count(u32),
    /// This fraction, rounded up, at least one (`keep = 0.25`).
    Fraction(f64),
}

impl Keep {
    /// How many of `n` scored candidates go on.
    pub fn of(self, n: usize) -> usize {
        match self {
            Keep::Count(c) => (c as usize).min(n),
            Keep::Fraction(f) => ((f * n as f64).ceil() as usize).clamp(1, n.max(1)).min(n),
        }
    }

    fn check(self, origin: &str, what: &str) -> Result<(), ConfigError> {
        let ok = match self {
            Keep::Count(c) => c >= 1,
            Keep::Fraction(f) => f > 0.0 && f <= 1.0,
        };
        if ok {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                origin: origin.to_string(),
                message: format!(
                    "{what} keep must be a count of at least 1 (keep = 3) or a fraction in (0, 1] (keep = 0.25)"
                ),
            })
        }
    }
}

/// One `[[screen]]` stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScreenConfig {
    /// The evaluator that scores the stage's candidates (e.g. `{ kind = "zero-cost", proxy =
    /// "nwot" }`, or a short training).
    pub evaluator: EvaluatorSpec,
    /// How many go on.
    pub keep: Keep,
    /// Simulated seconds charged for every candidate the stage scores, computed or served by
    /// the cache: a fixed, reproducible cost, e.g. a proxy's measured seconds per evaluation
    /// (`evonas rank` prints them). Default: each evaluation's own simulated seconds (a hit
    /// costs nothing), which is 0 for proxies and trainings: on a `simulated_seconds` budget
    /// they are free unless this is set. Measured wall seconds are never charged, so a
    /// simulated budget ends at the same candidate on every run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
}

/// `[strategy.warmup]` of regularized evolution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmupConfig {
    /// Random architectures scored in the first round (M).
    pub pool: usize,
    /// The evaluator that scores them (a zero-cost proxy).
    pub evaluator: EvaluatorSpec,
    /// Simulated seconds charged per scored architecture; see [`ScreenConfig::seconds`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
}

fn three() -> u32 {
    3
}

/// `successive-halving` and `hyperband` settings, in epochs of the campaign's training
/// evaluator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HalvingConfig {
    /// Promotion rate: the best 1/eta of each rung go on, trained eta times longer.
    #[serde(default = "three")]
    pub eta: u32,
    /// Epochs of the first rung.
    pub min_epochs: u32,
    /// Epochs of the last rung (the full protocol).
    pub max_epochs: u32,
    /// Successive halving only: architectures in the first rung (default eta^s, s the number
    /// of promotions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<usize>,
}

impl HalvingConfig {
    /// s_max: how many times a rung can be promoted between min and max epochs.
    pub fn s_max(&self) -> u32 {
        let ratio = f64::from(self.max_epochs) / f64::from(self.min_epochs);
        (ratio.ln() / f64::from(self.eta).ln() + 1e-9).floor() as u32
    }
}

/// One rung of a bracket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rung {
    /// Architectures trained in it.
    pub n: usize,
    /// Epochs each is trained for.
    pub epochs: u32,
}

/// Hyperband's brackets (Li et al. 2018, Algorithm 1), from the most exploratory (s = s_max:
/// many architectures, min_epochs) to plain training (s = 0: few, max_epochs). With
/// R = max/min epochs and s_max = floor(log_eta R), bracket s starts
/// n = ceil((s_max + 1) / (s + 1) * eta^s) architectures at r = R * eta^-s (in units of
/// min_epochs); rung i trains floor(n * eta^-i) of them for r * eta^i, rounded to whole epochs,
/// the last rung for max_epochs.
pub fn brackets(c: &HalvingConfig) -> Vec<Vec<Rung>> {
    let s_max = c.s_max();
    let eta = f64::from(c.eta);
    let ratio = f64::from(c.max_epochs) / f64::from(c.min_epochs);
    (0..=s_max)
        .rev()
        .map(|s| {
            let n = (f64::from(s_max + 1) / f64::from(s + 1) * eta.powi(s as i32) - 1e-9).ceil();
            let r = ratio * eta.powi(-(s as i32));
            (0..=s)
                .map(|i| {
                    let epochs = if i == s {
                        c.max_epochs
                    } else {
                        ((f64::from(c.min_epochs) * r * eta.powi(i as i32)).round() as u32).max(1)
                    };
                    Rung {
                        n: ((n * eta.powi(-(i as i32))) + 1e-9).floor().max(1.0) as usize,
                        epochs,
                    }
                })
                .collect()
        })
        .collect()
}

/// Successive halving's one bracket: Hyperband's most exploratory one, or `candidates`
/// architectures halved (by eta) at each rung.
pub fn halving(c: &HalvingConfig) -> Vec<Rung> {
    let mut rungs = brackets(c).swap_remove(0);
    if let Some(n) = c.candidates {
        let eta = c.eta as usize;
        let mut k = n;
        for rung in &mut rungs {
            rung.n = k.max(1);
            k /= eta;
        }
    }
    rungs
}

/// One screening step of a round.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// The stage ([`Stages`] index) that scores.
    pub stage: usize,
    /// How many go on.
    pub keep: Keep,
}

/// What a round does: how many candidates it proposes, and the screens they pass before the
/// campaign's evaluator (stage 0) scores the survivors.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Proposals.
    pub pool: usize,
    /// Screening steps, in order.
    pub screens: Vec<Step>,
}

/// A stage's evaluator and its cost rule.
#[derive(Clone, Debug, PartialEq)]
pub struct StageSpec {
    /// The evaluator.
    pub evaluator: EvaluatorSpec,
    /// Fixed simulated seconds per scored candidate, if set.
    pub seconds: Option<f64>,
}

/// Every evaluator a campaign uses, stage 0 being the one whose results the search keeps, and
/// the rule that gives each round its [`Plan`].
#[derive(Clone, Debug, PartialEq)]
pub struct Stages {
    /// The evaluators; index 0 is the final one.
    pub specs: Vec<StageSpec>,
    schedule: Schedule,
}

#[derive(Clone, Debug, PartialEq)]
enum Schedule {
    /// Every round: `round_size` proposals through these screens.
    Fixed {
        pool: usize,
        screens: Vec<Step>,
        /// Round 0 is a warm-up: this pool, scored by this stage, best `keep` go on.
        warmup: Option<(usize, Step)>,
    },
    /// Round r runs bracket r mod len; each bracket's rungs name their stages.
    Brackets(Vec<Vec<(usize, usize)>>),
}

/// Largest pool a round may have (slot numbers share a store key with the stage).
pub const MAX_POOL: usize = 1 << 24;

impl Stages {
    /// The stages of `config` (its evaluator specs already canonical).
    pub fn of(config: &CampaignConfig) -> Result<Stages, ConfigError> {
        let origin = config.name.as_str();
        let invalid = |message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            message,
        };
        let mut specs = vec![StageSpec {
            evaluator: config.evaluator.clone(),
            seconds: None,
        }];
        let mut screens = Vec::new();
        for (i, s) in config.screen.iter().enumerate() {
            s.keep.check(origin, &format!("[[screen]] {}:", i + 1))?;
            check_seconds(origin, s.seconds)?;
            screens.push(Step {
                stage: specs.len(),
                keep: s.keep,
            });
            specs.push(StageSpec {
                evaluator: s.evaluator.clone(),
                seconds: s.seconds,
            });
        }
        let schedule = match &config.strategy {
            StrategyConfig::SuccessiveHalving(h) | StrategyConfig::Hyperband(h) => {
                if !config.screen.is_empty() {
                    return Err(invalid(
                        "[[screen]] stages are for evolution and random search; successive halving and Hyperband screen by training epochs themselves".into(),
                    ));
                }
                if config.parallel.round_size != 1 {
                    return Err(invalid("[parallel] round_size: successive halving and Hyperband size their rounds themselves (one bracket per round); leave it out".into()));
                }
                let rungs = match &config.strategy {
                    StrategyConfig::Hyperband(_) => brackets(h),
                    _ => vec![halving(h)],
                };
                let mut bracket_stages = Vec::new();
                for bracket in rungs {
                    let mut b = Vec::new();
                    for rung in bracket {
                        let stage = if rung.epochs == h.max_epochs {
                            0
                        } else {
                            let spec = config
                                .evaluator
                                .at_epochs(rung.epochs)
                                .map_err(|e| invalid(format!("[evaluator] {e}")))?;
                            match specs.iter().position(|s| s.evaluator == spec) {
                                Some(i) => i,
                                None => {
                                    specs.push(StageSpec {
                                        evaluator: spec,
                                        seconds: None,
                                    });
                                    specs.len() - 1
                                }
                            }
                        };
                        b.push((stage, rung.n));
                    }
                    bracket_stages.push(b);
                }
                // The final rung is the campaign's evaluator at max_epochs.
                specs[0].evaluator = config
                    .evaluator
                    .at_epochs(h.max_epochs)
                    .map_err(|e| invalid(format!("[evaluator] {e}")))?;
                Schedule::Brackets(bracket_stages)
            }
            StrategyConfig::RegularizedEvolution(e) => {
                let warmup = match &e.warmup {
                    Some(w) => {
                        check_seconds(origin, w.seconds)?;
                        if w.pool < e.population || w.pool > MAX_POOL {
                            return Err(invalid(format!(
                                "[strategy.warmup] pool must be between population ({}) and {MAX_POOL}, got {}",
                                e.population, w.pool
                            )));
                        }
                        specs.push(StageSpec {
                            evaluator: w.evaluator.clone(),
                            seconds: w.seconds,
                        });
                        Some((
                            w.pool,
                            Step {
                                stage: specs.len() - 1,
                                keep: Keep::Count(e.population as u32),
                            },
                        ))
                    }
                    None => None,
                };
                Schedule::Fixed {
                    pool: config.parallel.round_size,
                    screens,
                    warmup,
                }
            }
            StrategyConfig::Random => Schedule::Fixed {
                pool: config.parallel.round_size,
                screens,
                warmup: None,
            },
        };
        Ok(Stages { specs, schedule })
    }

    /// Whether every round is a plain round of the campaign's evaluator.
    pub fn is_plain(&self) -> bool {
        self.specs.len() == 1
    }

    /// The plan of round `round`.
    pub fn plan(&self, round: u64) -> Plan {
        match &self.schedule {
            Schedule::Fixed {
                warmup: Some((pool, step)),
                ..
            } if round == 0 => Plan {
                pool: *pool,
                screens: vec![*step],
            },
            Schedule::Fixed { pool, screens, .. } => Plan {
                pool: *pool,
                screens: screens.clone(),
            },
            Schedule::Brackets(brackets) => {
                let bracket = &brackets[(round % brackets.len() as u64) as usize];
                let screens = bracket
                    .windows(2)
                    .map(|w| Step {
                        stage: w[0].0,
                        keep: Keep::Count(w[1].1 as u32),
                    })
                    .collect();
                Plan {
                    pool: bracket[0].1,
                    screens,
                }
            }
        }
    }
}

fn check_seconds(origin: &str, seconds: Option<f64>) -> Result<(), ConfigError> {
    match seconds {
        Some(s) if !(s.is_finite() && s >= 0.0) => Err(ConfigError::Invalid {
            origin: origin.to_string(),
            message: format!("seconds must be >= 0, got {s}"),
        }),
        _ => Ok(()),
    }
}

/// The slot key of slot `slot` at stage `stage` (stage 0 keeps the plain slot number, as
/// before stages existed).
pub fn slot_key(stage: usize, slot: usize) -> u32 {
    ((stage as u32) << 24) | slot as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hb(eta: u32, min: u32, max: u32) -> HalvingConfig {
        HalvingConfig {
            eta,
            min_epochs: min,
            max_epochs: max,
            candidates: None,
        }
    }

    fn shape(b: &[Rung]) -> Vec<(usize, u32)> {
        b.iter().map(|r| (r.n, r.epochs)).collect()
    }

    /// Li et al. 2018, Table 1: R = 81, eta = 3.
    #[test]
    fn hyperband_brackets_match_the_paper() {
        let b = brackets(&hb(3, 1, 81));
        assert_eq!(b.len(), 5);
        assert_eq!(
            shape(&b[0]),
            [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
            "s = 4"
        );
        assert_eq!(shape(&b[1]), [(34, 3), (11, 9), (3, 27), (1, 81)], "s = 3");
        assert_eq!(shape(&b[2]), [(15, 9), (5, 27), (1, 81)], "s = 2");
        assert_eq!(shape(&b[3]), [(8, 27), (2, 81)], "s = 1");
        assert_eq!(shape(&b[4]), [(5, 81)], "s = 0");
    }

    #[test]
    fn min_epochs_scale_the_rungs_and_a_ratio_off_the_powers_rounds() {
        let b = brackets(&hb(2, 2, 16));
        assert_eq!(shape(&b[0]), [(8, 2), (4, 4), (2, 8), (1, 16)]);
        // R = 10, eta = 3: s_max = 2, rungs at 10/9, 10/3 and 10 epochs.
        let b = brackets(&hb(3, 1, 10));
        assert_eq!(shape(&b[0]), [(9, 1), (3, 3), (1, 10)]);
        let mut c = hb(3, 1, 9);
        c.candidates = Some(20);
        assert_eq!(shape(&halving(&c)), [(20, 1), (6, 3), (2, 9)]);
    }

    #[test]
    fn keep_rounds_up_and_never_exceeds_the_scored() {
        assert_eq!(Keep::Fraction(0.25).of(10), 3);
        assert_eq!(Keep::Fraction(0.01).of(10), 1);
        assert_eq!(Keep::Fraction(1.0).of(7), 7);
        assert_eq!(Keep::Count(5).of(3), 3);
        assert_eq!(Keep::Count(2).of(3), 2);
        assert_eq!(Keep::Fraction(0.5).of(0), 0);
    }
}
