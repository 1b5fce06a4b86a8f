//! Messages between the UI (or CLI) and the worker thread: plain data only, no tensors, no egui.

use std::path::PathBuf;

use crate::data::{DatasetSpec, LoadOptions, Split, Summary};
use crate::engine::{
    EpochReport, Evaluation, Prediction, Progress, RawInput, StopReason, TrainConfig,
};
use crate::model::checkpoint::ModelCard;

/// A request to the worker.
#[derive(Clone, Debug)]
pub enum Command {
    /// Load (or reuse) the dataset and train a new model on it; it replaces the current model.
    Train {
        /// The dataset.
        dataset: DatasetSpec,
        /// How to load it.
        load: LoadOptions,
        /// Settings.
        config: TrainConfig,
    },
    /// Evaluate the current model on a split of a dataset (per-sample results included).
    Evaluate {
        /// Echoed in the answer.
        request_id: u64,
        /// The dataset.
        dataset: DatasetSpec,
        /// How to load it.
        load: LoadOptions,
        /// Which split; `None` = test, or validation when there is no test split.
        split: Option<Split>,
    },
    /// Predict one input with the current model.
    Predict {
        /// Echoed in the answer, so stale answers can be ignored.
        request_id: u64,
        /// Any subset of image, text and audio.
        input: RawInput,
    },
    /// Save the current model into this folder (atomically).
    Save {
        /// Target folder (`models/<name>`).
        dir: PathBuf,
    },
    /// Load a model folder; it becomes the current model.
    Load {
        /// The folder.
        dir: PathBuf,
    },
    /// Stop the running job (training, evaluation or dataset loading) within one batch.
    /// Never queued: [`super::WorkerHandle::send`] flips the cancel flag.
    Cancel,
    /// End the thread (sent when the handle is dropped).
    Shutdown,
}

/// What the worker reports.
#[derive(Clone, Debug)]
pub enum Event {
    /// A dataset is being decoded: `done` of `total` items.
    Loading {
        /// What is loading.
        what: String,
        /// Items done.
        done: usize,
        /// Items in all.
        total: usize,
    },
    /// A dataset is ready.
    DatasetReady(Box<Summary>),
    /// Training started.
    TrainingStarted {
        /// `cpu`, `cuda:0`, …
        device: String,
        /// Sample counts of the train, validation and test splits used.
        sizes: [usize; 3],
        /// Trainable parameters.
        parameters: usize,
    },
    /// Inside an epoch (at most ten times a second).
    Progress(Progress),
    /// An epoch finished.
    Epoch(Box<EpochReport>),
    /// Training ended normally, early or by cancel; the model is now the current model.
    TrainingFinished(Box<TrainingSummary>),
    /// An evaluation finished.
    Evaluated {
        /// From the command.
        request_id: u64,
        /// Dataset name.
        dataset: String,
        /// The split evaluated.
        split: Split,
        /// Metrics and per-sample results.
        evaluation: Box<Evaluation>,
    },
    /// A prediction.
    Prediction {
        /// From the command.
        request_id: u64,
        /// The answer.
        prediction: Box<Prediction>,
    },
    /// The model was saved.
    Saved(PathBuf),
    /// A model was loaded and is now the current model.
    Loaded {
        /// Its folder.
        dir: PathBuf,
        /// Its description.
        card: Box<ModelCard>,
    },
    /// A job stopped because the user cancelled it (not an error).
    Cancelled {
        /// What was cancelled.
        what: String,
    },
    /// Something failed; every error is reported once, here. The worker keeps running.
    Failed {
        /// What was being done ("Training", "Loading the model", …).
        context: String,
        /// What went wrong and what to do.
        message: String,
    },
}

/// The end of a training run.
#[derive(Clone, Debug)]
pub struct TrainingSummary {
    /// Why it stopped.
    pub stop: StopReason,
    /// The epoch whose weights were kept.
    pub best_epoch: usize,
    /// Every epoch.
    pub history: Vec<EpochReport>,
    /// Final validation evaluation.
    pub val: Option<Evaluation>,
    /// Final test evaluation.
    pub test: Option<Evaluation>,
    /// Seconds of training.
    pub seconds: f32,
    /// Training throughput.
    pub samples_per_second: f32,
    /// The new model's description.
    pub card: ModelCard,
}
