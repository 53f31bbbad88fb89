//! `[evaluator] kind = "train"`: the training protocol of a campaign, and of `evonas train`.
//!
//! ```toml
//! [evaluator]
//! kind = "train"
//! data = "synthetic"          # synthetic | cifar10 | idx (MNIST, Fashion-MNIST)
//! # path = "/usr/share/datasets/fashion-mnist"   # folder of the files (cifar10, idx)
//! valid_size = 1000           # carved from the training files, never trained on
//! train_size = 4000           # training images used (default: the rest)
//! epochs = 3
//! batch_size = 64
//! optimizer = "sgd"           # sgd | adam
//! learning_rate = 0.05
//! backend = "burn-flex"       # burn-flex (pure Rust, CPU) | tch (libtorch: CPU or CUDA)
//! device = "auto"             # cpu | cuda | cuda:N | auto (tch only)
//! ```
//!
//! Every key has a default (see [`TrainConfig`]); the defaults make a short proxy protocol that
//! trains a small network in seconds on the synthetic data.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::backend::OptimizerSpec;
use crate::eval::registry::SettingsError;

/// Where training images come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataFormat {
    /// evonas' own generated 10-class shapes-and-textures set (no files).
    #[default]
    Synthetic,
    /// CIFAR-10 binary batches (`data_batch_*.bin`, `test_batch.bin`).
    Cifar10,
    /// IDX image and label files, gzipped or raw (MNIST, Fashion-MNIST).
    Idx,
}

/// The optimizer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// SGD with momentum (dampening 0).
    #[default]
    Sgd,
    /// Adam.
    Adam,
}

/// How each training run is seeded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SeedPolicy {
    /// Every candidate uses `seed` (repeat evaluations under `aggregate:N` use the next seeds).
    #[default]
    Fixed,
    /// The seed also mixes in the candidate's functional hash.
    PerFunction,
}

/// The training backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// burn 0.22 on its pure-Rust `flex` CPU device: the default build, nothing to install.
    #[default]
    BurnFlex,
    /// libtorch through the `tch` crate (cargo feature `tch`): PyTorch's CPU and CUDA kernels.
    Tch,
}

impl BackendKind {
    /// The name used in configs and protocols.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::BurnFlex => "burn-flex",
            BackendKind::Tch => "tch",
        }
    }
}

/// Where a tch evaluation runs: `cpu`, `cuda` (the first GPU), `cuda:N`, or `auto` (CUDA when
/// libtorch sees a GPU, else the CPU, said on stderr).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceSpec {
    /// CUDA when available, else CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// GPU number N.
    Cuda(usize),
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl std::str::FromStr for DeviceSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(DeviceSpec::Auto),
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" => Ok(DeviceSpec::Cuda(0)),
            _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(n)) => Ok(DeviceSpec::Cuda(n)),
                _ => Err(format!(
                    "device {s:?} is not one of \"cpu\", \"cuda\", \"cuda:N\", \"auto\""
                )),
            },
        }
    }
}

impl Serialize for DeviceSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeviceSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Arithmetic precision of training.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    /// float32 throughout.
    #[default]
    Fp32,
    /// bfloat16 convolutions and activations, float32 parameters, batch-norm statistics and
    /// loss (autocast-style mixed precision; tch only).
    Bf16,
}

macro_rules! defaults {
    ($($name:ident: $ty:ty = $v:expr;)*) => {
        $(fn $name() -> $ty { $v })*
    };
}

defaults! {
    d_valid: usize = 1000;
    d_synthetic: usize = 5000;
    d_synthetic_test: usize = 2000;
    d_epochs: u32 = 3;
    d_batch: usize = 64;
    d_lr: f64 = 0.05;
    d_momentum: f64 = 0.9;
    d_wd: f64 = 5e-4;
    d_true: bool = true;
    d_beta1: f64 = 0.9;
    d_beta2: f64 = 0.999;
    d_adam_eps: f64 = 1e-8;
    d_threads: usize = 1;
    d_memory: u64 = DEFAULT_MAX_MEMORY_MB;
    d_eval_batch: usize = 256;
}

/// The default `max_memory_mb` of a training evaluation.
pub const DEFAULT_MAX_MEMORY_MB: u64 = 4096;

/// The training protocol. Its fingerprint (without paths, threads and memory limit, but with
/// a digest of the data actually loaded) is half of every cache key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Data format.
    #[serde(default)]
    pub data: DataFormat,
    /// Folder holding the data files (`cifar10`, `idx`); relative paths in `train_files` and
    /// `test_files` are taken from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Training files. cifar10: any number of batch files (default `data_batch_1.bin` ..
    /// `data_batch_5.bin`); idx: `[images, labels]` (default `train-images-idx3-ubyte[.gz]`,
    /// `train-labels-idx1-ubyte[.gz]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub train_files: Vec<PathBuf>,
    /// Test files, same shapes (default `test_batch.bin`; `t10k-images-idx3-ubyte[.gz]`,
    /// `t10k-labels-idx1-ubyte[.gz]`). Read only when `test` is on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_files: Vec<PathBuf>,
    /// Synthetic data: images generated for training and validation.
    #[serde(default = "d_synthetic")]
    pub synthetic_images: usize,
    /// Synthetic data: images generated for the test split (from another seed).
    #[serde(default = "d_synthetic_test")]
    pub synthetic_test_images: usize,
    /// Seed of the data: synthetic generation and the train/validation split.
    #[serde(default)]
    pub data_seed: u64,
    /// Validation images carved from the training files (fitness is accuracy on them).
    #[serde(default = "d_valid")]
    pub valid_size: usize,
    /// Training images used after the validation split (default: all of the rest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_size: Option<usize>,
    /// Also report accuracy on the test split (never used as fitness).
    #[serde(default)]
    pub test: bool,
    /// Training epochs.
    #[serde(default = "d_epochs")]
    pub epochs: u32,
    /// Mini-batch size.
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    /// Batch size when measuring accuracy.
    #[serde(default = "d_eval_batch")]
    pub eval_batch_size: usize,
    /// Optimizer.
    #[serde(default)]
    pub optimizer: OptimizerKind,
    /// Peak learning rate (cosine decay to 0 after the warm-up).
    #[serde(default = "d_lr")]
    pub learning_rate: f64,
    /// Linear warm-up, in epochs (may be fractional).
    #[serde(default)]
    pub warmup_epochs: f64,
    /// SGD momentum.
    #[serde(default = "d_momentum")]
    pub momentum: f64,
    /// SGD Nesterov momentum.
    #[serde(default = "d_true")]
    pub nesterov: bool,
    /// Adam's first-moment decay.
    #[serde(default = "d_beta1")]
    pub beta1: f64,
    /// Adam's second-moment decay.
    #[serde(default = "d_beta2")]
    pub beta2: f64,
    /// Adam's epsilon.
    #[serde(default = "d_adam_eps")]
    pub adam_epsilon: f64,
    /// L2 weight decay.
    #[serde(default = "d_wd")]
    pub weight_decay: f64,
    /// Label smoothing in [0, 1).
    #[serde(default)]
    pub label_smoothing: f64,
    /// Random crop (padding 4 for 32x32, 2 for 28x28) and horizontal flip.
    #[serde(default = "d_true")]
    pub augment: bool,
    /// Seed of initialisation, batch order and augmentation.
    #[serde(default)]
    pub seed: u64,
    /// Seed policy.
    #[serde(default)]
    pub seed_policy: SeedPolicy,
    /// Threads per evaluation (evaluations in parallel: `[parallel] threads`).
    #[serde(default = "d_threads")]
    pub threads: usize,
    /// A network whose estimated training memory exceeds this is recorded as failed.
    #[serde(default = "d_memory")]
    pub max_memory_mb: u64,
    /// The training backend.
    #[serde(default)]
    pub backend: BackendKind,
    /// The device (tch): `cpu`, `cuda`, `cuda:N` or `auto`. Only its kind (CPU or CUDA) is
    /// part of the protocol.
    #[serde(default)]
    pub device: DeviceSpec,
    /// Several devices, one evaluation on each at a time (`[parallel] devices` of a campaign
    /// fills it); not part of the protocol. Overrides `device`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceSpec>,
    /// Arithmetic precision (`bf16`: tch only).
    #[serde(default)]
    pub precision: Precision,
    /// NHWC ("channels last") memory format for activations and weights (tch only).
    #[serde(default)]
    pub channels_last: bool,
    /// Deterministic kernels (tch): a GPU campaign then resumes bit for bit, at some speed.
    /// Off, cuDNN's autotuner picks the fastest kernels.
    #[serde(default)]
    pub deterministic: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        toml::from_str("").expect("every key has a default")
    }
}

impl crate::eval::registry::EvaluatorSettings for TrainConfig {
    fn check(&self) -> Result<(), SettingsError> {
        TrainConfig::check(self)
    }
    fn resolve_relative_to(&mut self, dir: &Path) {
        TrainConfig::resolve_relative_to(self, dir);
    }
}

impl TrainConfig {
    /// The optimizer as the backend applies it.
    pub fn optimizer_spec(&self) -> OptimizerSpec {
        match self.optimizer {
            OptimizerKind::Sgd => OptimizerSpec::Sgd {
                momentum: self.momentum,
                nesterov: self.nesterov,
                weight_decay: self.weight_decay,
            },
            OptimizerKind::Adam => OptimizerSpec::Adam {
                beta1: self.beta1,
                beta2: self.beta2,
                epsilon: self.adam_epsilon,
                weight_decay: self.weight_decay,
            },
        }
    }

    /// Checks ranges serde cannot.
    pub fn check(&self) -> Result<(), SettingsError> {
        if self.backend == BackendKind::BurnFlex {
            let cpu_only = |d: &DeviceSpec| matches!(d, DeviceSpec::Cuda(_));
            if cpu_only(&self.device) || self.devices.iter().any(cpu_only) {
                return Err(SettingsError::invalid(
                    "device",
                    "is a GPU, but backend \"burn-flex\" runs on the CPU only; use backend = \"tch\"",
                ));
            }
            if self.precision != Precision::Fp32 {
                return Err(SettingsError::invalid(
                    "precision",
                    "= \"bf16\" needs backend = \"tch\" (burn-flex trains in fp32)",
                ));
            }
            if self.channels_last {
                return Err(SettingsError::invalid(
                    "channels_last",
                    "needs backend = \"tch\" (burn-flex has one memory format)",
                ));
            }
        }
        let positive = [
            ("epochs", f64::from(self.epochs)),
            ("batch_size", self.batch_size as f64),
            ("eval_batch_size", self.eval_batch_size as f64),
            ("learning_rate", self.learning_rate),
            ("threads", self.threads as f64),
            ("valid_size", self.valid_size as f64),
        ];
        for (k, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(SettingsError::invalid(
                    k,
                    format!("must be positive, got {v}"),
                ));
            }
        }
        if self.train_size == Some(0) {
            return Err(SettingsError::invalid(
                "train_size",
                "must be at least 1 (or left out: all images)",
            ));
        }
        if !(self.adam_epsilon.is_finite() && self.adam_epsilon > 0.0) {
            return Err(SettingsError::invalid(
                "adam_epsilon",
                format!("must be positive, got {}", self.adam_epsilon),
            ));
        }
        if self.test && self.data == DataFormat::Synthetic && self.synthetic_test_images == 0 {
            return Err(SettingsError::invalid(
                "test",
                "= true needs synthetic_test_images > 0",
            ));
        }
        let unit = [
            ("momentum", self.momentum),
            ("beta1", self.beta1),
            ("beta2", self.beta2),
            ("label_smoothing", self.label_smoothing),
        ];
        for (k, v) in unit {
            if !(0.0..1.0).contains(&v) {
                return Err(SettingsError::invalid(
                    k,
                    format!("must be in [0, 1), got {v}"),
                ));
            }
        }
        for (k, v) in [
            ("weight_decay", self.weight_decay),
            ("warmup_epochs", self.warmup_epochs),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(SettingsError::invalid(k, format!("must be >= 0, got {v}")));
            }
        }
        if self.warmup_epochs > f64::from(self.epochs) {
            return Err(SettingsError::invalid(
                "warmup_epochs",
                format!("{} exceeds epochs {}", self.warmup_epochs, self.epochs),
            ));
        }
        if self.data == DataFormat::Synthetic && self.synthetic_images <= self.valid_size {
            return Err(SettingsError::invalid(
                "synthetic_images",
                format!(
                    "({}) must exceed valid_size ({})",
                    self.synthetic_images, self.valid_size
                ),
            ));
        }
        if self.data != DataFormat::Synthetic && self.path.is_none() && self.train_files.is_empty()
        {
            return Err(SettingsError::invalid(
                "data",
                format!(
                    "= \"{}\" needs `path` (the folder of the files) or `train_files`",
                    serde_json::to_value(self.data)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                ),
            ));
        }
        Ok(())
    }

    /// Resolves a relative `path` (or, without one, relative file names) against the folder of
    /// the config file when it does not exist from the current directory.
    pub fn resolve_relative_to(&mut self, config_dir: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() && !p.exists() {
                let alt = config_dir.join(&*p);
                if alt.exists() {
                    *p = alt;
                }
            }
        };
        if let Some(p) = &mut self.path {
            resolve(p);
        }
        // Files named relative to `path` are resolved through it when they are read.
        if self.path.is_none() {
            self.train_files.iter_mut().for_each(resolve);
            self.test_files.iter_mut().for_each(resolve);
        }
    }
}
