//! How much the model relied on each modality over a whole dataset or one class: the mean of
//! the method's own (native) weights next to the mean Shapley weights, so a learner can see where
//! the two explanations agree.

use super::eval::rows;
use super::{Batcher, EngineError};
use crate::data::Sample;
use crate::model::FusionModel;

/// Samples per forward pass (Shapley needs eight fusion passes per batch).
const BATCH: usize = 32;

/// Mean modality weights over a group of samples.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ContributionRow {
    /// The true class of the group, or `None` for every sample.
    pub class: Option<usize>,
    /// Samples in the group.
    pub samples: usize,
    /// Mean native weights (image, text, audio); `None` for methods without their own.
    pub native: Option<[f32; 3]>,
    /// Mean Shapley weights of the predicted class (image, text, audio).
    pub shapley: [f32; 3],
}

/// One row for all `samples`, then one per class (in class order; classes without samples are
/// left out). `cancelled` is checked every batch (→ `Ok(None)`).
pub fn contributions(
    model: &FusionModel,
    batcher: &Batcher<'_>,
    samples: &[&Sample],
    classes: usize,
    cancelled: &dyn Fn() -> bool,
) -> Result<Option<Vec<ContributionRow>>, EngineError> {
    if samples.is_empty() {
        return Err(EngineError::Data("no samples to explain".into()));
    }
    // Per group (0 = all, 1 + k = class k): count, native sums, Shapley sums.
    let mut sums = vec![(0usize, [0f64; 3], [0f64; 3]); classes + 1];
    let mut has_native = true;
    for chunk in samples.chunks(BATCH) {
        if cancelled() {
            return Ok(None);
        }
        let batch = batcher.batch(chunk, None)?;
        let enc = model.encode(&batch)?;
        let out = model.forward_encoded(&enc, &batch.present, false)?;
        let shapley = rows(&model.shapley(&enc, &batch.present, &out.logits)?)?;
        let native = match &out.weights {
            Some(w) => Some(rows(w)?),
            None => None,
        };
        has_native &= native.is_some();
        for (i, s) in chunk.iter().enumerate() {
            for group in [0, 1 + s.label.min(classes.saturating_sub(1))] {
                let slot = &mut sums[group];
                slot.0 += 1;
                for m in 0..3 {
                    if let Some(n) = &native {
                        slot.1[m] += f64::from(n[i][m]);
                    }
                    slot.2[m] += f64::from(shapley[i][m]);
                }
            }
        }
    }
    let rows = sums
        .iter()
        .enumerate()
        .filter(|(_, (count, _, _))| *count > 0)
        .map(|(g, (count, native, shapley))| {
            let n = *count as f64;
            ContributionRow {
                class: g.checked_sub(1),
                samples: *count,
                native: has_native.then(|| native.map(|v| (v / n) as f32)),
                shapley: shapley.map(|v| (v / n) as f32),
            }
        })
        .collect();
    Ok(Some(rows))
}
