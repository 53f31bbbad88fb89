//! `[evaluator] kind = "zero-cost"`: training-free proxies, scored from a network at
//! initialisation and (for most) one batch of data, in a fraction of a second, to rank many
//! candidates before any is trained (Mellor et al. 2021, Abdelfattah et al. 2021).
//!
//! Each proxy follows NASLib's definition (`naslib/predictors/utils/pruners/measures/`), with
//! the layers it sums over being the convolution and linear weights (not biases, not batch
//! norm), the network in training mode (batch statistics), cross-entropy with mean reduction,
//! computed through the training [`Backend`] trait:
//!
//! - `nwot` (NASWOT): the binary codes of every ReLU's output on the batch, K = sum over ReLUs
//!   of C C^T + (1 - C)(1 - C)^T, score = log |det K|.
//! - `snip`: sum over weights of |w * dL/dw|.
//! - `grad_norm`: sum over layers of the Frobenius norm of dL/dW.
//! - `l2_norm`: sum over layers of the Frobenius norm of W (no data).
//! - `params`, `flops`: parameters and multiply-adds of the network, in millions (no data).
//!
//! Where evonas deliberately differs from NASLib:
//! - one fixed batch (the first `batch_size` training images after a seeded shuffle, no
//!   augmentation) for every architecture, instead of a fresh random augmented batch per
//!   architecture: scores are then a function of the architecture (and `seed`), so they can be
//!   cached and compared;
//! - the network is evonas' decoded IR, from which computations that cannot reach the output
//!   are removed (an NB-201 node whose only outgoing edge is `none`): NASLib's modules for
//!   them still run, so its `params`, `flops`, `l2_norm` and `nwot` count them, and evonas'
//!   count only what the network computes;
//! - a score that is not finite (a singular NASWOT kernel: a network whose output ignores its
//!   input) is recorded as -1e8, NASLib's convention, not as a failure;
//! - `params`/`flops` are evonas' cost model ([`crate::ir::cost()`]: multiply-adds of convolutions
//!   and linear layers), where NASLib's tensorwatch also counts batch norm, ReLU and pooling.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::registry::{EvaluatorSettings, SettingsError};
use super::train::backend::Backend;
use super::train::config::{DataFormat, TrainConfig};
use super::train::model::Model;
use super::train::splits::Splits;
use super::train::{flex::BurnFlex, metered, OptimizerSpec, TrainError};
use super::{Evaluator, Fidelity, Outcome, Protocol, Task};
use crate::ir::{Network, Op};

/// The score of a network whose proxy is not a finite number (NASLib's convention).
pub const NOT_FINITE: f64 = -1e8;

/// Version of the proxy implementations, part of every zero-cost protocol.
pub const ZERO_COST_VERSION: u32 = 1;

/// A training-free proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proxy {
    /// NASWOT: log |det| of the ReLU-code kernel over a batch.
    Nwot,
    /// SNIP: sum of |w * dL/dw|.
    Snip,
    /// Sum over layers of the norm of the loss gradient.
    GradNorm,
    /// Sum over layers of the norm of the weights.
    L2Norm,
    /// Parameters, millions.
    Params,
    /// Multiply-adds, millions.
    Flops,
}

impl Proxy {
    /// The name in configs and files (NASLib's).
    pub fn name(self) -> &'static str {
        match self {
            Proxy::Nwot => "nwot",
            Proxy::Snip => "snip",
            Proxy::GradNorm => "grad_norm",
            Proxy::L2Norm => "l2_norm",
            Proxy::Params => "params",
            Proxy::Flops => "flops",
        }
    }

    /// Whether it looks at data.
    fn needs_data(self) -> bool {
        matches!(self, Proxy::Nwot | Proxy::Snip | Proxy::GradNorm)
    }

    /// Whether it needs the network's weights.
    fn needs_weights(self) -> bool {
        !matches!(self, Proxy::Params | Proxy::Flops)
    }
}

fn sixty_four() -> usize {
    64
}

fn synthetic() -> DataFormat {
    DataFormat::Synthetic
}

fn two_thousand() -> usize {
    2000
}

fn one() -> usize {
    1
}

/// `[evaluator]` keys for `kind = "zero-cost"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZeroCostConfig {
    /// The proxy.
    pub proxy: Proxy,
    /// Data format of the batch (as for `train`): `cifar10`, `idx`, `synthetic`.
    #[serde(default = "synthetic")]
    pub data: DataFormat,
    /// Folder of the data files.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Training files (as for `train`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub train_files: Vec<PathBuf>,
    /// Synthetic data: images generated.
    #[serde(default = "two_thousand")]
    pub synthetic_images: usize,
    /// Seed of the data (synthetic generation, the shuffle the batch is taken from).
    #[serde(default)]
    pub data_seed: u64,
    /// Images in the batch (NASLib's scores: 64).
    #[serde(default = "sixty_four")]
    pub batch_size: usize,
    /// Seed of the weights (with the functional hash: one initialisation per function).
    #[serde(default)]
    pub seed: u64,
    /// Threads one evaluation uses.
    #[serde(default = "one")]
    pub threads: usize,
}

impl EvaluatorSettings for ZeroCostConfig {
    fn check(&self) -> Result<(), SettingsError> {
        if self.batch_size < 2 || self.batch_size > 4096 {
            return Err(SettingsError::invalid(
                "batch_size",
                format!("must be between 2 and 4096, got {}", self.batch_size),
            ));
        }
        if self.threads == 0 {
            return Err(SettingsError::invalid("threads", "must be at least 1"));
        }
        if self.data == DataFormat::Synthetic && self.synthetic_images <= self.batch_size {
            return Err(SettingsError::invalid(
                "synthetic_images",
                format!(
                    "({}) must exceed batch_size ({})",
                    self.synthetic_images, self.batch_size
                ),
            ));
        }
        Ok(())
    }

    fn resolve_relative_to(&mut self, dir: &Path) {
        let mut t = self.train_config();
        t.resolve_relative_to(dir);
        self.path = t.path;
        self.train_files = t.train_files;
    }
}

impl ZeroCostConfig {
    /// The data settings as a training protocol (what [`Splits::load`] reads).
    fn train_config(&self) -> TrainConfig {
        TrainConfig {
            data: self.data,
            path: self.path.clone(),
            train_files: self.train_files.clone(),
            synthetic_images: self.synthetic_images,
            data_seed: self.data_seed,
            valid_size: 1,
            threads: self.threads,
            ..TrainConfig::default()
        }
    }
}

/// The batch a data-using proxy scores on.
struct Batch {
    images: Vec<f32>,
    labels: Vec<u8>,
    shape: [usize; 3],
    classes: usize,
}

/// The zero-cost evaluator.
pub struct ZeroCost {
    config: ZeroCostConfig,
    batch: Option<Batch>,
    input: Option<([u32; 3], u32)>,
    protocol: Protocol,
}

impl ZeroCost {
    /// Loads the batch (for proxies that need one) and builds the protocol.
    pub fn new(config: ZeroCostConfig) -> Result<Self, String> {
        let mut description = serde_json::Map::new();
        description.insert("kind".into(), "zero-cost".into());
        description.insert("proxy".into(), config.proxy.name().into());
        description.insert("zero_cost_version".into(), ZERO_COST_VERSION.into());
        let (batch, input) = if config.proxy.needs_data() {
            let splits = Splits::load(&config.train_config()).map_err(|e| format!("data: {e}"))?;
            let data = &splits.train;
            if data.len() < config.batch_size {
                return Err(format!(
                    "batch_size {} exceeds the {} training images",
                    config.batch_size,
                    data.len()
                ));
            }
            let mut order: Vec<usize> = (0..data.len()).collect();
            order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(
                config.data_seed,
            ));
            let idx = &order[..config.batch_size];
            let (images, labels) = data.batch(idx, &splits.norm, None);
            description.insert("data_digest".into(), splits.digest.clone().into());
            description.insert("batch_size".into(), config.batch_size.into());
            description.insert("data_seed".into(), config.data_seed.into());
            description.insert("backend".into(), "burn-flex".into());
            let input = (splits.input(), splits.classes());
            (
                Some(Batch {
                    images,
                    labels,
                    shape: data.shape,
                    classes: data.classes,
                }),
                Some(input),
            )
        } else {
            (None, None)
        };
        if config.proxy.needs_weights() {
            description.insert("seed".into(), config.seed.into());
        }
        let protocol = Protocol {
            description: serde_json::Value::Object(description),
            fidelity: Fidelity::Proxy {
                name: config.proxy.name().into(),
            },
        };
        Ok(ZeroCost {
            config,
            batch,
            input,
            protocol,
        })
    }

    fn seed_for(&self, task: &Task<'_>) -> u64 {
        let mut h = blake3::Hasher::new();
        h.update(&self.config.seed.to_le_bytes());
        h.update(task.hash.to_string().as_bytes());
        let b = h.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&b.as_bytes()[..8]);
        u64::from_le_bytes(first)
    }

    /// The proxy's score of `net`.
    pub fn score(&self, net: &Network, seed: u64) -> Result<f64, TrainError> {
        let proxy = self.config.proxy;
        match proxy {
            Proxy::Params => return Ok(crate::ir::cost(net).params as f64 / 1e6),
            Proxy::Flops => return Ok(crate::ir::cost(net).flops as f64 / 1e6),
            _ => {}
        }
        let meter = super::memory::Meter::admit(TrainConfig::default().max_memory_mb);
        metered(self.config.threads, &meter, || {
            let mut backend = BurnFlex::new(OptimizerSpec::Sgd {
                momentum: 0.0,
                nesterov: false,
                weight_decay: 0.0,
            });
            score_on(&mut backend, net, self.batch.as_ref(), proxy, seed)
        })
    }
}

/// The proxy's score of `net` on `backend` (generic: every backend scores the same way).
fn score_on<B: Backend>(
    backend: &mut B,
    net: &Network,
    batch: Option<&Batch>,
    proxy: Proxy,
    seed: u64,
) -> Result<f64, TrainError> {
    let model = Model::build(net, backend, seed)?;
    let weights = model.weights();
    if proxy == Proxy::L2Norm {
        return Ok(weights
            .iter()
            .map(|&w| {
                let v = backend.param_values(w);
                v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt()
            })
            .sum());
    }
    let Some(batch) = batch else {
        return Err(TrainError::Input {
            data: [0, 0, 0],
            network: input_of(net),
        });
    };
    if input_of(net) != batch.shape {
        return Err(TrainError::Input {
            data: batch.shape,
            network: input_of(net),
        });
    }
    if model.classes() != batch.classes {
        return Err(TrainError::Classes {
            data: batch.classes,
            network: model.classes(),
        });
    }
    let n = batch.labels.len();
    let [c, h, w] = batch.shape;
    let x = backend.tensor(batch.images.clone(), [n, c, h, w]);
    match proxy {
        Proxy::Nwot => {
            let mut k = vec![0f64; n * n];
            let mut failed = None;
            // Batch statistics, as in NASLib's train mode; no graph: no backward follows.
            model.forward_observed(backend, x, true, false, &mut |b, op, t| {
                if *op != Op::Relu || failed.is_some() {
                    return;
                }
                let values = b.values(t);
                if values.len() % n != 0 {
                    failed = Some(values.len());
                    return;
                }
                add_codes(&mut k, &values, n);
            })?;
            Ok(log_abs_det(&mut k, n))
        }
        Proxy::Snip | Proxy::GradNorm => {
            let logits = model.forward(backend, x, true)?;
            let targets =
                super::train::backend::target_probabilities(&batch.labels, batch.classes, 0.0);
            let t = backend.tensor(targets, [n, batch.classes, 1, 1]);
            let loss = backend.cross_entropy(logits, t);
            let all = backend.params();
            let grads = backend.gradients(loss);
            let mut total = 0f64;
            for wid in &weights {
                let Some(i) = all.iter().position(|p| p == wid) else {
                    continue;
                };
                let g = &grads[i];
                total += if proxy == Proxy::Snip {
                    let v = backend.param_values(*wid);
                    v.iter()
                        .zip(g)
                        .map(|(a, b)| (f64::from(*a) * f64::from(*b)).abs())
                        .sum::<f64>()
                } else {
                    g.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt()
                };
            }
            Ok(total)
        }
        Proxy::L2Norm | Proxy::Params | Proxy::Flops => unreachable!("handled above"),
    }
}

fn input_of(net: &Network) -> [usize; 3] {
    let s = net.input_shape();
    [s.channels, s.height, s.width].map(|v| v as usize)
}

/// Adds one ReLU's code kernel to `k` (n x n): for images i, j, the number of units on which
/// both are active plus the number on which both are inactive (NASWOT's K).
fn add_codes(k: &mut [f64], values: &[f32], n: usize) {
    let units = values.len() / n;
    let words = units.div_ceil(64);
    let mut bits = vec![0u64; n * words];
    for i in 0..n {
        for (u, &v) in values[i * units..(i + 1) * units].iter().enumerate() {
            if v > 0.0 {
                bits[i * words + u / 64] |= 1 << (u % 64);
            }
        }
    }
    for i in 0..n {
        for j in i..n {
            let differ: u32 = (0..words)
                .map(|w| (bits[i * words + w] ^ bits[j * words + w]).count_ones())
                .sum();
            let agree = (units as u32 - differ) as f64;
            k[i * n + j] += agree;
            if i != j {
                k[j * n + i] += agree;
            }
        }
    }
}

/// log |det A| of the n x n matrix `a` (overwritten), by LU with partial pivoting; -inf when
/// singular (what numpy's slogdet gives).
fn log_abs_det(a: &mut [f64], n: usize) -> f64 {
    let mut log = 0f64;
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&r, &s| a[r * n + col].abs().total_cmp(&a[s * n + col].abs()))
            .unwrap_or(col);
        let p = a[pivot * n + col];
        if p == 0.0 {
            return f64::NEG_INFINITY;
        }
        if pivot != col {
            for c in 0..n {
                a.swap(pivot * n + c, col * n + c);
            }
        }
        log += p.abs().ln();
        for r in col + 1..n {
            let f = a[r * n + col] / p;
            if f != 0.0 {
                for c in col..n {
                    a[r * n + c] -= f * a[col * n + c];
                }
            }
        }
    }
    log
}

impl Evaluator for ZeroCost {
    fn protocol(&self) -> &Protocol {
        &self.protocol
    }

    fn input(&self) -> Option<([u32; 3], u32)> {
        self.input
    }

    fn evaluate(&self, task: &Task<'_>) -> Outcome {
        let start = Instant::now();
        match self.score(task.network, self.seed_for(task)) {
            Ok(score) if score.is_finite() => {
                let mut metrics = BTreeMap::new();
                metrics.insert(self.config.proxy.name().to_string(), score);
                Outcome::Done {
                    fitness: score,
                    metrics,
                    curves: BTreeMap::new(),
                    simulated_seconds: 0.0,
                    wall_seconds: start.elapsed().as_secs_f64(),
                }
            }
            // NASLib's convention for a score that is not a number (a singular NASWOT kernel:
            // the network cannot tell the batch's images apart): the lowest score, -1e8.
            Ok(_) => {
                let mut metrics = BTreeMap::new();
                metrics.insert(self.config.proxy.name().to_string(), NOT_FINITE);
                Outcome::Done {
                    fitness: NOT_FINITE,
                    metrics,
                    curves: BTreeMap::new(),
                    simulated_seconds: 0.0,
                    wall_seconds: start.elapsed().as_secs_f64(),
                }
            }
            Err(e) => Outcome::failed(e.kind(), e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_abs_det_of_small_matrices() {
        let mut a = vec![4.0, 3.0, 6.0, 3.0];
        // det = 12 - 18 = -6.
        assert!((log_abs_det(&mut a, 2) - 6f64.ln()).abs() < 1e-12);
        let mut singular = vec![1.0, 2.0, 2.0, 4.0];
        assert_eq!(log_abs_det(&mut singular, 2), f64::NEG_INFINITY);
        let mut id = vec![0.0; 9];
        for i in 0..3 {
            id[i * 3 + i] = 2.0;
        }
        assert!((log_abs_det(&mut id, 3) - 3.0 * 2f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn code_kernel_counts_agreements() {
        // Two images, three units: codes 101 and 100: they agree on units 0 and 1.
        let mut k = vec![0.0; 4];
        add_codes(&mut k, &[1.0, -1.0, 2.0, 3.0, 0.0, -2.0], 2);
        assert_eq!(k, vec![3.0, 2.0, 2.0, 3.0]);
    }
}
