//! Adler-32 (RFC 1950 §8.2): two sums modulo 65,521, the second of the running first.

/// The largest prime below 2^16.
pub const MODULUS: u32 = 65_521;
/// Most bytes the sums can take before a modulo without overflowing 32 bits (zlib's NMAX:
/// the largest n with 255·n·(n+1)/2 + (n+1)·(MODULUS−1) < 2^32).
pub const NMAX: usize = 5552;

/// Adler-32 of `bytes`, the modulo taken once per [`NMAX`] bytes.
pub fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for block in bytes.chunks(NMAX) {
        for &byte in block {
            a += u32::from(byte);
            b += a;
        }
        a %= MODULUS;
        b %= MODULUS;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // RFC 1950's definition on the classic example, and the empty input.
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(adler32(b""), 1);
    }

    #[test]
    fn long_inputs_do_not_overflow() {
        let ones = [0xffu8; 3 * NMAX + 17];
        let (mut a, mut b) = (1u64, 0u64);
        for &byte in &ones {
            a = (a + u64::from(byte)) % u64::from(MODULUS);
            b = (b + a) % u64::from(MODULUS);
        }
        assert_eq!(adler32(&ones), ((b << 16) | a) as u32);
    }
}
