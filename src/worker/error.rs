//! Why a job ended without its result: stopped by the user, or failed with a message that says
//! what went wrong and what to do.

use crate::data::{DatasetError, Split};
use crate::engine::EngineError;
use crate::export::ExportError;
use crate::model::checkpoint::CheckpointError;
use crate::model::device::DeviceError;
use crate::viz::tsne::TsneError;

use super::input::InputError;

/// Why a job did not produce its result.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The user stopped it (not a failure: it ends as [`super::Outcome::Cancelled`]).
    #[error("cancelled")]
    Cancelled,
    /// The dataset could not be loaded.
    #[error(transparent)]
    Dataset(DatasetError),
    /// Training, evaluation or a model/data mismatch.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Saving or loading a model folder.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The compute device cannot be opened.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// t-SNE settings or a layout that went wrong.
    #[error(transparent)]
    Tsne(#[from] TsneError),
    /// Writing files.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// A file or sample for the inputs.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The model could not be exported as ONNX.
    #[error(transparent)]
    OnnxExport(#[from] crate::model::onnx_export::OnnxExportError),
    /// A teach-it-yourself project could not be read or changed.
    #[error(transparent)]
    Project(#[from] crate::data::project::ProjectError),
    /// There is no current model.
    #[error("there is no model yet: train one or load one from models/")]
    NoModel,
    /// Saving with no model.
    #[error("there is no model to save yet: train one first")]
    NothingToSave,
    /// t-SNE, neighbours or export before an exploration with a model.
    #[error("explore a dataset with a model first (the Projections panel does this)")]
    NotExplored,
    /// Neighbours of a sample that lacks that embedding.
    #[error("sample {sample} has no {space} embedding")]
    NoEmbedding {
        /// The sample.
        sample: usize,
        /// The space's name.
        space: &'static str,
    },
    /// The split asked for is empty.
    #[error("dataset {dataset} has no {split} samples", split = split.name())]
    EmptySplit {
        /// Dataset name.
        dataset: String,
        /// The split.
        split: Split,
    },
    /// A comparison of no methods.
    #[error("choose at least one fusion method to compare")]
    NoMethods,
    /// Training hit a non-finite loss or weights; the last good weights were kept.
    #[error(
        "the {what} at epoch {epoch}, step {step}; training stopped there and the weights from the last good step are kept (you can still save or evaluate them). Try a lower learning rate (now {learning_rate}), keep gradient clipping on, or look for broken values in the data"
    )]
    Diverged {
        /// What went non-finite (from the engine's stop reason).
        what: String,
        /// Epoch.
        epoch: usize,
        /// Step.
        step: usize,
        /// The run's learning rate.
        learning_rate: f64,
    },
    /// A state the worker should never be in.
    #[error("internal error: {0}; please report it")]
    Internal(&'static str),
}

impl From<DatasetError> for JobError {
    fn from(e: DatasetError) -> Self {
        match e {
            DatasetError::Cancelled => Self::Cancelled,
            e => Self::Dataset(e),
        }
    }
}

/// `Ok(None)` from the engine means the job was cancelled.
pub(super) trait OrCancelled<T> {
    /// The value, or [`JobError::Cancelled`].
    fn or_cancelled(self) -> Result<T, JobError>;
}

impl<T, E: Into<JobError>> OrCancelled<T> for Result<Option<T>, E> {
    fn or_cancelled(self) -> Result<T, JobError> {
        self.map_err(Into::into)?.ok_or(JobError::Cancelled)
    }
}
