//! Training evaluators: candidates meet data.
//!
//! - [`backend`]: the [`Backend`] trait, the tensor ops the IR needs plus parameters and an
//!   optimizer step; [`flex`]: its burn-flex implementation (pure Rust, the default build).
//! - [`model`]: the IR interpreter, written once against the trait.
//! - [`config`]: the `[evaluator] kind = "train"` protocol; [`splits`]: the data it names.
//! - [`train`]: the training loop (mini-batch SGD/Adam, cosine schedule with warm-up, label
//!   smoothing, crop + flip), and [`TrainEvaluator`], which plugs it into campaigns.
//!
//! A run that cannot finish (loss not finite, estimated memory over the limit, a panic inside
//! the backend) ends as a [`TrainError`], recorded as a failed evaluation, never a crash.

pub mod backend;
pub mod config;
pub mod flex;
pub mod model;
pub mod splits;
#[cfg(feature = "tch")]
pub mod torch;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use backend::{Backend, Norm, OptimizerSpec};
pub use config::TrainConfig;
pub use flex::BurnFlex;
pub use model::{Model, ModelError};
pub use splits::Splits;

use super::data;
use super::memory::{self, Meter, OutOfMemory};
use super::{Evaluator, FailureKind, Fidelity, Outcome, Protocol, Task};
use crate::ir::Network;

/// The burn release the `burn-flex` backend is built on (pinned in Cargo.toml).
pub const BURN_VERSION: &str = "0.22.1";

/// Version of the training loop's semantics; part of every training protocol, bumped when a
/// change alters results.
pub const TRAINER_VERSION: u32 = 1;

/// What one training run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Validation accuracy in % (the fitness).
    pub valid_accuracy: f64,
    /// Mean validation cross-entropy.
    pub valid_loss: f64,
    /// Test accuracy in %, when the protocol asks for it.
    pub test_accuracy: Option<f64>,
    /// Mean training loss of each epoch.
    pub train_loss: Vec<f64>,
    /// Optimizer steps taken.
    pub steps: u64,
    /// Training images per second (forward, backward and step; evaluation excluded).
    pub images_per_second: f64,
    /// The same, per epoch.
    pub epoch_images_per_second: Vec<f64>,
    /// Wall seconds of the whole run.
    pub wall_seconds: f64,
    /// Peak memory the run held, in MB, as measured by its memory meter (absent when the
    /// program does not measure allocations; see [`crate::eval::memory`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_mb: Option<u64>,
}

/// Why a training run produced no result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    /// The loss became NaN or infinite.
    #[error("diverged: loss is {loss} at epoch {epoch}, step {step}")]
    Diverged {
        /// 1-based epoch.
        epoch: u32,
        /// 1-based step within the epoch.
        step: usize,
        /// The loss value.
        loss: f32,
    },
    /// The network is too large for the memory limit (estimated before training).
    #[error("memory limit: training needs about {need_mb} MB, the limit is {limit_mb} MB ([evaluator] max_memory_mb)")]
    Memory {
        /// Estimated need.
        need_mb: u64,
        /// The limit.
        limit_mb: u64,
    },
    /// The run held more memory than the limit (measured while it ran).
    #[error(transparent)]
    OutOfMemory(#[from] OutOfMemory),
    /// The network cannot be interpreted.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The network scores another number of classes than the data has.
    #[error("the network scores {network} classes but the data has {data}")]
    Classes {
        /// Classes in the data.
        data: usize,
        /// Classes the network outputs.
        network: usize,
    },
    /// The trained network's validation loss is not finite (overflowing statistics).
    #[error("diverged: validation loss is {0} after training")]
    NotFinite(f64),
    /// The input shape does not fit the network.
    #[error("the data's images are {data:?} but the network takes {network:?}")]
    Input {
        /// Data `[c, h, w]`.
        data: [usize; 3],
        /// Network `[c, h, w]`.
        network: [usize; 3],
    },
    /// The backend panicked (caught).
    #[error("training panicked: {0}")]
    Panic(String),
    /// Could not start the evaluation's threads.
    #[error("cannot start {0} training threads")]
    Threads(usize),
    /// The GPU ran out of memory (libtorch's message says how much was needed); the device
    /// stays usable for the next candidate.
    #[error("out of GPU memory: {0}")]
    GpuMemory(String),
}

impl TrainError {
    /// The failure kind a campaign records for this error.
    pub fn kind(&self) -> FailureKind {
        match self {
            TrainError::Diverged { .. } | TrainError::NotFinite(_) => FailureKind::Diverged,
            TrainError::Memory { .. } | TrainError::OutOfMemory(_) | TrainError::GpuMemory(_) => {
                FailureKind::OutOfMemory
            }
            TrainError::Model(_) | TrainError::Classes { .. } | TrainError::Input { .. } => {
                FailureKind::Unsupported
            }
            TrainError::Panic(_) | TrainError::Threads(_) => FailureKind::Other,
        }
    }
}

/// Progress of a run, reported after every step.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// 1-based epoch.
    pub epoch: u32,
    /// Epochs in all.
    pub epochs: u32,
    /// Steps done in this epoch.
    pub step: usize,
    /// Steps per epoch.
    pub steps: usize,
    /// Running mean training loss of this epoch.
    pub loss: f64,
}

/// Estimated peak training memory in MB: activations kept for the backward pass and their
/// gradients, plus parameters with gradient and two optimizer buffers.
pub fn memory_estimate_mb(net: &Network, batch: usize) -> u64 {
    let activations: u64 = net.nodes().iter().map(|n| n.shape.numel()).sum();
    let params = crate::ir::cost(net).params;
    let bytes = 4 * (3 * activations * batch as u64 + 4 * params);
    bytes.div_ceil(1 << 20)
}

fn learning_rate(config: &TrainConfig, step: u64, total: u64, per_epoch: u64) -> f64 {
    let warm = (config.warmup_epochs * per_epoch as f64).round() as u64;
    if step < warm {
        return config.learning_rate * (step + 1) as f64 / warm as f64;
    }
    let span = (total - warm).max(1) as f64;
    let t = (step - warm) as f64 / span;
    config.learning_rate * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
}

/// Accuracy in % and mean loss of `model` on `data`, in inference mode. Holds one batch's
/// activations at a time, whatever the number of images.
pub fn evaluate<B: Backend>(
    backend: &mut B,
    model: &Model,
    data: &crate::eval::data::Dataset,
    norm: &backend::Norm,
    batch_size: usize,
) -> Result<(f64, f64), OutOfMemory> {
    let k = model.classes();
    let (mut correct, mut loss_sum) = (0usize, 0f64);
    let all: Vec<usize> = (0..data.len()).collect();
    for chunk in all.chunks(batch_size.max(1)) {
        backend.track_gradients(false);
        let (x, t) = backend.batch(data, norm, chunk, None, 0.0);
        let logits = model.forward(backend, x, false)?;
        let values = backend.values(&logits);
        let loss = backend.cross_entropy(logits, t);
        loss_sum += f64::from(backend.loss_value(&loss)) * chunk.len() as f64;
        let labels = chunk.iter().map(|&i| data.labels[i]);
        for (row, label) in values.chunks_exact(k).zip(labels) {
            let best = row
                .iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |b, (i, &v)| if v > b.1 { (i, v) } else { b },
                );
            correct += usize::from(best.0 == usize::from(label));
        }
    }
    let n = data.len().max(1) as f64;
    Ok((100.0 * correct as f64 / n, loss_sum / n))
}

/// Trains `net` on `splits` under `config` with initialisation and data order drawn from
/// `seed`, on `backend`. Deterministic for a given seed and backend.
pub fn train<B: Backend>(
    backend: &mut B,
    net: &Network,
    splits: &Splits,
    config: &TrainConfig,
    seed: u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<TrainReport, TrainError> {
    let start = Instant::now();
    let shape = net.input_shape();
    let want = [shape.channels, shape.height, shape.width].map(|v| v as usize);
    if want != splits.train.shape {
        return Err(TrainError::Input {
            data: splits.train.shape,
            network: want,
        });
    }
    let need_mb = memory_estimate_mb(net, config.batch_size);
    if need_mb > config.max_memory_mb {
        return Err(TrainError::Memory {
            need_mb,
            limit_mb: config.max_memory_mb,
        });
    }
    let model = Model::build(net, backend, seed)?;
    let k = model.classes();
    if k != splits.train.classes {
        return Err(TrainError::Classes {
            data: splits.train.classes,
            network: k,
        });
    }
    if splits.train.is_empty() {
        return Err(TrainError::Input {
            data: splits.train.shape,
            network: want,
        });
    }
    let data = &splits.train;
    let h = data.shape[1];
    let batch = config.batch_size.min(data.len());
    let per_epoch = (data.len() / batch).max(1);
    let total = per_epoch as u64 * u64::from(config.epochs);
    let pad = if h >= 32 { 4 } else { 2 };
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0da7_a0da_7a0d_a7a0);
    let mut order: Vec<usize> = (0..data.len()).collect();
    let mut curve = Vec::with_capacity(config.epochs as usize);
    let mut steps = 0u64;
    let mut train_seconds = 0f64;
    let mut throughput = Vec::with_capacity(config.epochs as usize);
    let interval = backend.loss_read_interval().max(1);
    for epoch in 1..=config.epochs {
        let epoch_start = Instant::now();
        order.shuffle(&mut rng);
        let mut sum = 0f64;
        // Losses not read yet: a GPU backend reads them every `interval` steps, in one transfer.
        let mut pending = Vec::with_capacity(interval);
        let mut read = 0usize;
        for (s, idx) in order.chunks_exact(batch).take(per_epoch).enumerate() {
            let crops = config
                .augment
                .then(|| data::Crop::draw(idx.len(), pad, &mut rng));
            backend.track_gradients(true);
            let (x, t) = backend.batch(
                data,
                &splits.norm,
                idx,
                crops.as_deref(),
                config.label_smoothing,
            );
            let logits = model.forward(backend, x, true)?;
            let loss = backend.cross_entropy(logits, t);
            pending.push(backend.keep_loss(&loss));
            backend.step(loss, learning_rate(config, steps, total, per_epoch as u64));
            memory::check()?;
            steps += 1;
            if pending.len() < interval && s + 1 < per_epoch {
                continue;
            }
            for value in backend.read_losses(std::mem::take(&mut pending)) {
                read += 1;
                if !value.is_finite() {
                    return Err(TrainError::Diverged {
                        epoch,
                        step: read,
                        loss: value,
                    });
                }
                sum += f64::from(value);
                progress(Progress {
                    epoch,
                    epochs: config.epochs,
                    step: read,
                    steps: per_epoch,
                    loss: sum / read as f64,
                });
            }
        }
        let seconds = epoch_start.elapsed().as_secs_f64();
        train_seconds += seconds;
        throughput.push((per_epoch * batch) as f64 / seconds.max(1e-9));
        curve.push(sum / per_epoch as f64);
    }
    let (valid_accuracy, valid_loss) = evaluate(
        backend,
        &model,
        &splits.valid,
        &splits.norm,
        config.eval_batch_size,
    )?;
    if !valid_loss.is_finite() {
        return Err(TrainError::NotFinite(valid_loss));
    }
    let test_accuracy = match &splits.test {
        Some(t) => Some(evaluate(backend, &model, t, &splits.norm, config.eval_batch_size)?.0),
        None => None,
    };
    Ok(TrainReport {
        valid_accuracy,
        valid_loss,
        test_accuracy,
        train_loss: curve,
        steps,
        images_per_second: (steps as usize * batch) as f64 / train_seconds.max(1e-9),
        epoch_images_per_second: throughput,
        wall_seconds: start.elapsed().as_secs_f64(),
        peak_memory_mb: None,
    })
}

thread_local! {
    static QUIET_PANICS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs (once) a panic hook that stays silent for panics inside training runs, which
/// are caught and recorded; every other panic is printed as usual.
fn install_quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET_PANICS.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
}

use crate::eval::panic_message;

/// Runs `f` inside a pool of `threads` threads, turning a panic into [`TrainError::Panic`]
/// (silently: the reason is returned, not printed). No memory limit; see [`metered`].
pub fn guarded<T: Send>(
    threads: usize,
    f: impl FnOnce() -> Result<T, TrainError> + Send,
) -> Result<T, TrainError> {
    metered(threads, &Meter::unlimited(), f)
}

/// Runs `f` like [`guarded`], with every thread of its pool charging `meter`: code inside
/// that polls [`memory::check`] (the interpreter does, at every node) stops with
/// [`TrainError::OutOfMemory`] once the meter's peak crosses its limit.
pub fn metered<T: Send>(
    threads: usize,
    meter: &Meter,
    f: impl FnOnce() -> Result<T, TrainError> + Send,
) -> Result<T, TrainError> {
    install_quiet_hook();
    // The pool's threads only ever run this evaluation: they keep panics quiet and charge its
    // meter for good, and stop charging it before their own teardown.
    let charge = meter.handle();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(move |_| {
            QUIET_PANICS.with(|q| q.set(true));
            charge.enter();
        })
        .exit_handler(|_| memory::leave())
        .build()
        .map_err(|_| TrainError::Threads(threads))?;
    let run = || {
        pool.install(|| {
            catch_unwind(AssertUnwindSafe(f))
                .unwrap_or_else(|p| Err(TrainError::Panic(panic_message(p.as_ref()))))
        })
    };
    // Entered from a plain thread: a rayon worker (a campaign's evaluation pool) that calls
    // `install` steals its own pool's jobs while it waits, which would start a second
    // evaluation on this stack, waiting for memory this one holds.
    if rayon::current_thread_index().is_none() {
        return run();
    }
    std::thread::scope(|s| {
        s.spawn(run)
            .join()
            .unwrap_or_else(|p| Err(TrainError::Panic(panic_message(p.as_ref()))))
    })
}

/// Trains on burn-flex in a pool of `config.threads` threads; a panic inside burn becomes
/// [`TrainError::Panic`], and a run whose measured memory crosses `config.max_memory_mb`
/// stops with [`TrainError::OutOfMemory`]. Results do not depend on the thread count.
pub fn train_flex(
    net: &Network,
    splits: &Splits,
    config: &TrainConfig,
    seed: u64,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<TrainReport, TrainError> {
    let meter = Meter::admit(config.max_memory_mb);
    let mut report = metered(config.threads, &meter, || {
        let mut backend = BurnFlex::new(config.optimizer_spec());
        train(&mut backend, net, splits, config, seed, progress)
    })?;
    report.peak_memory_mb = meter.is_metered().then(|| meter.peak_mb());
    Ok(report)
}

/// Why a training evaluator cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The protocol's data cannot be loaded.
    #[error("data: {0}")]
    Data(#[from] crate::eval::data::DataError),
    /// The backend or device cannot be used here.
    #[error("{0}")]
    Backend(String),
}

/// Runs training on the backend a protocol names.
pub enum Trainer {
    /// burn-flex.
    Flex,
    /// libtorch, with its devices and the data it holds on them.
    #[cfg(feature = "tch")]
    Tch(torch::runtime::Runtime),
}

impl Trainer {
    /// The trainer for `config.backend` (and its devices).
    pub fn new(config: &TrainConfig) -> Result<Trainer, SetupError> {
        match config.backend {
            config::BackendKind::BurnFlex => Ok(Trainer::Flex),
            #[cfg(feature = "tch")]
            config::BackendKind::Tch => torch::runtime::Runtime::new(config)
                .map(Trainer::Tch)
                .map_err(|e| SetupError::Backend(e.to_string())),
            #[cfg(not(feature = "tch"))]
            config::BackendKind::Tch => Err(SetupError::Backend(
                "backend = \"tch\" needs evonas built with libtorch: run scripts/libtorch.sh \
                 (installs PyTorch's libtorch from PyPI and builds with --features tch), or use \
                 backend = \"burn-flex\""
                    .into(),
            )),
        }
    }

    /// Trains `net`: see [`train_flex`]; on tch, one free device of the evaluator's.
    pub fn train(
        &self,
        net: &Network,
        splits: &Splits,
        config: &TrainConfig,
        seed: u64,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<TrainReport, TrainError> {
        match self {
            Trainer::Flex => train_flex(net, splits, config, seed, progress),
            #[cfg(feature = "tch")]
            Trainer::Tch(rt) => rt.train(net, splits, config, seed, progress),
        }
    }

    /// Where this trainer's evaluations run.
    pub fn machine(&self) -> super::machine::Machine {
        match self {
            Trainer::Flex => {
                super::machine::Machine::this(format!("burn-flex {BURN_VERSION}"), None)
            }
            #[cfg(feature = "tch")]
            Trainer::Tch(rt) => super::machine::Machine::this(rt.version(), rt.gpu_names()),
        }
    }

    /// What the protocol records of the backend: name, version, device kind.
    fn describe(&self, m: &mut serde_json::Map<String, serde_json::Value>) {
        match self {
            Trainer::Flex => {
                m.insert("backend".into(), "burn-flex".into());
            }
            #[cfg(feature = "tch")]
            Trainer::Tch(rt) => {
                m.insert("backend".into(), "tch".into());
                m.insert("backend_version".into(), rt.version().into());
                m.insert("device".into(), rt.device_kind().into());
            }
        }
    }
}

/// A campaign evaluator that trains every candidate on the protocol's backend.
pub struct TrainEvaluator {
    config: TrainConfig,
    splits: Splits,
    trainer: Trainer,
    protocol: Protocol,
    machine: super::machine::Machine,
}

impl TrainEvaluator {
    /// Checks the backend and devices, then loads the data the protocol names.
    pub fn new(config: TrainConfig) -> Result<Self, SetupError> {
        let trainer = Trainer::new(&config)?;
        let splits = Splits::load(&config)?;
        let protocol = Self::protocol_for(&config, &splits, &trainer);
        let machine = trainer.machine();
        Ok(TrainEvaluator {
            config,
            splits,
            trainer,
            protocol,
            machine,
        })
    }

    /// The protocol of `config` on `splits` trained by `trainer`: every setting that changes
    /// results, the data's digest instead of its paths, the backend (with its version and
    /// device kind for tch) and the trainer version.
    ///
    /// Paths are cleared before the settings are serialised: they are not part of the
    /// protocol, and a path that is not UTF-8 would make serialisation fail (which once turned
    /// every such description into `null`, one fingerprint for all of them).
    pub fn protocol_for(config: &TrainConfig, splits: &Splits, trainer: &Trainer) -> Protocol {
        let mut c = config.clone();
        c.path = None;
        c.train_files.clear();
        c.test_files.clear();
        // Numbers, booleans and unit enums only: serialisation cannot fail.
        let mut d = serde_json::to_value(&c).expect("path-free settings serialise");
        if let Some(m) = d.as_object_mut() {
            // Results do not depend on the thread count. The memory limit decides which
            // networks fail, so a failure recorded under one limit must not answer another;
            // the default is left out so caches made before the measured guard stay reachable.
            m.remove("threads");
            if config.max_memory_mb == config::DEFAULT_MAX_MEMORY_MB {
                m.remove("max_memory_mb");
            }
            // Which GPU (of one kind) runs an evaluation does not change it; the backend
            // settings burn-flex does not have are left out of its protocols, which keep the
            // fingerprints they had before the tch backend existed.
            m.remove("devices");
            m.remove("device");
            if config.backend == config::BackendKind::BurnFlex {
                for k in ["precision", "channels_last", "deterministic"] {
                    m.remove(k);
                }
            }
            m.insert("kind".into(), "train".into());
            trainer.describe(m);
            m.insert("trainer_version".into(), TRAINER_VERSION.into());
            m.insert("data_digest".into(), splits.digest.clone().into());
        }
        Protocol::new(d).at(Fidelity::Epochs {
            epochs: config.epochs,
        })
    }

    /// The loaded data.
    pub fn splits(&self) -> &Splits {
        &self.splits
    }

    /// The protocol settings.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The seed of a candidate's `repeat`-th training run.
    pub fn seed_for(&self, hash: &crate::hash::FunctionalHash, repeat: u32) -> u64 {
        let mut h = blake3::Hasher::new();
        h.update(&self.config.seed.to_le_bytes());
        h.update(&repeat.to_le_bytes());
        if self.config.seed_policy == config::SeedPolicy::PerFunction {
            h.update(hash.to_string().as_bytes());
        }
        let b = h.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&b.as_bytes()[..8]);
        u64::from_le_bytes(first)
    }
}

/// The outcome a training result makes.
pub fn outcome(result: Result<TrainReport, TrainError>) -> Outcome {
    match result {
        Ok(r) => {
            let mut metrics = BTreeMap::new();
            metrics.insert("valid_accuracy".to_string(), r.valid_accuracy);
            metrics.insert("valid_loss".to_string(), r.valid_loss);
            if let Some(t) = r.test_accuracy {
                metrics.insert("test_accuracy".to_string(), t);
            }
            if let Some(l) = r.train_loss.last() {
                metrics.insert("train_loss".to_string(), *l);
            }
            // Timing is kept out of `metrics` (which the search and its journal see) so equal
            // seeds give equal records; it lives with the curves, like `wall_seconds`.
            let mut curves = BTreeMap::new();
            curves.insert("train_loss".to_string(), r.train_loss.clone());
            curves.insert(
                "images_per_second".to_string(),
                r.epoch_images_per_second.clone(),
            );
            Outcome::Done {
                fitness: r.valid_accuracy,
                metrics,
                curves,
                simulated_seconds: 0.0,
                wall_seconds: r.wall_seconds,
            }
        }
        Err(e) => Outcome::failed(e.kind(), e.to_string()),
    }
}

impl Evaluator for TrainEvaluator {
    fn protocol(&self) -> &Protocol {
        &self.protocol
    }

    fn input(&self) -> Option<([u32; 3], u32)> {
        Some((self.splits.input(), self.splits.classes()))
    }

    fn machine(&self) -> Option<super::machine::Machine> {
        Some(self.machine.clone())
    }

    fn evaluate(&self, task: &Task<'_>) -> Outcome {
        let seed = self.seed_for(&task.hash, task.repeat);
        outcome(
            self.trainer
                .train(task.network, &self.splits, &self.config, seed, &mut |_| {}),
        )
    }
}
