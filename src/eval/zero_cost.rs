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
//! - `synflow`: ln of the sum over weights of |w * dR/dw|, R the summed output of the network
//!   with |weights| and no batch norm on one all-ones image, computed in float64 (no data).
//! - `jacov`: -sum(ln(v + 1e-5) + 1/(v + 1e-5)) over the eigenvalues v of the correlation
//!   matrix of the input gradients (d sum(output) / d image) of the batch's images.
//! - `zen`: ln of the mean L1 change of the features before global pooling when N(0, 1)
//!   images get 0.01 N(0, 1) noise, weights re-drawn from N(0, 1), plus the sum over batch
//!   norms of ln sqrt(mean running variance) (random images, no data).
//!
//! Where evonas deliberately differs from NASLib:
//! - one fixed batch (the first `batch_size` training images after a seeded shuffle, no
//!   augmentation) for every architecture, instead of a fresh random augmented batch per
//!   architecture: scores are then a function of the architecture (and `seed`), so they can be
//!   cached and compared;
//! - the network is evonas' decoded IR, from which computations that cannot reach the output
//!   are removed (an NB-201 node whose only outgoing edge is `none`): NASLib's modules for
//!   them still run, so its `params`, `flops`, `l2_norm` and `nwot` count them, and evonas'
//!   count only what the network computes (zen too: its sum over batch norms includes, in
//!   NASLib, the batch norms of dead convolutions; synflow and jacov are unaffected, as dead
//!   computations have no gradient);
//! - zen's Gaussian images are drawn from `data_seed` and are the same for every network
//!   (NASLib draws new ones per network); its re-drawn weights come from `seed`;
//! - a score that is not finite (a singular NASWOT kernel, or jacov of a network whose output
//!   ignores its input) is recorded as -1e8, NASLib's convention, not as a failure (NASLib
//!   takes synflow's log after that replacement, giving -18.4; evonas records -1e8);
//! - `params`/`flops` are evonas' cost model ([`crate::ir::cost()`]: multiply-adds of convolutions
//!   and linear layers), where NASLib's tensorwatch also counts batch norm, ReLU and pooling.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::registry::{EvaluatorSettings, SettingsError};
use super::train::backend::Backend;
use super::train::config::{BackendKind, DataFormat, TrainConfig};
use super::train::model::{Model, ModelError};
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
    /// ln of the sum of |w * dR/dw|, R the output of the all-positive network on ones.
    Synflow,
    /// Eigenvalue score of the correlations of the input Jacobian's rows over a batch.
    Jacov,
    /// Zen-NAS: log expected feature change under a small Gaussian input perturbation.
    Zen,
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
            Proxy::Synflow => "synflow",
            Proxy::Jacov => "jacov",
            Proxy::Zen => "zen",
        }
    }

    /// Whether it looks at data.
    fn needs_data(self) -> bool {
        matches!(
            self,
            Proxy::Nwot | Proxy::Snip | Proxy::GradNorm | Proxy::Jacov
        )
    }

    /// Whether it runs the network (its score then depends on the backend's arithmetic).
    fn runs_network(self) -> bool {
        self.needs_data() || matches!(self, Proxy::Synflow | Proxy::Zen)
    }

    /// Whether it draws a batch of random images (of `batch_size`, from `data_seed`).
    fn needs_random_images(self) -> bool {
        self == Proxy::Zen
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
    /// The training backend the network runs on: `burn-flex` (default) or `tch` (libtorch on
    /// the CPU; evonas built with `--features tch`). Part of the protocol: two backends' float
    /// arithmetic differs in the last bits.
    #[serde(default, skip_serializing_if = "is_burn_flex")]
    pub backend: BackendKind,
}

fn is_burn_flex(b: &BackendKind) -> bool {
    *b == BackendKind::BurnFlex
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
    engine: Engine,
    batch: Option<Batch>,
    input: Option<([u32; 3], u32)>,
    protocol: Protocol,
}

/// The backend a [`ZeroCost`] runs networks on, resolved when it is built (so a backend this
/// build lacks is refused there, not at the first evaluation).
#[derive(Clone, Copy, Debug)]
enum Engine {
    Flex,
    #[cfg(feature = "tch")]
    Tch,
}

impl ZeroCost {
    /// Loads the batch (for proxies that need one) and builds the protocol.
    pub fn new(config: ZeroCostConfig) -> Result<Self, String> {
        let engine = match config.backend {
            BackendKind::BurnFlex => Engine::Flex,
            #[cfg(feature = "tch")]
            BackendKind::Tch => Engine::Tch,
            #[cfg(not(feature = "tch"))]
            BackendKind::Tch => return Err("backend = \"tch\" needs evonas built with libtorch: run scripts/libtorch.sh (installs PyTorch's libtorch from PyPI and builds with --features tch), or use backend = \"burn-flex\"".into()),
        };
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
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(config.data_seed));
            let idx = &order[..config.batch_size];
            let (images, labels) = data.batch(idx, &splits.norm, None);
            description.insert("data_digest".into(), splits.digest.clone().into());
            description.insert("batch_size".into(), config.batch_size.into());
            description.insert("data_seed".into(), config.data_seed.into());
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
        if config.proxy.runs_network() {
            description.insert("backend".into(), config.backend.name().into());
        }
        if config.proxy.needs_random_images() {
            description.insert("batch_size".into(), config.batch_size.into());
            description.insert("data_seed".into(), config.data_seed.into());
        }
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
            engine,
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
            let optimizer = OptimizerSpec::Sgd {
                momentum: 0.0,
                nesterov: false,
                weight_decay: 0.0,
            };
            match self.engine {
                Engine::Flex => {
                    let mut backend = BurnFlex::new(optimizer);
                    score_on(&mut backend, net, self.batch.as_ref(), &self.config, seed)
                }
                #[cfg(feature = "tch")]
                Engine::Tch => {
                    use super::train::torch::{Tch, TchOptions};
                    let mut backend = Tch::new(
                        optimizer,
                        TchOptions {
                            device: tch::Device::Cpu,
                            precision: super::train::config::Precision::Fp32,
                            channels_last: false,
                        },
                    );
                    score_on(&mut backend, net, self.batch.as_ref(), &self.config, seed)
                }
            }
        })
    }
}

/// The proxy's score of `net` on `backend` (generic: every backend scores the same way).
/// `batch` is the data batch of the proxies that need one.
fn score_on<B: Backend>(
    backend: &mut B,
    net: &Network,
    batch: Option<&Batch>,
    config: &ZeroCostConfig,
    seed: u64,
) -> Result<f64, TrainError> {
    let proxy = config.proxy;
    if proxy == Proxy::Synflow {
        // Built from the network without batch norm: its weights are the same (batch norm
        // draws nothing from the initialisation's RNG).
        return synflow(backend, &without_batch_norm(net), seed);
    }
    let model = Model::build(net, backend, seed)?;
    match proxy {
        Proxy::L2Norm => Ok(l2_norm(backend, &model)),
        Proxy::Zen => zen(backend, &model, config.batch_size, config.data_seed, seed),
        Proxy::Nwot | Proxy::Snip | Proxy::GradNorm | Proxy::Jacov => {
            let batch = checked_batch(net, &model, batch)?;
            let n = batch.labels.len();
            let [c, h, w] = batch.shape;
            backend.track_gradients(true);
            let x = backend.tensor(batch.images.clone(), [n, c, h, w]);
            match proxy {
                Proxy::Nwot => nwot(backend, &model, x, n),
                Proxy::Jacov => jacov(backend, &model, x, n),
                _ => loss_gradient_score(backend, &model, x, batch, proxy),
            }
        }
        Proxy::Synflow | Proxy::Params | Proxy::Flops => unreachable!("handled above"),
    }
}

/// The batch, checked against the network's input and classes.
fn checked_batch<'a>(
    net: &Network,
    model: &Model,
    batch: Option<&'a Batch>,
) -> Result<&'a Batch, TrainError> {
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
    Ok(batch)
}

/// Sum over layers of the Frobenius norm of the weights.
fn l2_norm<B: Backend>(backend: &B, model: &Model) -> f64 {
    model
        .weights()
        .iter()
        .map(|&w| {
            let v = backend.param_values(w);
            v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt()
        })
        .sum()
}

/// NASWOT: log |det K| of the ReLU-code kernel over the batch `x` of `n` images.
fn nwot<B: Backend>(
    backend: &mut B,
    model: &Model,
    x: B::Tensor,
    n: usize,
) -> Result<f64, TrainError> {
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

/// snip (sum of |w * dL/dw|) or grad_norm (sum over layers of ||dL/dW||), L the mean
/// cross-entropy on the batch `x`.
fn loss_gradient_score<B: Backend>(
    backend: &mut B,
    model: &Model,
    x: B::Tensor,
    batch: &Batch,
    proxy: Proxy,
) -> Result<f64, TrainError> {
    let n = batch.labels.len();
    let logits = model.forward(backend, x, true)?;
    let targets = super::train::backend::target_probabilities(&batch.labels, batch.classes, 0.0);
    let t = backend.tensor(targets, [n, batch.classes, 1, 1]);
    let loss = backend.cross_entropy(logits, t);
    let (grads, _) = backend.gradients_f64(loss, &[]);
    Ok(per_weight(backend, model, &grads, |w, g| {
        if proxy == Proxy::Snip {
            w.iter()
                .zip(g)
                .map(|(a, b)| (f64::from(*a) * b).abs())
                .sum()
        } else {
            g.iter().map(|x| x.powi(2)).sum::<f64>().sqrt()
        }
    }))
}

/// Sum over the convolution and linear weights of `layer(values, gradient)`, `grads` being
/// the gradients of every parameter in [`Backend::params`] order.
fn per_weight<B: Backend>(
    backend: &B,
    model: &Model,
    grads: &[Vec<f64>],
    layer: impl Fn(&[f32], &[f64]) -> f64,
) -> f64 {
    let all = backend.params();
    model
        .weights()
        .iter()
        .filter_map(|wid| {
            let i = all.iter().position(|p| p == wid)?;
            Some(layer(&backend.param_values(*wid), &grads[i]))
        })
        .sum()
}

/// `net` with every batch norm replaced by the identity (NASLib's synflow: `bn=False` makes
/// every BatchNorm's forward a no-op).
fn without_batch_norm(net: &Network) -> Network {
    let nodes = net
        .nodes()
        .iter()
        .map(|n| {
            let op = match n.op {
                Op::BatchNorm { .. } => Op::Identity,
                op => op,
            };
            let inputs = n.inputs.iter().map(|i| i.index()).collect();
            (op, inputs, n.label.clone())
        })
        .collect();
    // An identity has the one operand and the shape of the batch norm it replaces, so the
    // network stays valid.
    Network::from_nodes(nodes).expect("replacing batch norm by identity keeps a network valid")
}

/// synflow (Tanaka et al. 2020, NASLib's `synflow.py`): every parameter replaced by its
/// absolute value, batch norm removed ([`without_batch_norm`]), one all-ones image in,
/// R = the sum of the outputs; score = ln of the sum over convolution and linear weights of
/// |w * dR/dw|. Computed in float64 ([`Backend::double`]), as NASLib does (`net.double()`):
/// with all weights positive nothing cancels, and R reaches 1e48 in an NB-201 network, past
/// float32's 3.4e38.
fn synflow<B: Backend>(backend: &mut B, net: &Network, seed: u64) -> Result<f64, TrainError> {
    let model = Model::build(net, backend, seed)?;
    for p in backend.params() {
        let v = backend.param_values(p).iter().map(|x| x.abs()).collect();
        backend.set_param_values(p, v);
    }
    backend.double();
    backend.track_gradients(true);
    let [c, h, w] = input_of(net);
    let x = backend.tensor(vec![1.0; c * h * w], [1, c, h, w]);
    let out = model.forward(backend, x, true)?;
    let r = backend.sum(out);
    let (grads, _) = backend.gradients_f64(r, &[]);
    let raw = per_weight(backend, &model, &grads, |w, g| {
        w.iter()
            .zip(g)
            .map(|(a, b)| (f64::from(*a) * b).abs())
            .sum()
    });
    Ok(naslib_log(raw))
}

/// NASLib's `ZeroCost.query` transform of synflow: 0 stays 0, otherwise the natural log
/// (sign-preserving, though a sum of absolute values is never negative).
fn naslib_log(raw: f64) -> f64 {
    if raw == 0.0 {
        0.0
    } else if raw > 0.0 {
        raw.ln()
    } else {
        -(-raw).ln()
    }
}

/// jacov (Mellor et al. 2020, NASLib's `jacov.py`): J = the gradient of the sum of the
/// outputs with respect to the input batch `x` (`y.backward(ones_like(y))`; batch norm in
/// training mode, so images interact through the batch statistics), one row per image; score
/// = -sum over the eigenvalues v of J's row correlation matrix of ln(v + 1e-5) + 1/(v + 1e-5).
/// At most -n (all eigenvalues 1). A network whose output ignores its input has J = 0 and no
/// correlation: NaN, recorded as -1e8, as NASLib's exception handler does.
fn jacov<B: Backend>(
    backend: &mut B,
    model: &Model,
    x: B::Tensor,
    n: usize,
) -> Result<f64, TrainError> {
    let x = backend.variable(x);
    let y = model.forward(backend, x.clone(), true)?;
    let loss = backend.sum(y);
    let (_, mut inputs) = backend.gradients_f64(loss, &[x]);
    let jacobian = inputs.pop().unwrap_or_default();
    Ok(jacov_score(&jacobian, n))
}

/// The jacov score of an `n`-row Jacobian (row-major).
fn jacov_score(jacobian: &[f64], n: usize) -> f64 {
    const K: f64 = 1e-5;
    let corr = correlation(jacobian, n);
    if corr.iter().any(|v| !v.is_finite()) {
        return f64::NAN;
    }
    -symmetric_eigenvalues(corr, n)
        .iter()
        .map(|v| (v + K).ln() + 1.0 / (v + K))
        .sum::<f64>()
}

/// numpy's `corrcoef` of the `n` rows of `x` (row-major): n x n, NaN where a row is
/// constant, clipped to [-1, 1].
fn correlation(x: &[f64], n: usize) -> Vec<f64> {
    let d = x.len().checked_div(n).unwrap_or(0);
    let centred: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let row = &x[i * d..(i + 1) * d];
            let mean = row.iter().sum::<f64>() / d as f64;
            row.iter().map(|v| v - mean).collect()
        })
        .collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
    let norms: Vec<f64> = centred.iter().map(|r| dot(r, r).sqrt()).collect();
    let mut c = vec![0f64; n * n];
    for i in 0..n {
        for j in i..n {
            let v = (dot(&centred[i], &centred[j]) / (norms[i] * norms[j])).clamp(-1.0, 1.0);
            c[i * n + j] = v;
            c[j * n + i] = v;
        }
    }
    c
}

/// Eigenvalues of the symmetric `n x n` matrix `a` (row-major), by cyclic Jacobi rotations
/// (exact to rounding for the 64 x 64 correlation matrices jacov needs; numpy's `eig` gives
/// the same values for a symmetric matrix).
fn symmetric_eigenvalues(mut a: Vec<f64>, n: usize) -> Vec<f64> {
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        let scale: f64 = (0..n)
            .map(|i| a[i * n + i].powi(2))
            .sum::<f64>()
            .max(1e-300);
        if off <= 1e-30 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                rotate(&mut a, n, p, q);
            }
        }
    }
    (0..n).map(|i| a[i * n + i]).collect()
}

/// One Jacobi rotation zeroing `a[p][q]` (and `a[q][p]`).
fn rotate(a: &mut [f64], n: usize, p: usize, q: usize) {
    let apq = a[p * n + q];
    if apq == 0.0 {
        return;
    }
    let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
    // The smaller root of t^2 + 2 theta t - 1 = 0: the rotation angle is at most pi/4.
    let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
    let c = 1.0 / (t * t + 1.0).sqrt();
    let s = t * c;
    for k in 0..n {
        let (akp, akq) = (a[k * n + p], a[k * n + q]);
        a[k * n + p] = c * akp - s * akq;
        a[k * n + q] = s * akp + c * akq;
    }
    for k in 0..n {
        let (apk, aqk) = (a[p * n + k], a[q * n + k]);
        a[p * n + k] = c * apk - s * aqk;
        a[q * n + k] = s * apk + c * aqk;
    }
}

/// Zen-NAS (Lin et al. 2021, NASLib's `zen.py`): convolution and linear weights re-drawn from
/// N(0, 1) (biases 0; batch norm scale 1 and shift 0, as built), two forward passes in
/// training mode without gradients on `batch_size` N(0, 1) images x and on x + 0.01 x'
/// (x' also N(0, 1)); score = ln(mean over images of sum |f(x) - f(x + 0.01 x')|), f the
/// features before the global average pooling, + the sum over batch-norm layers of
/// ln sqrt(mean running variance) (the running variances left by the two passes). The
/// images come from `data_seed`, the same for every network (NASLib draws new ones per
/// network), the weights from `seed`.
fn zen<B: Backend>(
    backend: &mut B,
    model: &Model,
    batch_size: usize,
    data_seed: u64,
    seed: u64,
) -> Result<f64, TrainError> {
    let net = model.network();
    let before_pool = pooled_features(net).ok_or(ModelError::NoGlobalPool)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for w in model.weights() {
        let len = backend.param_values(w).len();
        backend.set_param_values(w, gaussian(&mut rng, len));
    }
    for b in model.biases() {
        let len = backend.param_values(b).len();
        backend.set_param_values(b, vec![0.0; len]);
    }
    let [c, h, w] = input_of(net);
    let len = batch_size * c * h * w;
    let mut images = ChaCha8Rng::seed_from_u64(data_seed);
    let x = gaussian(&mut images, len);
    let mixed: Vec<f32> = x
        .iter()
        .zip(gaussian(&mut images, len))
        .map(|(a, b)| a + MIXUP_GAMMA * b)
        .collect();
    let mut features = |values: Vec<f32>| -> Result<Vec<f32>, TrainError> {
        let x = backend.tensor(values, [batch_size, c, h, w]);
        let mut seen = 0;
        let mut out = Vec::new();
        model.forward_observed(backend, x, true, false, &mut |b, _, t| {
            if seen == before_pool {
                out = b.values(t);
            }
            seen += 1;
        })?;
        Ok(out)
    };
    let f = features(x)?;
    let g = features(mixed)?;
    let difference: f64 = f
        .iter()
        .zip(&g)
        .map(|(a, b)| f64::from((a - b).abs()))
        .sum::<f64>()
        / batch_size as f64;
    let bn_scaling: f64 = model
        .norms()
        .iter()
        .map(|&n| {
            let v = backend.running_var(n);
            (v.iter().map(|x| f64::from(*x)).sum::<f64>() / v.len() as f64)
                .sqrt()
                .ln()
        })
        .sum();
    Ok(difference.ln() + bn_scaling)
}

/// Zen's mixup weight of the second Gaussian batch.
const MIXUP_GAMMA: f32 = 1e-2;

/// The index of the node whose output the last global average pooling reads (zen's
/// features, NASLib's `forward_before_global_avg_pool`).
fn pooled_features(net: &Network) -> Option<usize> {
    net.nodes()
        .iter()
        .rev()
        .find(|n| n.op == Op::GlobalAvgPool)
        .and_then(|n| n.inputs.first())
        .map(|i| i.index())
}

/// `len` standard normal values (Box-Muller), PyTorch's `normal_()` / `randn` in law.
fn gaussian(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(len + 1);
    while out.len() < len {
        // 1 - u in (0, 1]: the logarithm stays finite.
        let u: f64 = 1.0 - rng.random::<f64>();
        let v: f64 = rng.random::<f64>();
        let r = (-2.0 * u.ln()).sqrt();
        let a = std::f64::consts::TAU * v;
        out.push((r * a.cos()) as f32);
        out.push((r * a.sin()) as f32);
    }
    out.truncate(len);
    out
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
    use crate::ir::Conv;

    fn backend() -> BurnFlex {
        BurnFlex::new(OptimizerSpec::Sgd {
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        })
    }

    fn conv1x1(out_channels: u32) -> Op {
        Op::Conv(Conv {
            out_channels,
            kernel: [1, 1],
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
            bias: false,
        })
    }

    /// A 2 x 2 one-channel image through `body` (ops applied in a chain), global average
    /// pooling and a linear layer to two classes.
    fn chain(body: Vec<Op>) -> Network {
        let mut ops = vec![Op::Input {
            channels: 1,
            height: 2,
            width: 2,
        }];
        ops.extend(body);
        ops.push(Op::GlobalAvgPool);
        ops.push(Op::Linear {
            out_features: 2,
            bias: true,
        });
        ops.push(Op::Output);
        let nodes = ops
            .into_iter()
            .enumerate()
            .map(|(i, op)| (op, i.checked_sub(1).into_iter().collect(), format!("n{i}")))
            .collect();
        Network::from_nodes(nodes).unwrap()
    }

    fn config(proxy: Proxy) -> ZeroCostConfig {
        ZeroCostConfig {
            proxy,
            data: DataFormat::Synthetic,
            path: None,
            train_files: Vec::new(),
            synthetic_images: 100,
            data_seed: 1,
            batch_size: 8,
            seed: 0,
            threads: 1,
            backend: BackendKind::BurnFlex,
        }
    }

    /// Eight 2 x 2 one-channel images of two classes.
    fn batch() -> Batch {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        Batch {
            images: gaussian(&mut rng, 32),
            labels: (0..8).map(|i| i % 2).collect(),
            shape: [1, 2, 2],
            classes: 2,
        }
    }

    fn score(net: &Network, proxy: Proxy, seed: u64) -> Result<f64, TrainError> {
        score_on(&mut backend(), net, Some(&batch()), &config(proxy), seed)
    }

    #[test]
    fn synflow_of_a_tiny_network_is_the_hand_computation() {
        // conv 1x1 (w) -> batch norm -> ReLU -> pool -> linear (a, bias). Without batch norm
        // and with |weights|, on ones: R = sum_k |a_k| |w| + |bias_k|, so
        // |w dR/dw| = |w| sum|a| and sum_k |a_k dR/da_k| = sum|a| |w|: 2 |w| sum|a|.
        // (With batch norm kept, the constant image would normalise to 0 and R would not
        // depend on w.)
        let net = chain(vec![conv1x1(1), Op::BatchNorm { affine: true }, Op::Relu]);
        let mut b = backend();
        let model = Model::build(&net, &mut b, 7).unwrap();
        let weights = model.weights();
        let w = f64::from(b.param_values(weights[0])[0].abs());
        let a: f64 = b
            .param_values(weights[1])
            .iter()
            .map(|v| f64::from(v.abs()))
            .sum();
        let want = (2.0 * w * a).ln();
        let got = score(&net, Proxy::Synflow, 7).unwrap();
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }

    #[test]
    fn double_precision_carries_gradients_past_float32() {
        // x = 1e30, two 1x1 convolutions with weights 1e30: y = 1e90, dy/dw1 = 1e60, both
        // infinite in float32.
        let mut b = backend();
        let w1 = b.param([1, 1, 1, 1], vec![1e30]);
        let w2 = b.param([1, 1, 1, 1], vec![1e30]);
        b.double();
        let x = b.tensor(vec![1e30], [1, 1, 1, 1]);
        let Op::Conv(c) = conv1x1(1) else {
            unreachable!()
        };
        let y = b.conv2d(b.conv2d(x, w1, None, &c), w2, None, &c);
        let (grads, _) = b.gradients_f64(b.sum(y), &[]);
        assert!((grads[w1.0][0] / 1e60 - 1.0).abs() < 1e-6, "{grads:?}");
        assert!((grads[w2.0][0] / 1e60 - 1.0).abs() < 1e-6, "{grads:?}");
    }

    #[test]
    fn jacov_of_a_linear_network_has_one_direction() {
        // No ReLU, no batch norm: the input gradient is the same for every image, every
        // correlation is 1, the eigenvalues are n and n - 1 zeros. (A 3x3 kernel: after a
        // 1x1 one every pixel would have the same gradient, a row without correlation.)
        let conv3x3 = match conv1x1(3) {
            Op::Conv(c) => Op::Conv(Conv {
                kernel: [3, 3],
                padding: [1, 1],
                ..c
            }),
            op => op,
        };
        let net = chain(vec![conv3x3]);
        let got = score(&net, Proxy::Jacov, 1).unwrap();
        let (n, k) = (8.0, 1e-5f64);
        let want = -((n + k).ln() + 1.0 / (n + k) + (n - 1.0) * (k.ln() + 1.0 / k));
        assert!((got - want).abs() < 1e-6 * want.abs(), "{got} vs {want}");
        // With a ReLU and batch norm the images differ: a better score than that.
        let net = chain(vec![conv1x1(3), Op::BatchNorm { affine: true }, Op::Relu]);
        assert!(score(&net, Proxy::Jacov, 1).unwrap() > want);
    }

    #[test]
    fn jacov_of_a_network_ignoring_its_input_is_not_a_number() {
        let net = chain(vec![Op::Zero {
            out_channels: 1,
            stride: 1,
        }]);
        assert!(score(&net, Proxy::Jacov, 1).unwrap().is_nan());
    }

    #[test]
    fn zen_is_seeded_and_needs_a_global_pool() {
        let net = chain(vec![conv1x1(4), Op::BatchNorm { affine: true }, Op::Relu]);
        let a = score(&net, Proxy::Zen, 1).unwrap();
        assert!(a.is_finite());
        assert_eq!(a, score(&net, Proxy::Zen, 1).unwrap());
        assert_ne!(a, score(&net, Proxy::Zen, 2).unwrap());
        // No global pooling: a 2 x 2 convolution makes the 1 x 1 features instead.
        let whole = match conv1x1(2) {
            Op::Conv(c) => Op::Conv(Conv {
                kernel: [2, 2],
                ..c
            }),
            op => op,
        };
        let nodes = vec![
            (
                Op::Input {
                    channels: 1,
                    height: 2,
                    width: 2,
                },
                vec![],
                "x".to_string(),
            ),
            (whole, vec![0], "conv".to_string()),
            (Op::Output, vec![1], "out".to_string()),
        ];
        let net = Network::from_nodes(nodes).unwrap();
        let e = score(&net, Proxy::Zen, 1).unwrap_err();
        assert!(e.to_string().contains("global average pooling"), "{e}");
    }

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
    fn jacobi_eigenvalues_of_small_symmetric_matrices() {
        // [[2, 1], [1, 2]]: eigenvalues 1 and 3.
        let mut v = symmetric_eigenvalues(vec![2.0, 1.0, 1.0, 2.0], 2);
        v.sort_by(f64::total_cmp);
        assert!(
            (v[0] - 1.0).abs() < 1e-12 && (v[1] - 3.0).abs() < 1e-12,
            "{v:?}"
        );
        // A 3 x 3 with eigenvalues 2 - sqrt 2, 2, 2 + sqrt 2 (the path graph's Laplacian
        // shifted): [[2, -1, 0], [-1, 2, -1], [0, -1, 2]].
        let a = vec![2.0, -1.0, 0.0, -1.0, 2.0, -1.0, 0.0, -1.0, 2.0];
        let mut v = symmetric_eigenvalues(a, 3);
        v.sort_by(f64::total_cmp);
        let s = 2f64.sqrt();
        for (got, want) in v.iter().zip([2.0 - s, 2.0, 2.0 + s]) {
            assert!((got - want).abs() < 1e-12, "{v:?}");
        }
    }

    #[test]
    fn correlation_is_numpys_corrcoef() {
        // Rows 1 2 3, 2 4 6 (perfectly correlated), 3 2 1 (anti-correlated).
        let c = correlation(&[1.0, 2.0, 3.0, 2.0, 4.0, 6.0, 3.0, 2.0, 1.0], 3);
        let want = [1.0, 1.0, -1.0, 1.0, 1.0, -1.0, -1.0, -1.0, 1.0];
        for (g, w) in c.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{c:?}");
        }
        // A constant row has no correlation.
        assert!(correlation(&[1.0, 1.0, 1.0, 2.0], 2)[1].is_nan());
    }

    #[test]
    fn jacov_of_uncorrelated_rows_is_its_maximum() {
        // Orthogonal centred rows: the correlation matrix is the identity, every eigenvalue
        // is 1, and the score is -n (ln 1 + 1 per image, up to the 1e-5).
        let rows = [1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0, -1.0];
        let score = jacov_score(&rows, 2);
        let k = 1e-5f64;
        assert!((score + 2.0 * ((1.0 + k).ln() + 1.0 / (1.0 + k))).abs() < 1e-12);
        // Identical rows: eigenvalues 2 and 0, and the zero one dominates.
        let same = jacov_score(&[1.0, 2.0, 3.0, 1.0, 2.0, 3.0], 2);
        let want = -((2.0 + k).ln() + 1.0 / (2.0 + k) + k.ln() + 1.0 / k);
        assert!((same - want).abs() < 1e-6 * want.abs(), "{same} vs {want}");
        // A Jacobian of zeros (the output ignores the input): not a number.
        assert!(jacov_score(&[0.0; 6], 2).is_nan());
    }

    #[test]
    fn synflow_log_follows_naslib() {
        assert_eq!(naslib_log(0.0), 0.0);
        assert!((naslib_log(std::f64::consts::E.powi(3)) - 3.0).abs() < 1e-12);
        assert_eq!(naslib_log(f64::INFINITY), f64::INFINITY);
    }

    #[test]
    fn gaussian_draws_are_standard_normal_and_seeded() {
        let a = gaussian(&mut ChaCha8Rng::seed_from_u64(3), 20001);
        assert_eq!(a.len(), 20001);
        let mean = a.iter().map(|x| f64::from(*x)).sum::<f64>() / a.len() as f64;
        let var = a
            .iter()
            .map(|x| (f64::from(*x) - mean).powi(2))
            .sum::<f64>()
            / a.len() as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
        assert_eq!(a, gaussian(&mut ChaCha8Rng::seed_from_u64(3), 20001));
        assert_ne!(a, gaussian(&mut ChaCha8Rng::seed_from_u64(4), 20001));
    }

    #[test]
    fn code_kernel_counts_agreements() {
        // Two images, three units: codes 101 and 100: they agree on units 0 and 1.
        let mut k = vec![0.0; 4];
        add_codes(&mut k, &[1.0, -1.0, 2.0, 3.0, 0.0, -2.0], 2);
        assert_eq!(k, vec![3.0, 2.0, 2.0, 3.0]);
    }
}
