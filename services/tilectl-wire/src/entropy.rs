//! Challenges from whatever entropy the tile has.
//!
//! A [`ChallengeSource`] keeps a 32-byte SHA-256 pool. The agent stirs into it what it can
//! gather ([`ChallengeSource::stir`]): on the tile, `rdrand` output when the processor has
//! it (CPUID.1:ECX bit 30) and time-stamp counter readings taken around IPC and network
//! events (their low bits depend on interrupt timing and the host's load). Each challenge
//! is `SHA-256("challenge" || pool || count)`, and the pool is re-hashed after each one.
//!
//! Honestly: without `rdrand` (QEMU's default CPU model has none) the pool holds only
//! timing jitter, a few bits per reading, and an observer who knows the boot time can narrow
//! it. What the protocol needs from a challenge is uniqueness per connection (so a
//! signature cannot be replayed on another connection), which the count guarantees even
//! with a predictable pool; unpredictability only matters against an attacker who can
//! obtain operator signatures over chosen challenges in advance.

use sha2::{Digest, Sha256};

use crate::CHALLENGE_BYTES;

/// The entropy pool and challenge generator.
pub struct ChallengeSource {
    /// The pool.
    pool: [u8; 32],
    /// Challenges made so far.
    count: u64,
}

impl ChallengeSource {
    /// A pool seeded with `seed` (whatever is at hand at start).
    pub fn new(seed: &[u8]) -> Self {
        let mut source = Self { pool: [0; 32], count: 0 };
        source.stir(seed);
        source
    }

    /// Mixes `bytes` into the pool.
    pub fn stir(&mut self, bytes: &[u8]) {
        let mut hash = Sha256::new();
        hash.update(b"stir");
        hash.update(self.pool);
        hash.update(bytes);
        self.pool.copy_from_slice(&hash.finalize());
    }

    /// A fresh challenge; no two of one source are equal.
    pub fn challenge(&mut self) -> [u8; CHALLENGE_BYTES] {
        let mut hash = Sha256::new();
        hash.update(b"challenge");
        hash.update(self.pool);
        hash.update(self.count.to_be_bytes());
        self.count += 1;
        let mut challenge = [0; CHALLENGE_BYTES];
        challenge.copy_from_slice(&hash.finalize());
        self.stir(&challenge);
        challenge
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_differ_even_without_entropy() {
        let mut source = ChallengeSource::new(&[]);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..1000 {
            assert!(seen.insert(source.challenge()));
        }
        let mut stirred = ChallengeSource::new(&[]);
        stirred.stir(&[1]);
        assert_ne!(stirred.challenge(), ChallengeSource::new(&[]).challenge());
    }
}
