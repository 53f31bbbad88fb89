//! A small, fixed 128-bit mixing hash for intermediate labels (hash labels, canonical
//! orders in decoders).
//!
//! Labels inside one hash computation are combined thousands of times per network, so they use
//! this cheap, portable function (fixed constants, explicit little-endian words: the same bits on
//! every machine); only the final digest goes through blake3. 128 bits keep the chance that two
//! different labels meet below 2^-100 for any realistic search.

/// A 128-bit label.
pub type Label = u128;

const K0: u64 = 0x9E37_79B9_7F4A_7C15;
const K1: u64 = 0xC2B2_AE3D_27D4_EB4F;
const K2: u64 = 0x1656_67B1_9E37_79F9;
const K3: u64 = 0x85EB_CA77_C2B2_AE63;

#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let m = u128::from(a).wrapping_mul(u128::from(b));
    (m as u64) ^ ((m >> 64) as u64)
}

/// Incremental mixer: feed words, then [`Mixer::finish`].
#[derive(Clone, Copy, Debug)]
pub struct Mixer {
    a: u64,
    b: u64,
    n: u64,
}

impl Mixer {
    /// A mixer seeded with a domain tag, so different kinds of labels never coincide.
    #[inline]
    pub fn new(domain: u64) -> Self {
        Mixer {
            a: K0 ^ domain,
            b: K1.wrapping_add(domain.rotate_left(29)),
            n: 0,
        }
    }

    /// Feeds one 64-bit word.
    #[inline]
    pub fn word(mut self, w: u64) -> Self {
        self.n = self.n.wrapping_add(1);
        self.a = fold(self.a ^ w, K2 ^ self.n);
        self.b = fold(self.b ^ w.rotate_left(31), K3.wrapping_add(self.a));
        self
    }

    /// Feeds a 128-bit label.
    #[inline]
    pub fn label(self, l: Label) -> Self {
        self.word(l as u64).word((l >> 64) as u64)
    }

    /// The 128-bit result.
    #[inline]
    pub fn finish(self) -> Label {
        let a = fold(self.a ^ self.n, K1) ^ self.b;
        let b = fold(self.b ^ K0, a ^ K3);
        let a = fold(a, K2 ^ b);
        (u128::from(a) << 64) | u128::from(b)
    }
}

/// A `BuildHasher` for maps keyed by [`Label`]s, which are already well mixed: it keeps their
/// low 64 bits instead of hashing them again.
#[derive(Clone, Copy, Debug, Default)]
pub struct LabelHasher(u64);

impl std::hash::Hasher for LabelHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(K0);
        }
    }
    fn write_u128(&mut self, x: u128) {
        self.0 ^= x as u64;
    }
}

/// Builds [`LabelHasher`]s.
pub type LabelBuild = std::hash::BuildHasherDefault<LabelHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_values_guard_portability() {
        // Any change here changes every hash: bump the algorithm versions.
        let l = Mixer::new(1).word(2).word(3).finish();
        assert_eq!(l, Mixer::new(1).word(2).word(3).finish());
        assert_ne!(l, Mixer::new(1).word(3).word(2).finish());
        assert_ne!(l, Mixer::new(2).word(2).word(3).finish());
        assert_ne!(Mixer::new(0).finish(), Mixer::new(0).word(0).finish());
        assert_eq!(l, 0x3a9c_482c_a562_beb8_6b62_88db_59df_fd37_u128, "{l:#x}");
    }
}
