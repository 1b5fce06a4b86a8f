//! The training loop: AdamW, warm-up + cosine schedule, gradient clipping, early stopping on
//! validation loss, NaN/Inf detection (the last good weights are kept), cancel every batch.

use std::time::Instant;

use candle_core::{D, Device, Tensor};
use candle_nn::Optimizer as _;
use candle_nn::{AdamW, ParamsAdamW};
use rand::SeedableRng as _;
use rand::seq::SliceRandom as _;

use super::eval::{Evaluation, evaluate};
use super::metrics::Metrics;
use super::{Batcher, EngineError, TrainConfig, dropout_presence};
use crate::data::{Dataset, Sample, Split, SplitFractions, stratified_splits};
use crate::model::checkpoint::{FORMAT, LoadedModel, ModelCard, VERSION};
use crate::model::{FusionModel, ParamStore};

/// Progress inside an epoch.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    /// 1-based epoch.
    pub epoch: usize,
    /// Epochs planned.
    pub epochs: usize,
    /// Steps done in this epoch.
    pub step: usize,
    /// Steps per epoch.
    pub steps: usize,
    /// Mean training loss so far in this epoch.
    pub loss: f32,
    /// Training samples per second so far.
    pub samples_per_second: f32,
    /// Estimated seconds left for the whole run.
    pub eta_seconds: f32,
}

/// Put back weights saved by [`Tensor::copy`] (nothing to do without a copy).
fn restore(vars: &[candle_core::Var], saved: Option<&[Tensor]>) -> candle_core::Result<()> {
    for (var, old) in vars.iter().zip(saved.unwrap_or_default()) {
        var.set(old)?;
    }
    Ok(())
}

/// A training loss this many times that of uniform guessing stops the run as diverged.
const DIVERGED: f32 = 50.0;

/// Whether every parameter is finite: `0 · x` is 0 for a finite x and NaN otherwise, so one sum
/// per tensor tells.
fn weights_finite(vars: &[candle_core::Var]) -> candle_core::Result<bool> {
    for var in vars {
        let t = var.as_tensor();
        if !t
            .affine(0.0, 0.0)?
            .sum_all()?
            .to_scalar::<f32>()?
            .is_finite()
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// One finished epoch.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochReport {
    /// 1-based epoch.
    pub epoch: usize,
    /// Epochs planned.
    pub epochs: usize,
    /// Mean training loss.
    pub train_loss: f32,
    /// Training accuracy (with modality dropout, if any).
    pub train_accuracy: f32,
    /// Learning rate at the end of the epoch.
    pub learning_rate: f64,
    /// Validation metrics.
    pub val: Metrics,
    /// Is this the best validation loss so far (the weights that will be kept)?
    pub best: bool,
    /// Wall time of the epoch (training + validation).
    pub seconds: f32,
}

/// Why training ended.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// All epochs ran.
    Completed,
    /// Validation loss stopped improving.
    EarlyStopped,
    /// The user cancelled.
    Cancelled,
    /// The loss or the gradients became NaN or infinite.
    NonFinite {
        /// Epoch (1-based).
        epoch: usize,
        /// Step in that epoch (1-based).
        step: usize,
        /// What was not finite.
        what: String,
    },
}

/// Receives progress; asked every batch whether to stop.
pub trait TrainObserver {
    /// Called at most every 100 ms.
    fn progress(&self, progress: &Progress);
    /// Called after each epoch.
    fn epoch(&self, report: &EpochReport);
    /// True to stop as soon as possible.
    fn cancelled(&self) -> bool;
}

/// A finished (or stopped) run.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The model: the best-validation weights, or the last good ones after NaN.
    pub model: LoadedModel,
    /// Every epoch.
    pub history: Vec<EpochReport>,
    /// Why it stopped.
    pub stop: StopReason,
    /// The epoch whose weights were kept (0 when none finished).
    pub best_epoch: usize,
    /// Final evaluation on the validation split (absent when cancelled before an epoch).
    pub val: Option<Evaluation>,
    /// Final evaluation on the test split, when the dataset has one.
    pub test: Option<Evaluation>,
    /// Training time in seconds.
    pub seconds: f32,
    /// Training samples processed per second.
    pub samples_per_second: f32,
}

const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Indices of the train, validation and test samples. Datasets without a validation split get
/// one carved (stratified, seeded, 10 %) out of train.
pub fn split_indices(dataset: &Dataset, seed: u64) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let of = |split: Split| -> Vec<usize> {
        (0..dataset.samples.len())
            .filter(|&i| dataset.samples[i].split == split)
            .collect()
    };
    let (mut train, mut val, test) = (of(Split::Train), of(Split::Val), of(Split::Test));
    if val.is_empty() && train.len() >= 10 {
        let labels: Vec<usize> = train.iter().map(|&i| dataset.samples[i].label).collect();
        let fractions = SplitFractions {
            train: 0.9,
            val: 0.1,
            test: 0.0,
        };
        let parts = stratified_splits(&labels, fractions, seed);
        let (t, v): (Vec<_>, Vec<_>) = train
            .into_iter()
            .zip(parts)
            .partition(|(_, split)| *split == Split::Train);
        train = t.into_iter().map(|(i, _)| i).collect();
        val = v.into_iter().map(|(i, _)| i).collect();
    }
    (train, val, test)
}

fn lr_at(cfg: &TrainConfig, step: usize, total: usize) -> f64 {
    let warm = ((total as f64) * cfg.warmup).round().max(1.0) as usize;
    if step < warm {
        return cfg.learning_rate * (step + 1) as f64 / warm as f64;
    }
    let t = (step - warm) as f64 / (total.saturating_sub(warm).max(1)) as f64;
    let floor = 0.02 * cfg.learning_rate;
    floor + (cfg.learning_rate - floor) * 0.5 * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos())
}

/// Train a new model on `dataset` with `cfg` on `device`.
pub fn train(
    dataset: &Dataset,
    cfg: &TrainConfig,
    device: &Device,
    observer: &dyn TrainObserver,
) -> Result<TrainOutcome, EngineError> {
    cfg.validate()?;
    let (train_idx, val_idx, test_idx) = split_indices(dataset, cfg.seed);
    if train_idx.is_empty() {
        return Err(EngineError::Data(format!(
            "dataset {} has no training samples; give it a 'train' split or let fusionlab split it",
            dataset.name
        )));
    }
    if dataset.classes.len() < 2 {
        return Err(EngineError::Data(format!(
            "dataset {} has {} class; a classifier needs at least 2",
            dataset.name,
            dataset.classes.len()
        )));
    }
    let model_cfg = cfg.model_config(
        dataset.classes.len(),
        dataset.vocab.len(),
        &dataset.features,
    );
    model_cfg.validate()?;
    let store = ParamStore::new(cfg.seed);
    let model = FusionModel::new(&model_cfg, &store, device)?;
    let batcher = Batcher {
        config: &model_cfg,
        vocab: &dataset.vocab,
        device,
    };
    let params = ParamsAdamW {
        lr: cfg.learning_rate,
        weight_decay: cfg.weight_decay,
        ..Default::default()
    };
    let vars = store.vars();
    let mut opt = AdamW::new(vars.clone(), params)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_add(1));
    let steps = train_idx.len().div_ceil(cfg.batch_size);
    let total_steps = steps * cfg.epochs;
    let val_samples: Vec<&Sample> = val_idx.iter().map(|&i| &dataset.samples[i]).collect();

    let started = Instant::now();
    let mut last_progress = Instant::now();
    let mut seen = 0usize;
    let mut history = Vec::new();
    let mut best: Option<(f32, usize, _)> = None;
    let mut bad_epochs = 0usize;
    let mut stop = StopReason::Completed;
    let mut last_good: Option<Vec<Tensor>> = None;
    let mut order = train_idx.clone();
    'epochs: for epoch in 1..=cfg.epochs {
        let epoch_start = Instant::now();
        order.shuffle(&mut rng);
        let (mut loss_sum, mut correct, mut count) = (0f64, 0usize, 0usize);
        for (step, chunk) in order.chunks(cfg.batch_size).enumerate() {
            if observer.cancelled() {
                stop = StopReason::Cancelled;
                break 'epochs;
            }
            let samples: Vec<&Sample> = chunk.iter().map(|&i| &dataset.samples[i]).collect();
            let keep = dropout_presence(&samples, cfg.modality_dropout, &mut rng);
            let batch = batcher.batch(&samples, Some(&keep))?;
            let labels = batch
                .labels
                .clone()
                .ok_or_else(|| EngineError::Data("batch without labels".into()))?;
            let out = model.forward(&batch, false)?;
            let loss = candle_nn::loss::cross_entropy(&out.logits, &labels)?;
            let loss_value = loss.to_scalar::<f32>()?;
            let non_finite = |what: String| StopReason::NonFinite {
                epoch,
                step: step + 1,
                what,
            };
            if !loss_value.is_finite() {
                restore(&vars, last_good.as_deref())?;
                stop = non_finite(format!("training loss is {loss_value}"));
                break 'epochs;
            }
            // Adam keeps steps finite even at absurd learning rates, so the logits blow up
            // without ever reaching NaN: a loss far above guessing's ln(K) means divergence.
            let guessing = (dataset.classes.len().max(2) as f32).ln();
            if loss_value > DIVERGED * guessing {
                // The update before this step did the damage: go back to before it.
                restore(&vars, last_good.as_deref())?;
                stop = non_finite(format!(
                    "training loss is {loss_value:.1}, over {DIVERGED:.0}× that of guessing ({guessing:.2}): the run diverged"
                ));
                break 'epochs;
            }
            let mut grads = loss.backward()?;
            let mut norm_sq = 0f64;
            for var in &vars {
                if let Some(g) = grads.get(var) {
                    norm_sq += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
                }
            }
            let norm = norm_sq.sqrt();
            if !norm.is_finite() {
                stop = non_finite(format!("gradient norm is {norm}"));
                break 'epochs;
            }
            if cfg.clip_norm > 0.0 && norm > cfg.clip_norm {
                let scale = cfg.clip_norm / norm;
                for var in &vars {
                    if let Some(g) = grads.remove(var) {
                        grads.insert(var, (g * scale)?);
                    }
                }
            }
            opt.set_learning_rate(lr_at(cfg, (epoch - 1) * steps + step, total_steps));
            // Keep the weights from before this update, to go back to if it turns out bad (the
            // weights overflow now, or the next step's loss is NaN or far off).
            let backup: Vec<Tensor> = vars
                .iter()
                .map(|v| v.as_tensor().copy())
                .collect::<candle_core::Result<_>>()?;
            opt.step(&grads)?;
            if !weights_finite(&vars)? {
                restore(&vars, Some(&backup))?;
                stop = non_finite(format!(
                    "the weights overflowed after the update (learning rate {})",
                    cfg.learning_rate
                ));
                break 'epochs;
            }
            last_good = Some(backup);

            let predicted = out.logits.argmax(D::Minus1)?.to_vec1::<u32>()?;
            correct += predicted
                .iter()
                .zip(chunk)
                .filter(|(p, i)| **p as usize == dataset.samples[**i].label)
                .count();
            loss_sum += f64::from(loss_value) * chunk.len() as f64;
            count += chunk.len();
            seen += chunk.len();
            if last_progress.elapsed() >= PROGRESS_EVERY {
                last_progress = Instant::now();
                let rate = seen as f32 / started.elapsed().as_secs_f32().max(1e-6);
                let left =
                    (total_steps - ((epoch - 1) * steps + step + 1)) as f32 * cfg.batch_size as f32;
                observer.progress(&Progress {
                    epoch,
                    epochs: cfg.epochs,
                    step: step + 1,
                    steps,
                    loss: (loss_sum / count.max(1) as f64) as f32,
                    samples_per_second: rate,
                    eta_seconds: left / rate.max(1e-6),
                });
            }
        }
        let val = if val_samples.is_empty() {
            None
        } else {
            match evaluate(
                &model,
                &batcher,
                &val_samples,
                dataset.classes.len(),
                false,
                &|| observer.cancelled(),
            )? {
                Some(v) => Some(v),
                None => {
                    stop = StopReason::Cancelled;
                    break 'epochs;
                }
            }
        };
        let train_loss = (loss_sum / count.max(1) as f64) as f32;
        let monitored = val.as_ref().map_or(train_loss, |v| v.metrics.loss);
        // Patience counts real improvements; ties keep the later weights (once the validation
        // loss is ~0 the model can still get better on inputs with missing modalities).
        let improved = best.as_ref().is_none_or(|(b, _, _)| monitored < *b - 1e-4);
        let kept = best.as_ref().is_none_or(|(b, _, _)| monitored <= *b);
        if kept {
            best = Some((monitored, epoch, store.snapshot()?));
        }
        if improved {
            bad_epochs = 0;
        } else {
            bad_epochs += 1;
        }
        let report = EpochReport {
            epoch,
            epochs: cfg.epochs,
            train_loss,
            train_accuracy: correct as f32 / count.max(1) as f32,
            learning_rate: lr_at(cfg, epoch * steps - 1, total_steps),
            val: val.map(|v| v.metrics).unwrap_or_default(),
            best: kept,
            seconds: epoch_start.elapsed().as_secs_f32(),
        };
        observer.epoch(&report);
        history.push(report);
        if cfg.patience > 0 && bad_epochs >= cfg.patience {
            stop = StopReason::EarlyStopped;
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f32();
    // After NaN the current weights are the last good ones (the bad step was never applied);
    // otherwise go back to the best validation epoch.
    let mut best_epoch = history.len();
    if !matches!(stop, StopReason::NonFinite { .. })
        && let Some((_, epoch, values)) = &best
    {
        store.restore(values)?;
        best_epoch = *epoch;
    }
    let finished_epochs = !history.is_empty();
    let never = || false;
    let test_samples: Vec<&Sample> = test_idx.iter().map(|&i| &dataset.samples[i]).collect();
    let (val, test) = if finished_epochs && !matches!(stop, StopReason::NonFinite { .. }) {
        let k = dataset.classes.len();
        let val = if val_samples.is_empty() {
            None
        } else {
            evaluate(&model, &batcher, &val_samples, k, true, &never)?
        };
        let test = if test_samples.is_empty() {
            None
        } else {
            evaluate(&model, &batcher, &test_samples, k, true, &never)?
        };
        (val, test)
    } else {
        (None, None)
    };
    let metrics = serde_json::json!({
        "stop": stop,
        "best_epoch": best_epoch,
        "epochs_run": history.len(),
        "val": val.as_ref().map(|v| summary(&v.metrics)),
        "test": test.as_ref().map(|v| summary(&v.metrics)),
        "train_seconds": seconds,
    });
    let card = ModelCard {
        format: FORMAT.to_owned(),
        version: VERSION,
        name: String::new(),
        model: model_cfg,
        features: dataset.features.clone(),
        vocab: dataset.vocab.clone(),
        classes: dataset.classes.clone(),
        dataset: dataset.name.clone(),
        training: serde_json::to_value(cfg).unwrap_or_default(),
        metrics,
        saved_unix: 0,
    };
    Ok(TrainOutcome {
        model: LoadedModel { card, store, model },
        history,
        stop,
        best_epoch,
        val,
        test,
        seconds,
        samples_per_second: seen as f32 / seconds.max(1e-6),
    })
}

fn summary(m: &Metrics) -> serde_json::Value {
    serde_json::json!({
        "samples": m.samples,
        "loss": m.loss,
        "accuracy": m.accuracy,
        "macro_f1": m.macro_f1,
        "modality_only": m.modality_only,
        "mean_weights": m.mean_weights,
    })
}
