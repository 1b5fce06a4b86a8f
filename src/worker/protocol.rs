//! Messages between the UI (or CLI) and the worker thread: plain data only, no tensors, no egui.

use std::path::PathBuf;

use crate::data::synthetic::SyntheticConfig;
use crate::data::{DatasetSpec, FeatureConfig, LoadOptions, Origin, Split, Summary};
use crate::engine::contribution::ContributionRow;
use crate::engine::robustness::{RobustnessConfig, RobustnessReport};
use crate::engine::{
    EpochReport, Evaluation, Prediction, Progress, RawInput, StopReason, TrainConfig,
};
use crate::model::checkpoint::ModelCard;
use crate::model::{FusionKind, WeightKind};
use crate::viz::knn::Metric;
use crate::viz::pca::Pca;
use crate::viz::tsne::TsneConfig;

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
    /// Decode a file or a dataset sample into displayable, predictable inputs. Runs on the input
    /// thread, so it never waits for training.
    Decode {
        /// Echoed in the answer.
        request_id: u64,
        /// What to decode.
        source: Source,
    },
    /// Load (or reuse) a dataset and run the current model over every sample: per-sample results
    /// for browsing, and PCA projections of each embedding space. Without a compatible model the
    /// samples still come back, without predictions.
    Explore {
        /// Echoed in the answer.
        request_id: u64,
        /// The dataset.
        dataset: DatasetSpec,
        /// How to load it.
        load: LoadOptions,
    },
    /// t-SNE of one embedding space of the last exploration (streams [`Event::TsneProgress`]).
    Tsne {
        /// Echoed in the answers.
        request_id: u64,
        /// 0 image, 1 text, 2 audio, 3 fused.
        space: usize,
        /// Settings.
        config: TsneConfig,
    },
    /// The nearest neighbours of one sample in one embedding space of the last exploration.
    Neighbours {
        /// Echoed in the answer.
        request_id: u64,
        /// 0 image, 1 text, 2 audio, 3 fused.
        space: usize,
        /// The sample (index into the exploration).
        sample: usize,
        /// How many.
        k: usize,
        /// Distance.
        metric: Metric,
    },
    /// Train each of `fusions` in turn with the same settings and seed (the usual training events
    /// for each, framed by [`Event::CompareStep`] and [`Event::Compared`]). The trained models are
    /// kept for [`Command::Robustness`]; the best by validation accuracy becomes current.
    Compare {
        /// The dataset.
        dataset: DatasetSpec,
        /// How to load it.
        load: LoadOptions,
        /// Settings shared by every method (its `fusion` is replaced).
        config: TrainConfig,
        /// Methods, in order.
        fusions: Vec<FusionKind>,
    },
    /// Accuracy under corrupted inputs (test split, else validation) for the current model, or
    /// for every model of the last comparison.
    Robustness {
        /// Echoed in the answer.
        request_id: u64,
        /// The dataset.
        dataset: DatasetSpec,
        /// How to load it.
        load: LoadOptions,
        /// Corruptions, levels, seed.
        config: RobustnessConfig,
        /// Measure every compared model instead of only the current one.
        compared: bool,
    },
    /// Mean native and Shapley modality weights of the current model, overall and per class.
    Contributions {
        /// Echoed in the answer.
        request_id: u64,
        /// The dataset.
        dataset: DatasetSpec,
        /// How to load it.
        load: LoadOptions,
        /// Which split; `None` = test, or validation when there is no test split.
        split: Option<Split>,
    },
    /// Write one embedding space of the last exploration as the TensorBoard projector pair
    /// (`vectors.tsv`, `metadata.tsv`) plus `coordinates.csv`, into folder `dir`.
    ExportEmbeddings {
        /// 0 image, 1 text, 2 audio, 3 fused.
        space: usize,
        /// Target folder (created).
        dir: PathBuf,
        /// `(sample index, shown 2-D coordinates, predicted class name)` per point.
        points: Vec<(usize, [f32; 2], String)>,
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
    /// A decoded input.
    Decoded {
        /// From the command.
        request_id: u64,
        /// What came out.
        input: Box<DecodedInput>,
    },
    /// A dataset explored with the current model.
    Explored(Box<Exploration>),
    /// t-SNE is running: the layout so far.
    TsneProgress {
        /// From the command.
        request_id: u64,
        /// Iterations done.
        iteration: usize,
        /// Iterations in all.
        total: usize,
        /// KL divergence now.
        kl: f32,
        /// Current layout, one point per entry of [`Event::Tsne`]'s `samples`.
        points: Vec<[f32; 2]>,
        /// Sample indices (into the exploration) of the points.
        samples: Vec<usize>,
    },
    /// Nearest neighbours of a sample.
    Neighbours {
        /// From the command.
        request_id: u64,
        /// The space.
        space: usize,
        /// The sample asked about.
        sample: usize,
        /// `(sample index, distance)`, nearest first.
        neighbours: Vec<(usize, f32)>,
    },
    /// t-SNE finished.
    Tsne {
        /// From the command.
        request_id: u64,
        /// The space.
        space: usize,
        /// Final layout.
        points: Vec<[f32; 2]>,
        /// Sample indices (into the exploration) of the points.
        samples: Vec<usize>,
        /// Final KL divergence.
        kl: f32,
    },
    /// A comparison moves on to method `index` of `total`.
    CompareStep {
        /// 0-based position.
        index: usize,
        /// Methods in all.
        total: usize,
        /// The method about to train.
        fusion: FusionKind,
    },
    /// A comparison ended (finished or cancelled).
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
        /// From the command.
        request_id: u64,
        /// Dataset name.
        dataset: String,
        /// The split measured.
        split: Split,
        /// One report per model (effective robustness filled in when late fusion is among them).
        reports: Vec<RobustnessReport>,
    },
    /// Modality contributions of the current model.
    Contributions {
        /// From the command.
        request_id: u64,
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
        /// What ("embeddings").
        what: String,
        /// Where.
        path: PathBuf,
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
    /// From the command.
    pub request_id: u64,
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
