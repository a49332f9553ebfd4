//! Running statistics shared by the maintenance and drift detectors.

/// Welford's running mean and variance: numerically stable, one pass, O(1) state.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Welford {
    n: u64,
    mean: f64,
    m2: f64,
}

impl Welford {
    /// Adds one observation.
    pub(crate) fn push(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }

    /// Number of observations.
    pub(crate) fn count(&self) -> u64 {
        self.n
    }

    /// Sample mean (0 with no observations).
    pub(crate) fn mean(&self) -> f64 {
        self.mean
    }

    /// Unbiased sample standard deviation (0 with fewer than two observations).
    pub(crate) fn std(&self) -> f64 {
        if self.n < 2 { 0.0 } else { libm::sqrt(self.m2 / (self.n - 1) as f64) }
    }
}

/// An exponentially weighted mean and variance (West 1979's incremental form): weight
/// `alpha` on the newest observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Ewma {
    alpha: f64,
    mean: f64,
    var: f64,
}

impl Ewma {
    /// Starts from a mean and variance (typically a warm-up's [`Welford`] figures).
    pub(crate) fn new(alpha: f64, mean: f64, var: f64) -> Self {
        Ewma { alpha, mean, var }
    }

    /// Folds one observation in.
    pub(crate) fn push(&mut self, x: f64) {
        let d = x - self.mean;
        let incr = self.alpha * d;
        self.mean += incr;
        self.var = (1.0 - self.alpha) * (self.var + d * incr);
    }

    /// The weighted mean.
    pub(crate) fn mean(&self) -> f64 {
        self.mean
    }

    /// The weighted standard deviation.
    pub(crate) fn std(&self) -> f64 {
        libm::sqrt(self.var)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welford_matches_two_pass() {
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let mut w = Welford::default();
        xs.iter().for_each(|&x| w.push(x));
        assert_eq!(w.count(), 8);
        assert!((w.mean() - 5.0).abs() < 1e-12);
        // Two-pass unbiased variance: 32 / 7.
        assert!((w.std() - libm::sqrt(32.0 / 7.0)).abs() < 1e-12);
    }

    #[test]
    fn ewma_converges_to_a_new_level() {
        let mut e = Ewma::new(0.1, 0.0, 1.0);
        for _ in 0..200 {
            e.push(10.0);
        }
        assert!((e.mean() - 10.0).abs() < 1e-6);
        assert!(e.std() < 1e-3);
    }
}
