//! The training loop: AdamW, warm-up + cosine schedule, gradient clipping, early stopping on
//! validation loss, NaN/Inf detection (the last good weights are kept), cancel every batch.

use candle_core::Device;

mod adamw;
mod run;
pub mod step;

use run::{Context, Run};

use super::eval::Evaluation;
use super::metrics::Metrics;
use super::{Batcher, EngineError, TrainConfig};
use crate::data::{Dataset, Sample, Split, SplitFractions, stratified_splits};
use crate::model::checkpoint::{FORMAT, LoadedModel, ModelCard, VERSION};
use crate::model::{FusionModel, ModelConfig, ParamStore};

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
    let (train_idx, val_idx, test_idx) = checked_splits(dataset, cfg)?;
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
    let samples =
        |idx: &[usize]| -> Vec<&Sample> { idx.iter().map(|&i| &dataset.samples[i]).collect() };
    let val_samples = samples(&val_idx);
    let ctx = Context {
        dataset,
        cfg,
        observer,
        model: &model,
        batcher: &batcher,
        store: &store,
    };
    let mut run = Run::new(ctx, train_idx.len())?;
    let (history, stop, best) = run.epochs(train_idx, &val_samples)?;
    let seconds = run.started.elapsed().as_secs_f32();
    let seen = run.seen;
    let (best_epoch, val, test) = run.finish(
        history.len(),
        &stop,
        best.as_ref(),
        &val_samples,
        &samples(&test_idx),
    )?;
    let metrics = serde_json::json!({
        "stop": stop,
        "best_epoch": best_epoch,
        "epochs_run": history.len(),
        "val": val.as_ref().map(|v| summary(&v.metrics)),
        "test": test.as_ref().map(|v| summary(&v.metrics)),
        "train_seconds": seconds,
    });
    let card = model_card(dataset, cfg, model_cfg, metrics);
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

/// Sample indices of the train, validation and test splits.
type Splits = (Vec<usize>, Vec<usize>, Vec<usize>);

/// Check the settings and the dataset, and split it into train, validation and test indices.
fn checked_splits(dataset: &Dataset, cfg: &TrainConfig) -> Result<Splits, EngineError> {
    cfg.validate()?;
    let splits = split_indices(dataset, cfg.seed);
    if splits.0.is_empty() {
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
    Ok(splits)
}

/// The description saved with a freshly trained model (named when it is saved).
fn model_card(
    dataset: &Dataset,
    cfg: &TrainConfig,
    model: ModelConfig,
    metrics: serde_json::Value,
) -> ModelCard {
    ModelCard {
        format: FORMAT.to_owned(),
        version: VERSION,
        name: String::new(),
        pretrained: crate::model::checkpoint::BackboneRecord::of(&model),
        model,
        features: dataset.features.clone(),
        vocab: dataset.vocab.clone(),
        classes: dataset.classes.clone(),
        dataset: dataset.name.clone(),
        training: serde_json::to_value(cfg).unwrap_or_default(),
        metrics,
        saved_unix: 0,
    }
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
