//! Messages between the UI (or CLI) and the worker thread: plain data only, no tensors, no egui.

use std::path::PathBuf;

use crate::data::synthetic::SyntheticConfig;
use crate::data::{FeatureConfig, Origin, Split, Summary};
use crate::engine::contribution::ContributionRow;
use crate::engine::robustness::RobustnessReport;
use crate::engine::{EpochReport, Evaluation, Prediction, Progress, StopReason};
use crate::model::checkpoint::ModelCard;
use crate::model::{FusionKind, WeightKind};
use crate::viz::pca::Pca;

use super::job::{JobId, JobKind};

/// What the worker reports: every event belongs to one job.
#[derive(Clone, Debug)]
pub enum Event {
    /// The job moved on; more events follow.
    Update {
        /// The job.
        job: JobId,
        /// Its kind.
        kind: JobKind,
        /// What happened.
        update: Update,
    },
    /// The job ended; exactly one of these per started job, and nothing about it follows.
    End {
        /// The job.
        job: JobId,
        /// Its kind.
        kind: JobKind,
        /// How it ended.
        outcome: Outcome,
    },
}

impl Event {
    /// The job it belongs to.
    pub fn job(&self) -> JobId {
        match self {
            Self::Update { job, .. } | Self::End { job, .. } => *job,
        }
    }
    /// That job's kind.
    pub fn kind(&self) -> JobKind {
        match self {
            Self::Update { kind, .. } | Self::End { kind, .. } => *kind,
        }
    }
    /// Is it the job's last event?
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::End { .. })
    }
}

/// Progress and partial results of a running job.
#[derive(Clone, Debug)]
pub enum Update {
    /// Work in items: a dataset decoding, an evaluation, a robustness sweep.
    Loading {
        /// What is being done.
        what: String,
        /// Items done.
        done: usize,
        /// Items in all.
        total: usize,
    },
    /// A dataset is ready.
    DatasetReady(Box<Summary>),
    /// Training of one model started.
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
    /// The worker's current model changed (a run finished, diverged and kept its last good
    /// weights, or a comparison picked its best); predictions now use this model.
    ModelChanged(Box<ModelCard>),
    /// A comparison moves on to method `index` of `total`.
    CompareStep {
        /// 0-based position.
        index: usize,
        /// Methods in all.
        total: usize,
        /// The method about to train.
        fusion: FusionKind,
    },
    /// A comparison finished training one method.
    MethodTrained(Box<TrainingSummary>),
    /// A comparison's method failed (e.g. it diverged); the comparison goes on with the next.
    MethodFailed {
        /// The method.
        fusion: FusionKind,
        /// What went wrong and what to do.
        message: String,
    },
    /// t-SNE is running: the layout so far.
    TsneProgress {
        /// Iterations done.
        iteration: usize,
        /// Iterations in all.
        total: usize,
        /// KL divergence now.
        kl: f32,
        /// Current layout, one point per entry of `samples`.
        points: Vec<[f32; 2]>,
        /// Sample indices (into the exploration) of the points.
        samples: Vec<usize>,
    },
}

/// How a job ended.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Training ended normally, early or by cancel; its model is now the current model.
    Trained(Box<TrainingSummary>),
    /// An evaluation finished.
    Evaluated {
        /// Dataset name.
        dataset: String,
        /// The split evaluated.
        split: Split,
        /// Metrics and per-sample results.
        evaluation: Box<Evaluation>,
    },
    /// A prediction.
    Prediction(Box<Prediction>),
    /// The model was saved.
    Saved(PathBuf),
    /// A model was loaded and is now the current model.
    Loaded {
        /// Its folder.
        dir: PathBuf,
        /// Its description.
        card: Box<ModelCard>,
    },
    /// A decoded input.
    Decoded(Box<DecodedInput>),
    /// A dataset explored with the current model.
    Explored(Box<Exploration>),
    /// t-SNE finished.
    Tsne {
        /// The space.
        space: usize,
        /// Final layout.
        points: Vec<[f32; 2]>,
        /// Sample indices (into the exploration) of the points.
        samples: Vec<usize>,
        /// Final KL divergence.
        kl: f32,
    },
    /// Nearest neighbours of a sample.
    Neighbours {
        /// The space.
        space: usize,
        /// The sample asked about.
        sample: usize,
        /// `(sample index, distance)`, nearest first.
        neighbours: Vec<(usize, f32)>,
    },
    /// A comparison ended (finished or stopped part-way).
    Compared {
        /// Methods that finished training, in order.
        trained: Vec<FusionKind>,
        /// The one now current (best validation accuracy).
        best: Option<FusionKind>,
        /// The current model's description.
        card: Option<Box<ModelCard>>,
    },
    /// A robustness run finished.
    Robustness {
        /// Dataset name.
        dataset: String,
        /// The split measured.
        split: Split,
        /// One report per model (effective robustness filled in when late fusion is among them).
        reports: Vec<RobustnessReport>,
    },
    /// Modality contributions of the current model.
    Contributions {
        /// Dataset name.
        dataset: String,
        /// The split used.
        split: Split,
        /// The model's method.
        fusion: FusionKind,
        /// Overall first, then per class.
        rows: Vec<ContributionRow>,
    },
    /// Files were written.
    Exported {
        /// Where.
        path: PathBuf,
    },
    /// A project after a change (or opened).
    Project(Box<super::project::ProjectSnapshot>),
    /// The user stopped the job (or a newer prediction replaced it); not an error.
    Cancelled,
    /// The job failed; every error is reported once, here. The worker keeps running.
    Failed {
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

/// Something to decode for the inputs panel.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// An image file (PNG, JPEG, BMP, GIF, WebP).
    ImageFile(PathBuf),
    /// A WAV file.
    AudioFile(PathBuf),
    /// A UTF-8 text file (at most 64 KiB).
    TextFile(PathBuf),
    /// An example folder with any of `image.png`, `sound.wav` and `text.txt`.
    Example(PathBuf),
    /// Sample `index` of a synthetic dataset, regenerated.
    Synthetic {
        /// The generator settings.
        config: SyntheticConfig,
        /// Preprocessing (image size, audio rate).
        features: FeatureConfig,
        /// Which sample.
        index: usize,
    },
    /// A sample of a folder dataset: its files and sentence.
    Files {
        /// Image file.
        image: Option<PathBuf>,
        /// Audio file.
        audio: Option<PathBuf>,
        /// The sentence.
        text: Option<String>,
    },
}

/// An image ready to show and to predict from.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedImage {
    /// Where it came from (file name or sample id).
    pub name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// RGB bytes, row-major (downscaled to at most 1024 pixels a side).
    pub rgb: Vec<u8>,
}

/// A sound ready to show, play and predict from.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedAudio {
    /// Where it came from.
    pub name: String,
    /// Samples per second.
    pub sample_rate: u32,
    /// Mono samples in −1..1.
    pub samples: Vec<f32>,
}

/// The result of [`Command::Decode`]; only the parts the source has are set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DecodedInput {
    /// Image.
    pub image: Option<DecodedImage>,
    /// Sentence.
    pub text: Option<String>,
    /// Sound.
    pub audio: Option<DecodedAudio>,
}

/// The model's answer for one dataset sample.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleOutcome {
    /// Predicted class.
    pub predicted: usize,
    /// Probability of the predicted class.
    pub confidence: f32,
    /// Probabilities per class.
    pub probs: Vec<f32>,
    /// Modality weights.
    pub weights: [f32; 3],
}

/// One dataset sample as the browser shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ExploredSample {
    /// Sample id.
    pub id: String,
    /// Split.
    pub split: Split,
    /// True class.
    pub label: usize,
    /// Which modalities it has.
    pub present: [bool; 3],
    /// The sentence.
    pub text: Option<String>,
    /// The model's input image as RGB bytes, `thumb_size²×3`.
    pub thumb: Option<Vec<u8>>,
    /// Where it came from (to load it into the inputs).
    pub origin: Origin,
    /// The model's answer (absent without a compatible model).
    pub outcome: Option<SampleOutcome>,
}

/// A 2-D projection of one embedding space.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpaceProjection {
    /// The fitted PCA (to place new inputs), if there were enough points.
    pub pca: Option<Pca>,
    /// `(sample index, coordinates)` for every sample that has this modality.
    pub points: Vec<(usize, [f32; 2])>,
}

/// The result of [`Command::Explore`].
#[derive(Clone, Debug, PartialEq)]
pub struct Exploration {
    /// Dataset name.
    pub dataset: String,
    /// Class names.
    pub classes: Vec<String>,
    /// Side of the thumbnails.
    pub thumb_size: usize,
    /// Kind of modality weights (with a model).
    pub weight_kind: Option<WeightKind>,
    /// Every sample.
    pub samples: Vec<ExploredSample>,
    /// PCA of the image, text, audio and fused embeddings (empty without a model).
    pub projections: Vec<SpaceProjection>,
    /// Why there are no predictions, when there are none.
    pub note: Option<String>,
}

/// Names of the embedding spaces, in the order of [`Exploration::projections`].
pub const SPACES: [&str; 4] = ["image", "text", "audio", "fused"];
