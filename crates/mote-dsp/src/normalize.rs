//! Per-feature normalisation: statistics gathered on the host over a training set, applied
//! on the device as `(x − mean) / std`.
//!
//! [`FeatureStats`] accumulates with Welford's algorithm in `f64` (stable over millions of
//! frames); [`Normalizer`] holds the `f32` mean and reciprocal standard deviation that the
//! device needs — two arrays that can be stored in flash or in a model's metadata.

/// Running mean and variance of `F` features.
#[derive(Clone, Debug)]
pub struct FeatureStats<const F: usize> {
    count: u64,
    mean: [f64; F],
    /// Sum of squared deviations from the running mean.
    m2: [f64; F],
}

impl<const F: usize> FeatureStats<F> {
    pub fn new() -> Self {
        FeatureStats {
            count: 0,
            mean: [0.0; F],
            m2: [0.0; F],
        }
    }

    /// Adds one feature vector.
    pub fn update(&mut self, x: &[f32; F]) {
        self.count += 1;
        let n = self.count as f64;
        for ((mean, m2), &v) in self.mean.iter_mut().zip(self.m2.iter_mut()).zip(x) {
            let v = v as f64;
            let delta = v - *mean;
            *mean += delta / n;
            *m2 += delta * (v - *mean);
        }
    }

    /// Vectors seen so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Mean of each feature (0 before any update).
    pub fn mean(&self) -> [f64; F] {
        self.mean
    }

    /// Population standard deviation of each feature (0 before two updates).
    pub fn std(&self) -> [f64; F] {
        let mut s = [0f64; F];
        if self.count > 0 {
            for (s, m2) in s.iter_mut().zip(&self.m2) {
                *s = libm::sqrt(m2 / self.count as f64);
            }
        }
        s
    }

    /// The normaliser; features whose deviation is below `min_std` are divided by `min_std`
    /// instead (a constant feature would otherwise divide by zero).
    pub fn normalizer(&self, min_std: f32) -> Normalizer<F> {
        let std = self.std();
        let mut n = Normalizer {
            mean: [0.0; F],
            inv_std: [0.0; F],
        };
        for (((m, s), &mean), &std) in n
            .mean
            .iter_mut()
            .zip(n.inv_std.iter_mut())
            .zip(&self.mean)
            .zip(&std)
        {
            *m = mean as f32;
            *s = 1.0 / (std as f32).max(min_std);
        }
        n
    }
}

impl<const F: usize> Default for FeatureStats<F> {
    fn default() -> Self {
        Self::new()
    }
}

/// `(x − mean) · inv_std` per feature.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalizer<const F: usize> {
    pub mean: [f32; F],
    pub inv_std: [f32; F],
}

impl<const F: usize> Normalizer<F> {
    /// Normalises `x` in place.
    pub fn apply(&self, x: &mut [f32; F]) {
        for ((v, m), s) in x.iter_mut().zip(&self.mean).zip(&self.inv_std) {
            *v = (*v - m) * s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_match_the_textbook_values_and_normalised_data_is_standard() {
        let data = [
            [1.0f32, 10.0, 5.0],
            [2.0, 20.0, 5.0],
            [3.0, 30.0, 5.0],
            [4.0, 40.0, 5.0],
        ];
        let mut stats = FeatureStats::<3>::new();
        for d in &data {
            stats.update(d);
        }
        assert_eq!(stats.count(), 4);
        assert_eq!(stats.mean(), [2.5, 25.0, 5.0]);
        let std = stats.std();
        assert!((std[0] - 1.25f64.sqrt()).abs() < 1e-12);
        assert!((std[1] - 125f64.sqrt()).abs() < 1e-9);
        assert_eq!(std[2], 0.0);
        let n = stats.normalizer(1e-3);
        let mut normalised = data;
        for d in normalised.iter_mut() {
            n.apply(d);
        }
        for f in 0..2 {
            let mean: f32 = normalised.iter().map(|d| d[f]).sum::<f32>() / 4.0;
            let var: f32 = normalised.iter().map(|d| d[f] * d[f]).sum::<f32>() / 4.0;
            assert!(
                mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5,
                "feature {f}: {mean} {var}"
            );
        }
        // The constant feature becomes 0, not NaN.
        assert!(normalised.iter().all(|d| d[2] == 0.0));
    }
}
