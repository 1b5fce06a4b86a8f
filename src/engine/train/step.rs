//! One optimiser step, split over the cores: each core runs the forward and backward pass on its
//! part of the batch, the gradients are added in part order, and one clipped AdamW update
//! follows. Used by the training loop and by `benches/train.rs`, so the benchmark times exactly
//! what training does.

use candle_core::backprop::GradStore;
use candle_core::{D, Tensor, Var};

use super::adamw::{FusedAdamW, Update};

use crate::data::Sample;
use crate::engine::{Batcher, EngineError};
use crate::model::{Batch, FusionModel, ParamStore};

/// Fewest samples worth a part of their own: below this a core's share of the fixed per-step
/// work (every layer's small products, the pools) outweighs the split.
const MIN_PART: usize = 4;

/// How many parts a batch of `len` samples is split into: one per thread of the current rayon
/// pool (so the result depends on the seed and the thread count only), fewer for small batches.
pub fn parts_for(len: usize) -> usize {
    rayon::current_num_threads().min(len / MIN_PART).max(1)
}

/// The batches of one step: `samples` (with their modality presence, when dropout drew one)
/// cut into [`parts_for`] contiguous parts.
pub fn shard(
    batcher: &Batcher<'_>,
    samples: &[&Sample],
    presence: Option<&[[bool; 3]]>,
) -> Result<Vec<Batch>, EngineError> {
    let parts = parts_for(samples.len());
    let size = samples.len().div_ceil(parts).max(1);
    samples
        .chunks(size)
        .enumerate()
        .map(|(i, chunk)| {
            let keep = presence.map(|p| &p[i * size..i * size + chunk.len()]);
            batcher.batch(chunk, keep)
        })
        .collect()
}

/// What the forward and backward passes of one step gave.
pub struct Gradients {
    /// Mean cross-entropy over the whole batch.
    pub loss: f32,
    /// Predicted class per sample, in batch order.
    pub predicted: Vec<u32>,
    /// `None` when a part's loss was not finite (nothing to back-propagate).
    grads: Option<GradStore>,
}

/// Forward, cross-entropy and backward for one part; its loss is weighted by its share of the
/// batch, so the parts' gradients add up to those of the whole batch's mean loss.
fn part(model: &FusionModel, batch: &Batch, total: usize) -> Result<Gradients, EngineError> {
    let labels = batch
        .labels
        .as_ref()
        .ok_or_else(|| EngineError::Data("batch without labels".into()))?;
    let out = model.forward(batch, false)?;
    let share = labels.dim(0)? as f64 / total.max(1) as f64;
    let loss = (candle_nn::loss::cross_entropy(&out.logits, labels)? * share)?;
    let value = loss.to_scalar::<f32>()?;
    let predicted = out.logits.argmax(D::Minus1)?.to_vec1::<u32>()?;
    let grads = match value.is_finite() {
        true => Some(loss.backward()?),
        false => None,
    };
    Ok(Gradients {
        loss: value,
        predicted,
        grads,
    })
}

/// Runs the parts on the current rayon pool's threads (two at a time, recursively) and adds
/// their results in part order.
fn parts(
    model: &FusionModel,
    batches: &[Batch],
    total: usize,
    vars: &[Var],
) -> Result<Gradients, EngineError> {
    match batches {
        [] => Err(EngineError::Data("a training step without samples".into())),
        [one] => part(model, one, total),
        _ => {
            let (left, right) = batches.split_at(batches.len() / 2);
            let (a, b) = rayon::join(
                || parts(model, left, total, vars),
                || parts(model, right, total, vars),
            );
            let (mut a, b) = (a?, b?);
            a.loss += b.loss;
            a.predicted.extend(b.predicted);
            a.grads = match (a.grads.take(), b.grads) {
                (Some(mut ga), Some(gb)) => {
                    for var in vars {
                        if let Some(g) = gb.get(var) {
                            let sum = match ga.remove(var) {
                                Some(prev) => (prev + g)?,
                                None => g.clone(),
                            };
                            ga.insert(var, sum);
                        }
                    }
                    Some(ga)
                }
                _ => None,
            };
            Ok(a)
        }
    }
}

/// The trainable weights with their AdamW state, and the weights from before the last update.
pub struct Stepper {
    opt: FusedAdamW,
    /// The configured learning rate (the schedule scales it), for messages.
    base_lr: f64,
    /// Per tensor the last update changed, its weights from before it.
    last_good: Vec<(usize, Tensor)>,
}

impl Stepper {
    /// AdamW over every weight in `store`; subnormal floats are flushed to zero from here on, on
    /// this thread and the rayon pool's ([`crate::model::device::flush_subnormals`]).
    pub fn new(store: &ParamStore, lr: f64, weight_decay: f64) -> Result<Self, EngineError> {
        crate::model::device::flush_subnormals();
        Ok(Self {
            opt: FusedAdamW::new(store.vars(), weight_decay),
            base_lr: lr,
            last_good: Vec::new(),
        })
    }

    /// Forward and backward over the parts of one batch (from [`shard`]).
    pub fn gradients(
        &self,
        model: &FusionModel,
        batches: &[Batch],
    ) -> Result<Gradients, EngineError> {
        let total = batches
            .iter()
            .map(|b| b.present.dim(0))
            .sum::<candle_core::Result<usize>>()?;
        parts(model, batches, total, self.opt.vars())
    }

    /// Clip the gradients to `clip_norm` (0: no clipping) and take one AdamW step at `lr`.
    /// Returns what was not finite when the gradients or the updated weights are not (the
    /// weights are then those from before the update).
    pub fn apply(
        &mut self,
        grads: Gradients,
        lr: f64,
        clip_norm: f64,
    ) -> Result<Option<String>, EngineError> {
        let Some(store) = grads.grads else {
            return Ok(Some(format!("training loss is {}", grads.loss)));
        };
        let grads = self.opt.read(&store)?;
        drop(store);
        let norm_sq: f64 = grads
            .iter()
            .flatten()
            .flat_map(|g| g.iter())
            .map(|&v| f64::from(v) * f64::from(v))
            .sum();
        let norm = norm_sq.sqrt();
        if !norm.is_finite() {
            return Ok(Some(format!("gradient norm is {norm}")));
        }
        let scale = match clip_norm > 0.0 && norm > clip_norm {
            true => clip_norm / norm,
            false => 1.0,
        };
        match self.opt.step(&grads, scale, lr)? {
            Update::Applied(before) => {
                // Kept to go back to if the update turns out bad (the next step's loss is NaN
                // or far off).
                self.last_good = before;
                Ok(None)
            }
            Update::Overflowed => Ok(Some(format!(
                "the weights overflowed after the update (learning rate {})",
                self.base_lr
            ))),
        }
    }

    /// Go back to the weights from before the last update (nothing to do before the first).
    pub fn undo_last(&self) -> Result<(), EngineError> {
        let vars = self.opt.vars();
        for (i, old) in &self.last_good {
            if let Some(var) = vars.get(*i) {
                var.set(old)?;
            }
        }
        Ok(())
    }
}
