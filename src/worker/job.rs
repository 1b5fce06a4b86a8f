//! Jobs: what the worker is asked to do, each under a [`JobId`] from the command that starts it
//! to the one terminal event that ends it, with a cancel token made when the job starts.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::data::{DatasetSpec, LoadOptions, Split};
use crate::engine::robustness::RobustnessConfig;
use crate::engine::{RawInput, TrainConfig};
use crate::model::FusionKind;
use crate::viz::knn::Metric;
use crate::viz::tsne::TsneConfig;

use super::EventSender;
use super::protocol::{Event, Outcome, Source};

/// Identifies one job; unique within the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

impl JobId {
    /// A new id, never handed out before in this process.
    pub fn fresh() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "job {}", self.0)
    }
}

/// What kind of work a job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Train a model.
    Train,
    /// Evaluate the current model on a split.
    Evaluate,
    /// Predict one input.
    Predict,
    /// Save the current model.
    Save,
    /// Load a model folder.
    Load,
    /// Decode a file or a sample.
    Decode,
    /// Run the current model over a dataset (browser and projections).
    Explore,
    /// t-SNE of one embedding space.
    Tsne,
    /// Nearest neighbours of one sample.
    Neighbours,
    /// Train several fusion methods in turn.
    Compare,
    /// Accuracy under corrupted inputs.
    Robustness,
    /// Native and Shapley modality contributions.
    Contributions,
    /// Write embeddings for the TensorBoard projector.
    Export,
    /// Change or open a teach-it-yourself project.
    Project,
    /// Write the current model as ONNX.
    ExportOnnx,
}

impl JobKind {
    /// What the job does, to start a sentence ("Training failed", "Loading the model failed").
    pub fn context(self) -> &'static str {
        match self {
            Self::Train => "Training",
            Self::Evaluate => "Evaluating",
            Self::Predict => "Predicting",
            Self::Save => "Saving the model",
            Self::Load => "Loading the model",
            Self::Decode => "Opening an input",
            Self::Explore => "Exploring the dataset",
            Self::Tsne => "Computing t-SNE",
            Self::Neighbours => "Finding neighbours",
            Self::Compare => "Comparing fusion methods",
            Self::Robustness => "Measuring robustness",
            Self::Contributions => "Explaining the dataset",
            Self::Export => "Exporting embeddings",
            Self::Project => "Updating the project",
            Self::ExportOnnx => "Exporting the model as ONNX",
        }
    }

    /// Does it train models (and so make a new model current)?
    pub fn trains(self) -> bool {
        matches!(self, Self::Train | Self::Compare)
    }
}

/// Work for the worker. Every variant is one job.
#[derive(Clone, Debug)]
pub enum Job {
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
        /// The dataset.
        dataset: DatasetSpec,
        /// How to load it.
        load: LoadOptions,
        /// Which split; `None` = test, or validation when there is no test split.
        split: Option<Split>,
    },
    /// Predict one input with the current model (runs on the input thread; of several queued
    /// predictions only the newest runs, the others end as cancelled).
    Predict {
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
        /// What to decode.
        source: Source,
    },
    /// Load (or reuse) a dataset and run the current model over every sample: per-sample results
    /// for browsing, and PCA projections of each embedding space. Without a compatible model the
    /// samples still come back, without predictions.
    Explore {
        /// The dataset.
        dataset: DatasetSpec,
        /// How to load it.
        load: LoadOptions,
    },
    /// t-SNE of one embedding space of the last exploration (streams layouts as it goes).
    Tsne {
        /// 0 image, 1 text, 2 audio, 3 fused.
        space: usize,
        /// Settings.
        config: TsneConfig,
    },
    /// The nearest neighbours of one sample in one embedding space of the last exploration.
    Neighbours {
        /// 0 image, 1 text, 2 audio, 3 fused.
        space: usize,
        /// The sample (index into the exploration).
        sample: usize,
        /// How many.
        k: usize,
        /// Distance.
        metric: Metric,
    },
    /// Train each of `fusions` in turn with the same settings and seed. The trained models are
    /// kept for [`Job::Robustness`]; the best by validation accuracy becomes current.
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
    /// Write the current model as a standard ONNX file (opset 17), atomically.
    ExportOnnx {
        /// The target file.
        path: PathBuf,
    },
    /// Open, create or change the project in folder `dir` (runs on the input thread, in the
    /// order sent, so a change never waits for training).
    Project {
        /// The project's folder.
        dir: PathBuf,
        /// What to do.
        op: super::project::ProjectOp,
    },
}

impl Job {
    /// Its kind.
    pub fn kind(&self) -> JobKind {
        match self {
            Self::Train { .. } => JobKind::Train,
            Self::Evaluate { .. } => JobKind::Evaluate,
            Self::Predict { .. } => JobKind::Predict,
            Self::Save { .. } => JobKind::Save,
            Self::Load { .. } => JobKind::Load,
            Self::Decode { .. } => JobKind::Decode,
            Self::Explore { .. } => JobKind::Explore,
            Self::Tsne { .. } => JobKind::Tsne,
            Self::Neighbours { .. } => JobKind::Neighbours,
            Self::Compare { .. } => JobKind::Compare,
            Self::Robustness { .. } => JobKind::Robustness,
            Self::Contributions { .. } => JobKind::Contributions,
            Self::ExportEmbeddings { .. } => JobKind::Export,
            Self::Project { .. } => JobKind::Project,
            Self::ExportOnnx { .. } => JobKind::ExportOnnx,
        }
    }
}

/// A request to the worker.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // a few commands a second; boxing would buy nothing
pub enum Command {
    /// Start (queue) a job under `id`; it ends with exactly one terminal event carrying `id`.
    Start {
        /// Its id ([`JobId::fresh`]).
        id: JobId,
        /// The work.
        job: Job,
    },
    /// Stop that job: at once when it runs (within a batch), or before it starts when it is
    /// still queued (it then ends as cancelled without running). Other jobs are not touched.
    /// Never queued behind other work.
    Cancel(JobId),
}

/// A shared stop flag for one running job, checked by the worker every batch.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// Ask the job to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    /// Has a stop been asked for?
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
struct Table {
    /// Sent, not started.
    queued: HashMap<JobId, JobKind>,
    /// Cancelled while queued: they already sent their terminal event and never run.
    ended: HashSet<JobId>,
    /// Started, not ended, with their tokens.
    running: HashMap<JobId, CancelToken>,
}

/// Which jobs are queued and running, shared by the handle (which cancels) and the worker
/// threads (which start and end jobs). A job cancelled while queued ends at once, not when its
/// turn comes.
#[derive(Clone)]
pub(super) struct Registry {
    table: Arc<Mutex<Table>>,
    events: EventSender,
}

impl Registry {
    /// An empty registry whose early ends go to `events`.
    pub(super) fn new(events: EventSender) -> Self {
        Self {
            table: Arc::default(),
            events,
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // Each step below is one insert or remove, so a lock poisoned by a panic elsewhere
        // still holds consistent sets.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A job was sent.
    pub(super) fn queue(&self, id: JobId, kind: JobKind) {
        self.table().queued.insert(id, kind);
    }

    /// A job's turn came: its fresh token, or `None` when it was cancelled (and ended) while
    /// queued — then it must not run or send anything.
    pub(super) fn begin(&self, id: JobId) -> Option<CancelToken> {
        let mut t = self.table();
        t.queued.remove(&id);
        if t.ended.remove(&id) {
            return None;
        }
        let token = CancelToken::default();
        t.running.insert(id, token.clone());
        Some(token)
    }

    /// A running job is about to send its terminal event.
    pub(super) fn end(&self, id: JobId) {
        self.table().running.remove(&id);
    }

    /// Stop `id`: a running job within a batch; a queued one ends now as cancelled. A job that
    /// already ended is left alone.
    pub(super) fn cancel(&self, id: JobId) {
        let mut t = self.table();
        if let Some(token) = t.running.get(&id) {
            token.cancel();
        } else if let Some(kind) = t.queued.remove(&id) {
            t.ended.insert(id);
            // Sent under the lock, so `begin` cannot start the job in between.
            self.events.send(Event::End {
                job: id,
                kind,
                outcome: Outcome::Cancelled,
            });
        }
    }

    /// Stop every queued and running job (shutdown, Ctrl-C).
    pub(super) fn cancel_all(&self) {
        let ids: Vec<JobId> = {
            let t = self.table();
            t.running.keys().chain(t.queued.keys()).copied().collect()
        };
        for id in ids {
            self.cancel(id);
        }
    }
}
