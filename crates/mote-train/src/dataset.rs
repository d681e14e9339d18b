//! The in-memory dataset the trainer consumes: f32 features laid out `[N, ...sample_shape]`
//! (row-major, channels last like the device sees them), one label per sample, class names.

use crate::{Result, Rng, TrainError};

#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub features: Vec<f32>,
    pub sample_shape: Vec<usize>,
    pub labels: Vec<usize>,
    pub classes: Vec<String>,
}

impl Dataset {
    /// Checks that features, shape, labels and classes agree.
    pub fn new(
        features: Vec<f32>,
        sample_shape: Vec<usize>,
        labels: Vec<usize>,
        classes: Vec<String>,
    ) -> Result<Self> {
        let d = Dataset {
            features,
            sample_shape,
            labels,
            classes,
        };
        d.validate()?;
        Ok(d)
    }

    pub fn validate(&self) -> Result<()> {
        let size = self.sample_size();
        if size == 0 {
            return Err(TrainError::Dataset(format!(
                "sample shape {:?} has no elements",
                self.sample_shape
            )));
        }
        if self.features.len() != size * self.labels.len() {
            return Err(TrainError::Dataset(format!(
                "{} feature values for {} samples of shape {:?} ({} expected)",
                self.features.len(),
                self.labels.len(),
                self.sample_shape,
                size * self.labels.len()
            )));
        }
        if let Some((i, &l)) = self
            .labels
            .iter()
            .enumerate()
            .find(|(_, &l)| l >= self.classes.len())
        {
            return Err(TrainError::Dataset(format!(
                "sample {i} has label {l} but there are {} classes",
                self.classes.len()
            )));
        }
        if let Some(i) = self.features.iter().position(|v| !v.is_finite()) {
            return Err(TrainError::Dataset(format!(
                "feature value #{i} is not finite"
            )));
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn sample_size(&self) -> usize {
        self.sample_shape.iter().product()
    }

    pub fn sample(&self, i: usize) -> &[f32] {
        let n = self.sample_size();
        &self.features[i * n..(i + 1) * n]
    }

    /// The samples at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let mut features = Vec::with_capacity(indices.len() * self.sample_size());
        for &i in indices {
            features.extend_from_slice(self.sample(i));
        }
        Dataset {
            features,
            sample_shape: self.sample_shape.clone(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes.clone(),
        }
    }

    /// Splits off a shuffled fraction (for validation); deterministic for a given seed.
    pub fn split(&self, fraction: f32, seed: u64) -> (Dataset, Dataset) {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        Rng(seed).shuffle(&mut idx);
        let k = ((self.len() as f32) * fraction.clamp(0.0, 1.0)).round() as usize;
        (self.subset(&idx[k..]), self.subset(&idx[..k]))
    }

    /// Number of samples of each class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.classes.len()];
        for &l in &self.labels {
            c[l] += 1;
        }
        c
    }
}
