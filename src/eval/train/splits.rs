//! The train / validation / test splits a training protocol uses, loaded once per evaluator.
//!
//! Validation images are carved deterministically (by `data_seed`) from the training files, so
//! the search never sees the test split; the test split is read only when asked for. The
//! digest of the loaded pixels and labels goes into the protocol fingerprint instead of file
//! paths: moving the files keeps the cache, changing their contents does not.

use std::path::{Path, PathBuf};

use super::config::{DataFormat, TrainConfig};
use crate::eval::data::{cifar, idx, synthetic, DataError, Dataset};

/// Loaded data.
#[derive(Clone, Debug)]
pub struct Splits {
    /// Training images.
    pub train: Dataset,
    /// Validation images (fitness).
    pub valid: Dataset,
    /// Test images, if the protocol reports test accuracy.
    pub test: Option<Dataset>,
    /// Per-channel mean and standard deviation of the training images.
    pub norm: (Vec<f32>, Vec<f32>),
    /// blake3 of every split's pixels and labels, hex.
    pub digest: String,
}

fn first_existing(dir: &Path, names: &[&str]) -> PathBuf {
    names
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.exists())
        .unwrap_or_else(|| dir.join(names[0]))
}

fn files(config: &TrainConfig, given: &[PathBuf], test: bool) -> Vec<PathBuf> {
    let dir = config.path.clone().unwrap_or_default();
    if !given.is_empty() {
        return given
            .iter()
            .map(|p| {
                if p.is_relative() {
                    dir.join(p)
                } else {
                    p.clone()
                }
            })
            .collect();
    }
    match (config.data, test) {
        (DataFormat::Cifar10, false) => (1..=5)
            .map(|i| dir.join(format!("data_batch_{i}.bin")))
            .collect(),
        (DataFormat::Cifar10, true) => vec![dir.join("test_batch.bin")],
        (DataFormat::Idx, false) => vec![
            first_existing(
                &dir,
                &["train-images-idx3-ubyte.gz", "train-images-idx3-ubyte"],
            ),
            first_existing(
                &dir,
                &["train-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte"],
            ),
        ],
        (DataFormat::Idx, true) => vec![
            first_existing(
                &dir,
                &["t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"],
            ),
            first_existing(
                &dir,
                &["t10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte"],
            ),
        ],
        (DataFormat::Synthetic, _) => Vec::new(),
    }
}

fn read(config: &TrainConfig, paths: &[PathBuf]) -> Result<Dataset, DataError> {
    match config.data {
        DataFormat::Cifar10 => {
            let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
            cifar::read(&refs)
        }
        DataFormat::Idx => match paths {
            [images, labels] => idx::read_pair(images, labels, 10),
            _ => Err(DataError::Mismatch {
                message: format!(
                    "[evaluator] idx data needs two files, [images, labels]; got {}",
                    paths.len()
                ),
            }),
        },
        DataFormat::Synthetic => Ok(synthetic::generate(
            config.synthetic_images,
            config.data_seed,
        )),
    }
}

impl Splits {
    /// Reads (or generates) the data a protocol names and splits it.
    pub fn load(config: &TrainConfig) -> Result<Splits, DataError> {
        let all = read(config, &files(config, &config.train_files, false))?;
        if all.len() <= config.valid_size {
            return Err(DataError::Mismatch {
                message: format!(
                    "[evaluator] valid_size {} leaves no training images: the training files hold {}",
                    config.valid_size,
                    all.len()
                ),
            });
        }
        let (mut train, valid) = all.split(config.valid_size, config.data_seed);
        if let Some(n) = config.train_size {
            if n < train.len() {
                let idx: Vec<usize> = (0..n).collect();
                train = train.subset(&idx);
            }
        }
        let test = if config.test {
            Some(match config.data {
                DataFormat::Synthetic => synthetic::generate(
                    config.synthetic_test_images,
                    config.data_seed ^ 0x7e57_7e57_7e57_7e57,
                ),
                _ => read(config, &files(config, &config.test_files, true))?,
            })
        } else {
            None
        };
        if let Some(t) = &test {
            if t.shape != train.shape {
                return Err(DataError::Mismatch {
                    message: format!(
                        "test images are {:?}, training images {:?}",
                        t.shape, train.shape
                    ),
                });
            }
        }
        let mut h = blake3::Hasher::new();
        for d in [Some(&train), Some(&valid), test.as_ref()]
            .into_iter()
            .flatten()
        {
            h.update(&(d.len() as u64).to_le_bytes());
            h.update(&d.pixels);
            h.update(&d.labels);
        }
        let digest = h.finalize().to_hex()[..32].to_string();
        let norm = train.channel_stats();
        Ok(Splits {
            train,
            valid,
            test,
            norm,
            digest,
        })
    }

    /// The network input this data needs: `[channels, height, width]`.
    pub fn input(&self) -> [u32; 3] {
        self.train.shape.map(|v| v as u32)
    }

    /// Number of classes.
    pub fn classes(&self) -> u32 {
        self.train.classes as u32
    }
}
