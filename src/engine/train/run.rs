//! One training run in progress: the optimiser, the seeded random stream, the epoch loop with
//! validation and early stopping, and the guarded update that keeps the last good weights.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::time::Instant;

use candle_core::Tensor;
use rand::SeedableRng as _;
use rand::seq::SliceRandom as _;

use super::step::{Stepper, shard};
use super::{EpochReport, Progress, StopReason, TrainObserver, lr_at};
use crate::data::{Dataset, Sample};
use crate::engine::eval::{Evaluation, evaluate};
use crate::engine::{Batcher, EngineError, TrainConfig, dropout_presence};
use crate::model::{FusionModel, ParamStore};

const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// A training loss this many times that of uniform guessing stops the run as diverged.
const DIVERGED: f32 = 50.0;

/// The best epoch so far.
pub(super) struct Best {
    /// Its monitored loss (validation, or training without a validation split).
    loss: f32,
    epoch: usize,
    weights: BTreeMap<String, Tensor>,
}

/// Running sums over the batches of one epoch.
#[derive(Default)]
struct EpochSums {
    loss: f64,
    correct: usize,
    count: usize,
}

impl EpochSums {
    fn mean_loss(&self) -> f32 {
        (self.loss / self.count.max(1) as f64) as f32
    }
}

/// What a run reads and never changes.
#[derive(Clone, Copy)]
pub(super) struct Context<'a> {
    pub(super) dataset: &'a Dataset,
    pub(super) cfg: &'a TrainConfig,
    pub(super) observer: &'a dyn TrainObserver,
    pub(super) model: &'a FusionModel,
    pub(super) batcher: &'a Batcher<'a>,
    pub(super) store: &'a ParamStore,
}

/// A run in progress: its context, the optimiser and the random stream (shuffling and modality
/// dropout draw from it in a fixed order, which keeps runs deterministic for a seed).
pub(super) struct Run<'a> {
    ctx: Context<'a>,
    stepper: Stepper,
    rng: rand_chacha::ChaCha8Rng,
    /// Steps per epoch.
    steps: usize,
    total_steps: usize,
    pub(super) started: Instant,
    last_progress: Instant,
    /// Training samples processed so far.
    pub(super) seen: usize,
}

impl<'a> Run<'a> {
    /// Set up AdamW and the random stream for a run over `train_len` training samples.
    pub(super) fn new(ctx: Context<'a>, train_len: usize) -> Result<Self, EngineError> {
        let cfg = ctx.cfg;
        let stepper = Stepper::new(ctx.store, cfg.learning_rate, cfg.weight_decay)?;
        let steps = train_len.div_ceil(cfg.batch_size);
        Ok(Self {
            ctx,
            stepper,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_add(1)),
            steps,
            total_steps: steps * cfg.epochs,
            started: Instant::now(),
            last_progress: Instant::now(),
            seen: 0,
        })
    }

    /// Run the epochs until done, stopped early, cancelled or non-finite; returns every epoch's
    /// report, why it stopped and the best epoch.
    pub(super) fn epochs(
        &mut self,
        mut order: Vec<usize>,
        val_samples: &[&Sample],
    ) -> Result<(Vec<EpochReport>, StopReason, Option<Best>), EngineError> {
        let cfg = self.ctx.cfg;
        let mut history = Vec::new();
        let mut best: Option<Best> = None;
        let mut bad_epochs = 0usize;
        for epoch in 1..=cfg.epochs {
            let epoch_start = Instant::now();
            order.shuffle(&mut self.rng);
            let sums = match self.train_epoch(epoch, &order)? {
                ControlFlow::Continue(sums) => sums,
                ControlFlow::Break(stop) => return Ok((history, stop, best)),
            };
            let Some(val) = self.validation(val_samples)? else {
                return Ok((history, StopReason::Cancelled, best));
            };
            let train_loss = sums.mean_loss();
            let monitored = val.as_ref().map_or(train_loss, |v| v.metrics.loss);
            // Patience counts real improvements; ties keep the later weights (once the validation
            // loss is ~0 the model can still get better on inputs with missing modalities).
            let improved = best.as_ref().is_none_or(|b| monitored < b.loss - 1e-4);
            let kept = best.as_ref().is_none_or(|b| monitored <= b.loss);
            if kept {
                best = Some(Best {
                    loss: monitored,
                    epoch,
                    weights: self.ctx.store.snapshot()?,
                });
            }
            bad_epochs = if improved { 0 } else { bad_epochs + 1 };
            let report = EpochReport {
                epoch,
                epochs: cfg.epochs,
                train_loss,
                train_accuracy: sums.correct as f32 / sums.count.max(1) as f32,
                learning_rate: lr_at(cfg, epoch * self.steps - 1, self.total_steps),
                val: val.map(|v| v.metrics).unwrap_or_default(),
                best: kept,
                seconds: epoch_start.elapsed().as_secs_f32(),
            };
            self.ctx.observer.epoch(&report);
            history.push(report);
            if cfg.patience > 0 && bad_epochs >= cfg.patience {
                return Ok((history, StopReason::EarlyStopped, best));
            }
        }
        Ok((history, StopReason::Completed, best))
    }

    /// Go back to the best epoch's weights (after NaN the current weights are already the last
    /// good ones: the bad step was never applied) and evaluate them on the validation and test
    /// samples, when an epoch finished. Returns the epoch kept and the two evaluations.
    pub(super) fn finish(
        &self,
        epochs_run: usize,
        stop: &StopReason,
        best: Option<&Best>,
        val_samples: &[&Sample],
        test_samples: &[&Sample],
    ) -> Result<(usize, Option<Evaluation>, Option<Evaluation>), EngineError> {
        let non_finite = matches!(stop, StopReason::NonFinite { .. });
        let mut best_epoch = epochs_run;
        if !non_finite && let Some(best) = best {
            self.ctx.store.restore(&best.weights)?;
            best_epoch = best.epoch;
        }
        if epochs_run == 0 || non_finite {
            return Ok((best_epoch, None, None));
        }
        let classes = self.ctx.dataset.classes.len();
        let final_eval = |samples: &[&Sample]| match samples {
            [] => Ok(None),
            _ => evaluate(
                self.ctx.model,
                self.ctx.batcher,
                samples,
                classes,
                true,
                &|| false,
            ),
        };
        Ok((
            best_epoch,
            final_eval(val_samples)?,
            final_eval(test_samples)?,
        ))
    }

    /// Evaluate on the validation split after an epoch: `Ok(Some(None))` without one, `Ok(None)`
    /// when cancelled.
    fn validation(&self, samples: &[&Sample]) -> Result<Option<Option<Evaluation>>, EngineError> {
        if samples.is_empty() {
            return Ok(Some(None));
        }
        let classes = self.ctx.dataset.classes.len();
        let cancelled = || self.ctx.observer.cancelled();
        Ok(evaluate(
            self.ctx.model,
            self.ctx.batcher,
            samples,
            classes,
            false,
            &cancelled,
        )?
        .map(Some))
    }

    /// One pass over `order` in batches; breaks with the reason when the run must stop.
    fn train_epoch(
        &mut self,
        epoch: usize,
        order: &[usize],
    ) -> Result<ControlFlow<StopReason, EpochSums>, EngineError> {
        let mut sums = EpochSums::default();
        for (step, chunk) in order.chunks(self.ctx.cfg.batch_size).enumerate() {
            if self.ctx.observer.cancelled() {
                return Ok(ControlFlow::Break(StopReason::Cancelled));
            }
            let (loss, correct) = match self.step(epoch, step, chunk)? {
                ControlFlow::Continue(done) => done,
                ControlFlow::Break(stop) => return Ok(ControlFlow::Break(stop)),
            };
            sums.correct += correct;
            sums.loss += f64::from(loss) * chunk.len() as f64;
            sums.count += chunk.len();
            self.seen += chunk.len();
            if self.last_progress.elapsed() >= PROGRESS_EVERY {
                self.last_progress = Instant::now();
                self.report_progress(epoch, step, &sums);
            }
        }
        Ok(ControlFlow::Continue(sums))
    }

    fn report_progress(&self, epoch: usize, step: usize, sums: &EpochSums) {
        let rate = self.seen as f32 / self.started.elapsed().as_secs_f32().max(1e-6);
        let done = (epoch - 1) * self.steps + step + 1;
        let left = (self.total_steps - done) as f32 * self.ctx.cfg.batch_size as f32;
        self.ctx.observer.progress(&Progress {
            epoch,
            epochs: self.ctx.cfg.epochs,
            step: step + 1,
            steps: self.steps,
            loss: sums.mean_loss(),
            samples_per_second: rate,
            eta_seconds: left / rate.max(1e-6),
        });
    }

    /// Train on one batch (0-based `step` of `epoch`): continues with its loss and the number
    /// predicted right, or breaks with [`StopReason::NonFinite`] with the last good weights back.
    fn step(
        &mut self,
        epoch: usize,
        step: usize,
        chunk: &[usize],
    ) -> Result<ControlFlow<StopReason, (f32, usize)>, EngineError> {
        let Context {
            dataset,
            cfg,
            model,
            batcher,
            ..
        } = self.ctx;
        let samples: Vec<&Sample> = chunk.iter().map(|&i| &dataset.samples[i]).collect();
        let keep = dropout_presence(&samples, cfg.modality_dropout, &mut self.rng);
        let batches = shard(batcher, &samples, Some(&keep))?;
        let grads = self.stepper.gradients(model, &batches)?;
        let loss_value = grads.loss;
        let non_finite = |what: String| {
            ControlFlow::Break(StopReason::NonFinite {
                epoch,
                step: step + 1,
                what,
            })
        };
        if !loss_value.is_finite() {
            self.stepper.undo_last()?;
            return Ok(non_finite(format!("training loss is {loss_value}")));
        }
        // Adam keeps steps finite even at absurd learning rates, so the logits blow up
        // without ever reaching NaN: a loss far above guessing's ln(K) means divergence.
        let guessing = (dataset.classes.len().max(2) as f32).ln();
        if loss_value > DIVERGED * guessing {
            // The update before this step did the damage: go back to before it.
            self.stepper.undo_last()?;
            return Ok(non_finite(format!(
                "training loss is {loss_value:.1}, over {DIVERGED:.0}× that of guessing ({guessing:.2}): the run diverged"
            )));
        }
        let predicted = grads.predicted.clone();
        let lr = lr_at(cfg, (epoch - 1) * self.steps + step, self.total_steps);
        if let Some(what) = self.stepper.apply(grads, lr, cfg.clip_norm)? {
            return Ok(non_finite(what));
        }
        let correct = predicted
            .iter()
            .zip(chunk)
            .filter(|(p, i)| **p as usize == dataset.samples[**i].label)
            .count();
        Ok(ControlFlow::Continue((loss_value, correct)))
    }
}
