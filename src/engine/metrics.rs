//! Classification metrics: accuracy, macro-F1, per-class precision/recall/F1, confusion matrix.

/// Precision, recall and F1 of one class.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassMetrics {
    /// Of the samples predicted as this class, the fraction that are.
    pub precision: f32,
    /// Of the samples of this class, the fraction found.
    pub recall: f32,
    /// Harmonic mean of the two.
    pub f1: f32,
    /// Samples of this class.
    pub support: usize,
}

/// Metrics of one evaluation.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Metrics {
    /// Samples evaluated.
    pub samples: usize,
    /// Mean cross-entropy.
    pub loss: f32,
    /// Fraction correct.
    pub accuracy: f32,
    /// Unweighted mean of the per-class F1 (classes with no samples and no predictions skipped).
    pub macro_f1: f32,
    /// Per class, in label order.
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<u32>>,
    /// Accuracy with only this modality given (others masked), over samples that have it.
    pub modality_only: [Option<f32>; 3],
    /// Mean modality weights over the samples.
    pub mean_weights: [f32; 3],
}

/// Confusion matrix and the scores derived from it.
pub fn classification(labels: &[usize], predicted: &[usize], classes: usize) -> Metrics {
    let mut confusion = vec![vec![0u32; classes]; classes];
    for (&t, &p) in labels.iter().zip(predicted) {
        if t < classes && p < classes {
            confusion[t][p] += 1;
        }
    }
    let correct: u32 = (0..classes).map(|c| confusion[c][c]).sum();
    let mut f1s = Vec::new();
    let per_class: Vec<ClassMetrics> = (0..classes)
        .map(|c| {
            let tp = confusion[c][c] as f32;
            let support: u32 = confusion[c].iter().sum();
            let predicted_as: u32 = confusion.iter().map(|row| row[c]).sum();
            let precision = if predicted_as > 0 {
                tp / predicted_as as f32
            } else {
                0.0
            };
            let recall = if support > 0 {
                tp / support as f32
            } else {
                0.0
            };
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            if support > 0 || predicted_as > 0 {
                f1s.push(f1);
            }
            ClassMetrics {
                precision,
                recall,
                f1,
                support: support as usize,
            }
        })
        .collect();
    Metrics {
        samples: labels.len(),
        loss: 0.0,
        accuracy: if labels.is_empty() {
            0.0
        } else {
            correct as f32 / labels.len() as f32
        },
        macro_f1: if f1s.is_empty() {
            0.0
        } else {
            f1s.iter().sum::<f32>() / f1s.len() as f32
        },
        per_class,
        confusion,
        modality_only: [None; 3],
        mean_weights: [0.0; 3],
    }
}
