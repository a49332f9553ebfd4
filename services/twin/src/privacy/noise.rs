//! Noise samplers: Mironov's snapping mechanism for Laplace noise, Box–Muller for Gaussian
//! noise, both driven by a caller-provided [`RandomSource`].
//!
//! **Laplace.** Mironov ("On significance of the least significant bits for differential
//! privacy", CCS 2012) showed that the textbook floating-point Laplace mechanism,
//! `f(D) + λ·sign·ln(U)`, is not differentially private: the set of doubles it can output
//! depends on `f(D)`, so an attacker can tell neighbouring inputs apart from the output's
//! low bits. We **use** his fix, the snapping mechanism (his §5.2):
//!
//! `clamp_B( Λ·round( (clamp_B(f(D)) ⊕ S ⊗ λ ⊗ ln(U*)) / Λ ) )`
//!
//! for a sensitivity-1 `f` (callers divide by the sensitivity first and multiply the
//! output back, which is post-processing), where `U*` is uniform over *all* doubles in
//! (0, 1) (each drawn with probability proportional to its spacing, see
//! [`uniform_all_doubles`]), `S` a fair sign, `Λ` the smallest power of two ≥ λ and `B` a
//! bound on `|f|`. His §5.2 result: for `λ < B < 2⁴⁶·λ` this is
//! `(1/λ + 2⁻⁴⁹·B/λ)`-differentially private, **provided `ln` is correctly rounded**. The
//! gate charges the extra `2⁻⁴⁹·B/λ` to the budget. *The limit:* `libm`'s `log` (musl's)
//! is accurate to within one ulp but is not proven correctly rounded; a last-bit error of
//! `ln` is outside the theorem. The same holds for every `libm`-based implementation;
//! closing it needs a correctly rounded `ln` (CRlibm, CORE-MATH) or a discrete
//! mechanism (below).
//!
//! **Gaussian.** Box–Muller (`σ·√(−2 ln U₁)·cos(2π U₂)`) with 53-bit uniforms. *The
//! limit:* there is no snapping analogue here, and floating-point Gaussian samplers have
//! been attacked the same way (Jin, McMurtry, Rubinstein, Ohrimenko, "Are We There Yet?
//! Timing and Floating-Point Attacks on Differential Privacy Systems", IEEE S&P 2022). The
//! output is rounded to a power-of-two grid no coarser than σ/2¹⁰ by the gate, which
//! removes the low bits the published attacks read but comes with **no proof**; the
//! principled fix is the discrete Gaussian (Canonne, Kamath, Steinke, NeurIPS 2020), not
//! implemented. The sampler also truncates at ≈ 8.6σ (the smallest `U₁` is 2⁻⁵³), an event
//! of probability ~10⁻¹⁷, far below any δ the gate accepts … but not accounted for.
//! Prefer Laplace for anything sensitive.

/// A source of uniformly random 64-bit words. The privacy guarantee is only as good as this
/// source: the twin domain must back it with a cryptographically secure generator (for
/// example ChaCha20 seeded from RDSEED), never with a seed an observer can learn. Tests use
/// a deterministic generator.
pub trait RandomSource {
    /// The next uniformly random word.
    fn next_u64(&mut self) -> u64;
}

/// Mironov's `U*`: a double in (0, 1), each representable value drawn with probability
/// proportional to the gap to its successor — the exponent from a geometric number of
/// leading zero bits, then 52 uniform mantissa bits. (The usual `k·2⁻⁵³` reaches only a
/// sliver of the doubles below ½.)
pub(crate) fn uniform_all_doubles<R: RandomSource + ?Sized>(rng: &mut R) -> f64 {
    // Value in [2^exp, 2^(exp+1)) with probability 2^exp.
    let mut exp: i32 = -1;
    loop {
        let w = rng.next_u64();
        if w != 0 {
            exp -= w.leading_zeros() as i32;
            break;
        }
        exp -= 64;
        if exp < -1022 {
            break;
        }
    }
    if exp < -1022 {
        // Probability below 2⁻¹⁰²¹: the subnormal range is folded onto the smallest normal.
        return f64::MIN_POSITIVE;
    }
    let mantissa = rng.next_u64() >> 12;
    f64::from_bits(((exp + 1023) as u64) << 52 | mantissa)
}

/// The smallest power of two ≥ `x` (`x` positive and normal).
fn pow2_at_least(x: f64) -> f64 {
    let (m, e) = libm::frexp(x);
    if m == 0.5 { x } else { libm::ldexp(1.0, e) }
}

/// The snapping mechanism for a sensitivity-1 value (module docs): `lambda` the Laplace
/// scale (`1/ε`), `bound` the clamp `B`. The caller checks `λ < B < 2⁴⁶·λ`.
pub(crate) fn snapped_laplace<R: RandomSource + ?Sized>(rng: &mut R, value: f64, lambda: f64, bound: f64) -> f64 {
    let clamp = |x: f64| x.clamp(-bound, bound);
    let grid = pow2_at_least(lambda);
    let u = uniform_all_doubles(rng);
    let sign = if rng.next_u64() & 1 == 0 { 1.0 } else { -1.0 };
    let noisy = clamp(value) + sign * lambda * libm::log(u);
    // Division and multiplication by a power of two are exact (no subnormals at these scales).
    clamp(libm::round(noisy / grid) * grid)
}

/// A uniform double in [0, 1) on the 2⁻⁵³ grid.
fn uniform53<R: RandomSource + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// `value` plus one N(0, σ²) draw by Box–Muller, the sum rounded to the power-of-two grid
/// of the module docs.
pub(crate) fn gaussian<R: RandomSource + ?Sized>(rng: &mut R, value: f64, sigma: f64) -> f64 {
    let u1 = 1.0 - uniform53(rng); // (0, 1]: ln is finite
    let u2 = uniform53(rng);
    let z = sigma * libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * core::f64::consts::PI * u2);
    let grid = pow2_at_least(sigma / 1024.0);
    libm::round((value + z) / grid) * grid
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// SplitMix64 (Steele, Lea, Flood 2014): deterministic, statistically good, not secure.
    pub(crate) struct SplitMix(pub u64);

    impl RandomSource for SplitMix {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
    }

    struct Fixed(alloc::vec::Vec<u64>);
    impl RandomSource for Fixed {
        fn next_u64(&mut self) -> u64 {
            self.0.remove(0)
        }
    }

    #[test]
    fn uniform_all_doubles_reaches_small_values_and_stays_in_range() {
        assert_eq!(uniform_all_doubles(&mut Fixed([u64::MAX, 0].into())), 0.5);
        assert_eq!(uniform_all_doubles(&mut Fixed([1, u64::MAX].into())), libm::ldexp(2.0 - libm::ldexp(1.0, -52), -64));
        assert_eq!(uniform_all_doubles(&mut Fixed([0, 1 << 63, 0].into())), libm::ldexp(1.0, -65));
        assert_eq!(uniform_all_doubles(&mut Fixed(alloc::vec![0; 20])), f64::MIN_POSITIVE);
        let mut rng = SplitMix(7);
        let mut below_quarter = 0;
        for _ in 0..100_000 {
            let u = uniform_all_doubles(&mut rng);
            assert!(u > 0.0 && u < 1.0);
            below_quarter += (u < 0.25) as u32;
        }
        assert!((24_000..26_000).contains(&below_quarter), "{below_quarter}");
    }

    #[test]
    fn snapping_outputs_lie_on_the_grid_within_the_bound() {
        let mut rng = SplitMix(1);
        for _ in 0..10_000 {
            let x = snapped_laplace(&mut rng, 3.3, 3.0, 100.0);
            assert_eq!(x % 4.0, 0.0, "multiple of Λ = 4");
            assert!(x.abs() <= 100.0);
        }
        assert_eq!(pow2_at_least(4.0), 4.0);
        assert_eq!(pow2_at_least(4.5), 8.0);
        assert_eq!(pow2_at_least(0.3), 0.5);
    }

    fn moments(xs: impl Iterator<Item = f64>) -> (f64, f64, f64) {
        let (mut n, mut s, mut s2, mut sa) = (0.0, 0.0, 0.0, 0.0);
        for x in xs {
            n += 1.0;
            s += x;
            s2 += x * x;
            sa += x.abs();
        }
        let mean = s / n;
        (mean, libm::sqrt(s2 / n - mean * mean), sa / n)
    }

    #[test]
    fn laplace_noise_has_the_calibrated_scale() {
        // λ = 8, so Λ = 8: the output is Laplace(8) rounded to the nearest multiple of 8.
        // Its exact moments: P(out = 8k) = ½(e^−(k−½) − e^−(k+½)) for k ≥ 1, symmetric, so
        // E|out| = 8·Σ k·c·e^−k and E[out²] = 64·Σ k²·c·e^−k with c = e^½ − e^−½
        // (≈ 7.676 and √E[out²] ≈ 11.1, against 8 and 11.3 for the unrounded Laplace).
        let c = libm::exp(0.5) - libm::exp(-0.5);
        let (mut e_abs, mut e_sq) = (0.0, 0.0);
        for k in 1..200 {
            let p = c * libm::exp(-(k as f64));
            e_abs += 8.0 * k as f64 * p;
            e_sq += 64.0 * (k * k) as f64 * p;
        }
        let mut rng = SplitMix(42);
        let (mean, std, mean_abs) = moments((0..200_000).map(|_| snapped_laplace(&mut rng, 0.0, 8.0, 1e6)));
        // Standard errors over 200 000 draws: ≈ 0.025 for the mean, ≈ 0.02 for E|out|.
        assert!(mean.abs() < 0.1, "{mean}");
        assert!((mean_abs - e_abs).abs() < 0.08, "{mean_abs} vs {e_abs}");
        assert!((std - libm::sqrt(e_sq)).abs() < 0.15, "{std} vs {}", libm::sqrt(e_sq));
        // The unrounded scale is visibly different, so the test tells them apart.
        assert!((e_abs - 8.0).abs() > 0.3);
        // Centred on the true value, whatever it is (clamped into ±B first).
        let mut rng = SplitMix(44);
        let (mean, _, _) = moments((0..100_000).map(|_| snapped_laplace(&mut rng, 1000.0, 8.0, 1e6)));
        assert!((mean - 1000.0).abs() < 0.15, "{mean}");
    }

    #[test]
    fn gaussian_noise_has_the_calibrated_scale() {
        let mut rng = SplitMix(43);
        let (mean, std, mean_abs) = moments((0..200_000).map(|_| gaussian(&mut rng, 0.0, 5.0)));
        // N(0, 25): E|X| = σ·√(2/π) ≈ 3.989; SE of the mean ≈ 0.011.
        assert!(mean.abs() < 0.05, "{mean}");
        assert!((std - 5.0).abs() < 0.05, "{std}");
        assert!((mean_abs - 5.0 * libm::sqrt(2.0 / core::f64::consts::PI)).abs() < 0.05, "{mean_abs}");
    }
}
