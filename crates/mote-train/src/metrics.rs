//! Evaluation figures: accuracy, confusion matrix, per-class precision and recall, and ROC
//! AUC (for anomaly detection, with reconstruction error as the score).

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    pub classes: Vec<String>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    pub loss: f32,
    /// ROC AUC of the anomaly score (autoencoders; needs both classes present).
    pub auc: Option<f32>,
}

impl Metrics {
    pub fn from_predictions(classes: &[String], truth: &[usize], predicted: &[usize]) -> Metrics {
        let k = classes.len();
        let mut confusion = vec![vec![0; k]; k];
        for (&t, &p) in truth.iter().zip(predicted) {
            if t < k && p < k {
                confusion[t][p] += 1;
            }
        }
        Metrics {
            classes: classes.to_vec(),
            confusion,
            loss: 0.0,
            auc: None,
        }
    }

    pub fn total(&self) -> usize {
        self.confusion.iter().flatten().sum()
    }

    pub fn accuracy(&self) -> f32 {
        let correct: usize = (0..self.confusion.len())
            .map(|i| self.confusion[i][i])
            .sum();
        correct as f32 / self.total().max(1) as f32
    }

    /// Of the samples predicted as class `c`, the fraction that are `c` (0 when none).
    pub fn precision(&self, c: usize) -> f32 {
        let predicted: usize = self.confusion.iter().map(|row| row[c]).sum();
        self.confusion[c][c] as f32 / predicted.max(1) as f32
    }

    /// Of the samples of class `c`, the fraction predicted as `c` (0 when none).
    pub fn recall(&self, c: usize) -> f32 {
        let actual: usize = self.confusion[c].iter().sum();
        self.confusion[c][c] as f32 / actual.max(1) as f32
    }

    /// The figure early stopping maximises: AUC when there is one, else accuracy for a
    /// classifier, else the negated loss.
    pub fn score(&self) -> f32 {
        match self.auc {
            Some(a) => a,
            None if self.confusion.is_empty() => -self.loss,
            None => self.accuracy(),
        }
    }
}

/// Area under the ROC curve of `scores` (higher = more anomalous) for `positives`, by the
/// rank-sum (Mann–Whitney) formula with ties counted half. None without both classes.
pub fn roc_auc(scores: &[f32], positives: &[bool]) -> Option<f32> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut i) = (0f64, 0usize);
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        // Tied scores share the mean of their ranks (1-based).
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            if positives[k] {
                rank_sum += rank;
            }
        }
        i = j + 1;
    }
    let p = positives.iter().filter(|&&x| x).count() as f64;
    let n = positives.len() as f64 - p;
    if p == 0.0 || n == 0.0 {
        return None;
    }
    Some(((rank_sum - p * (p + 1.0) / 2.0) / (p * n)) as f32)
}

impl fmt::Display for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(auc) = self.auc {
            writeln!(f, "ROC AUC {auc:.4}  (loss {:.5})", self.loss)?;
        }
        if self.confusion.is_empty() || self.total() == 0 {
            return Ok(());
        }
        writeln!(
            f,
            "accuracy {:.2}% over {} samples (loss {:.4})",
            100.0 * self.accuracy(),
            self.total(),
            self.loss
        )?;
        let width = self
            .classes
            .iter()
            .map(|c| c.len())
            .max()
            .unwrap_or(4)
            .max(6);
        write!(f, "{:>width$} |", "true\\pred")?;
        for i in 0..self.classes.len() {
            write!(f, " {i:>5}")?;
        }
        writeln!(f, " | precision recall")?;
        for (i, row) in self.confusion.iter().enumerate() {
            write!(f, "{:>width$} |", format!("{i} {}", self.classes[i]))?;
            for v in row {
                write!(f, " {v:>5}")?;
            }
            writeln!(f, " | {:>9.3} {:>6.3}", self.precision(i), self.recall(i))?;
        }
        Ok(())
    }
}
