//! The embedded default data set: 10 classes of procedurally drawn shapes and textures at
//! 32 x 32 RGB, with random position, scale, colours and noise, generated from a seed (the same
//! seed gives the same bytes on every machine).
//!
//! Classes: 0 disc, 1 ring, 2 square, 3 triangle, 4 plus, 5 horizontal stripes, 6 vertical
//! stripes, 7 checkerboard, 8 diagonal stripes, 9 two blobs. Shape classes need spatial
//! features at several scales and texture classes need oriented filters, so a linear classifier
//! does clearly worse than a small convolutional network.

use rand::{Rng, SeedableRng};

use super::Dataset;

/// Image side.
pub const SIDE: usize = 32;
/// Number of classes.
pub const CLASSES: usize = 10;

/// Where and how large the drawn pattern is.
#[derive(Clone, Copy)]
struct Pattern {
    cx: f32,
    cy: f32,
    r: f32,
    period: f32,
    phase: f32,
}

fn inside(class: usize, x: f32, y: f32, p: Pattern) -> bool {
    let Pattern {
        cx,
        cy,
        r,
        period,
        phase,
    } = p;
    let (dx, dy) = (x - cx, y - cy);
    let d = (dx * dx + dy * dy).sqrt();
    match class {
        0 => d < r,
        1 => d < r && d > 0.55 * r,
        2 => dx.abs() < 0.8 * r && dy.abs() < 0.8 * r,
        3 => dy < 0.7 * r && dy > -0.9 * r && dx.abs() < (dy + 0.9 * r) * 0.6,
        4 => (dx.abs() < 0.28 * r && dy.abs() < r) || (dy.abs() < 0.28 * r && dx.abs() < r),
        5 => ((y + phase) / period).floor() as i64 % 2 == 0,
        6 => ((x + phase) / period).floor() as i64 % 2 == 0,
        7 => {
            (((x + phase) / period).floor() as i64 + ((y + phase) / period).floor() as i64) % 2 == 0
        }
        8 => ((x + y + phase) / (1.4 * period)).floor() as i64 % 2 == 0,
        _ => {
            let (ex, ey) = (x - (SIDE as f32 - cx), y - (SIDE as f32 - cy));
            d < 0.6 * r || (ex * ex + ey * ey).sqrt() < 0.6 * r
        }
    }
}

/// `n` images, classes balanced (round robin), drawn from `seed`.
pub fn generate(n: usize, seed: u64) -> Dataset {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut pixels = Vec::with_capacity(n * 3 * SIDE * SIDE);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % CLASSES;
        let fg: [f32; 3] = [rng.random(), rng.random(), rng.random()];
        let mut bg: [f32; 3] = [rng.random(), rng.random(), rng.random()];
        // Keep foreground and background apart so the shape is visible.
        if fg.iter().zip(&bg).map(|(a, b)| (a - b).abs()).sum::<f32>() < 0.6 {
            for (b, f) in bg.iter_mut().zip(&fg) {
                *b = 1.0 - f;
            }
        }
        let r = rng.random_range(6.0..13.0f32);
        let cx = rng.random_range(r * 0.8..SIDE as f32 - r * 0.8);
        let cy = rng.random_range(r * 0.8..SIDE as f32 - r * 0.8);
        let period = rng.random_range(2.5..5.5f32);
        let phase = rng.random_range(0.0..10.0f32);
        let noise = rng.random_range(0.03..0.15f32);
        let pattern = Pattern {
            cx,
            cy,
            r,
            period,
            phase,
        };
        let mut img = vec![0u8; 3 * SIDE * SIDE];
        for y in 0..SIDE {
            for x in 0..SIDE {
                let on = inside(class, x as f32 + 0.5, y as f32 + 0.5, pattern);
                for c in 0..3 {
                    let base = if on { fg[c] } else { bg[c] };
                    // Uniform noise (sum of two uniforms: triangular), cheap and portable.
                    let e = (rng.random::<f32>() + rng.random::<f32>() - 1.0) * noise * 2.0;
                    img[c * SIDE * SIDE + y * SIDE + x] =
                        ((base + e).clamp(0.0, 1.0) * 255.0).round() as u8;
                }
            }
        }
        pixels.extend_from_slice(&img);
        labels.push(class as u8);
    }
    Dataset {
        shape: [3, SIDE, SIDE],
        classes: CLASSES,
        pixels,
        labels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_and_balanced_classes() {
        let a = generate(100, 1);
        assert_eq!(a, generate(100, 1));
        assert_ne!(a, generate(100, 2));
        assert_eq!(a.class_counts(), vec![10; 10]);
        assert_eq!(a.pixels.len(), 100 * 3 * 32 * 32);
        // Golden digest: the generator is part of every synthetic protocol, so a change to it
        // must be deliberate (and change the protocol's version).
        let digest = blake3::hash(&generate(20, 0).pixels).to_hex().to_string();
        assert_eq!(&digest[..16], "2d3994814ac0c8c5", "{digest}");
    }

    #[test]
    fn images_are_not_blank() {
        let d = generate(50, 3);
        for i in 0..d.len() {
            let img = d.image(i);
            let min = img.iter().min().unwrap();
            let max = img.iter().max().unwrap();
            assert!(max - min > 60, "image {i} has contrast {}", max - min);
        }
    }
}
