//! The twin domain's random source for the export gate's noise: a hash-based deterministic
//! random bit generator over SHA-256 (the construction of NIST SP 800-90A's Hash_DRBG, much
//! simplified: no reseed counter or personalisation string).
//!
//! State: a 32-byte key and a block counter. Each 32-byte output block is
//! `SHA-256("twin-drbg-out" ‖ key ‖ counter)`; [`HashDrbg::stir`] replaces the key with
//! `SHA-256("twin-drbg-stir" ‖ key ‖ input)`. The output is as unpredictable as the entropy
//! stirred in: the domain seeds it with the time-stamp counter and its generation, and
//! stirs in the time-stamp counter at every sensor update and request. QEMU's default CPU
//! has no `rdrand`, so under QEMU that is timing jitter only — enough for tests, **not** a
//! secret an observer of the boot's timing cannot narrow (docs/twin.md, "Limits").

use sha2::{Digest, Sha256};

use crate::privacy::RandomSource;

/// The generator (module docs).
#[derive(Clone)]
pub struct HashDrbg {
    key: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl core::fmt::Debug for HashDrbg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The state is secret.
        f.write_str("HashDrbg { .. }")
    }
}

impl HashDrbg {
    /// A generator keyed by `seed`.
    pub fn new(seed: &[u8]) -> HashDrbg {
        let mut drbg = HashDrbg { key: [0; 32], counter: 0, block: [0; 32], used: 32 };
        drbg.stir(seed);
        drbg
    }

    /// Mixes `input` into the key (and discards the buffered output).
    pub fn stir(&mut self, input: &[u8]) {
        let mut hash = Sha256::new();
        hash.update(b"twin-drbg-stir");
        hash.update(self.key);
        hash.update(input);
        self.key.copy_from_slice(&hash.finalize());
        self.used = 32;
    }
}

impl RandomSource for HashDrbg {
    fn next_u64(&mut self) -> u64 {
        if self.used + 8 > 32 {
            let mut hash = Sha256::new();
            hash.update(b"twin-drbg-out");
            hash.update(self.key);
            hash.update(self.counter.to_le_bytes());
            self.block.copy_from_slice(&hash.finalize());
            self.counter += 1;
            self.used = 0;
        }
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.block[self.used..self.used + 8]);
        self.used += 8;
        u64::from_le_bytes(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_words_and_stirring_changes_them() {
        let mut a = HashDrbg::new(b"seed");
        let mut b = HashDrbg::new(b"seed");
        let first: [u64; 9] = core::array::from_fn(|_| a.next_u64());
        assert_eq!(first, core::array::from_fn(|_| b.next_u64()));
        // Nine words span three blocks; no two are equal.
        for i in 0..9 {
            for j in i + 1..9 {
                assert_ne!(first[i], first[j]);
            }
        }
        b.stir(b"jitter");
        assert_ne!(a.next_u64(), b.next_u64());
        assert_ne!(HashDrbg::new(b"seed").next_u64(), HashDrbg::new(b"seee").next_u64());
    }

    #[test]
    fn the_bits_are_balanced() {
        let mut drbg = HashDrbg::new(b"balance");
        let ones: u32 = (0..4096).map(|_| drbg.next_u64().count_ones()).sum();
        // 262144 bits: mean 131072, σ = 256; five σ either way.
        assert!((ones as i64 - 131_072).abs() < 1280, "{ones}");
        assert_eq!(alloc::format!("{drbg:?}"), "HashDrbg { .. }");
    }
}
