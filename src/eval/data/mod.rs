//! Image data sets for training evaluators: readers for the formats users point evonas at
//! (CIFAR-10 binary batches, IDX files as used by MNIST and Fashion-MNIST, gzipped or raw) and
//! the embedded default, a synthetic data set generated from a seed.
//!
//! A [`Dataset`] keeps pixels as bytes (`N x C x H x W`), so a CIFAR-10-sized set costs what
//! it weighs on disk; batches are normalised to `f32` when they are drawn ([`Dataset::batch`]).

pub mod cifar;
pub mod idx;
pub mod synthetic;

use std::path::PathBuf;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Why a data file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file cannot be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not in the expected format.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what was expected.
        message: String,
    },
    /// Files that must agree do not.
    #[error("{message}")]
    Mismatch {
        /// What disagrees.
        message: String,
    },
}

/// Images with labels, pixels as bytes in `N x C x H x W` order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    /// Channels, height, width of one image.
    pub shape: [usize; 3],
    /// Number of classes.
    pub classes: usize,
    /// Pixels, image after image.
    pub pixels: Vec<u8>,
    /// One label per image, below `classes`.
    pub labels: Vec<u8>,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image.
    pub fn image_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// Images per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.classes];
        for &l in &self.labels {
            c[usize::from(l)] += 1;
        }
        c
    }

    /// The images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_len());
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            pixels.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Dataset {
            shape: self.shape,
            classes: self.classes,
            pixels,
            labels,
        }
    }

    /// A deterministic split: `valid` images drawn by `seed` for validation, the rest for
    /// training (both keep the original order).
    pub fn split(&self, valid: usize, seed: u64) -> (Dataset, Dataset) {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        idx.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        let mut v: Vec<usize> = idx[..valid.min(idx.len())].to_vec();
        let mut t: Vec<usize> = idx[valid.min(idx.len())..].to_vec();
        v.sort_unstable();
        t.sort_unstable();
        (self.subset(&t), self.subset(&v))
    }

    /// Per-channel mean and standard deviation over all images (in [0, 1] units).
    pub fn channel_stats(&self) -> (Vec<f32>, Vec<f32>) {
        let [c, h, w] = self.shape;
        let plane = h * w;
        let mut sum = vec![0f64; c];
        let mut sq = vec![0f64; c];
        for img in self.pixels.chunks_exact(self.image_len()) {
            for ch in 0..c {
                for &p in &img[ch * plane..(ch + 1) * plane] {
                    let x = f64::from(p) / 255.0;
                    sum[ch] += x;
                    sq[ch] += x * x;
                }
            }
        }
        let n = (self.len() * plane).max(1) as f64;
        let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(q, m)| ((q / n - f64::from(*m).powi(2)).max(1e-12).sqrt()) as f32)
            .collect();
        (mean, std)
    }

    /// A normalised `f32` batch of the images at `indices`, each shifted by its [`Crop`] when
    /// `crops` is given (CIFAR-style augmentation: zero padding, then a crop and a flip).
    pub fn batch(
        &self,
        indices: &[usize],
        norm: &(Vec<f32>, Vec<f32>),
        crops: Option<&[Crop]>,
    ) -> (Vec<f32>, Vec<u8>) {
        let [c, h, w] = self.shape;
        let mut out = vec![0f32; indices.len() * c * h * w];
        let mut labels = Vec::with_capacity(indices.len());
        for (b, &i) in indices.iter().enumerate() {
            let img = self.image(i);
            let Crop { dy, dx, flip } = crops.and_then(|cs| cs.get(b).copied()).unwrap_or_default();
            for ch in 0..c {
                let (m, s) = (norm.0[ch], norm.1[ch]);
                for y in 0..h {
                    for x in 0..w {
                        let sy = y as i64 + dy;
                        let sx0 = if flip { (w - 1 - x) as i64 } else { x as i64 };
                        let sx = sx0 + dx;
                        let v = if sy < 0 || sx < 0 || sy >= h as i64 || sx >= w as i64 {
                            0.0
                        } else {
                            f32::from(img[ch * h * w + sy as usize * w + sx as usize]) / 255.0
                        };
                        out[((b * c + ch) * h + y) * w + x] = (v - m) / s;
                    }
                }
            }
            labels.push(self.labels[i]);
        }
        (out, labels)
    }
}

/// One image's augmentation: output pixel `(y, x)` reads input pixel `(y + dy, x' + dx)`, where
/// `x'` is `x` mirrored when `flip`; pixels outside the image are zero (before normalisation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Crop {
    /// Row shift, within `-pad..=pad`.
    pub dy: i64,
    /// Column shift, within `-pad..=pad`.
    pub dx: i64,
    /// Horizontal flip.
    pub flip: bool,
}

impl Crop {
    /// `n` random crops within `pad` pixels and flips, drawn image after image (row shift,
    /// column shift, flip) so every backend sees the same augmentation for a seed.
    pub fn draw(n: usize, pad: usize, rng: &mut dyn rand::RngCore) -> Vec<Crop> {
        let p = pad as i64;
        (0..n)
            .map(|_| Crop {
                dy: rng.random_range(-p..=p),
                dx: rng.random_range(-p..=p),
                flip: rng.random_bool(0.5),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Dataset {
        Dataset {
            shape: [1, 2, 2],
            classes: 2,
            pixels: vec![0, 255, 0, 255, 10, 20, 30, 40, 1, 2, 3, 4],
            labels: vec![0, 1, 1],
        }
    }

    #[test]
    fn split_is_deterministic_and_disjoint() {
        let d = synthetic::generate(200, 3);
        let (t1, v1) = d.split(50, 9);
        let (t2, v2) = d.split(50, 9);
        assert_eq!((t1.len(), v1.len()), (150, 50));
        assert_eq!((&t1, &v1), (&t2, &v2));
        let (_, v3) = d.split(50, 10);
        assert_ne!(v1, v3);
    }

    #[test]
    fn batches_normalise_and_flip() {
        let d = tiny();
        let norm = (vec![0.0], vec![1.0]);
        let (x, y) = d.batch(&[0], &norm, None);
        assert_eq!(y, vec![0]);
        assert_eq!(x, vec![0.0, 1.0, 0.0, 1.0]);
        // With zero padding and a seed that flips, the row is mirrored.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut flipped = false;
        for _ in 0..20 {
            let crops = Crop::draw(1, 0, &mut rng);
            let (x, _) = d.batch(&[0], &norm, Some(&crops));
            if x == vec![1.0, 0.0, 1.0, 0.0] {
                flipped = true;
            } else {
                assert_eq!(x, vec![0.0, 1.0, 0.0, 1.0]);
            }
        }
        assert!(flipped);
    }
}
