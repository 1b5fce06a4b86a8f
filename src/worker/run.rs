//! The worker loop: owns the device, the current model and a cached dataset; runs one job at a
//! time, each to exactly one terminal event, and goes on whatever happened.

use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use candle_core::Device;

use super::error::{JobError, OrCancelled as _};
use super::input::Msg;
use super::job::{Job, Registry};
use super::protocol::{Outcome, TrainingSummary, Update};
use super::{EventSender, Inbox, JobCtx, analysis, explore, run_job};
use crate::data::{Dataset, DatasetSpec, LoadObserver, LoadOptions, Sample, Split, load_dataset};
use crate::engine::extract;
use crate::engine::{
    self, Batcher, EpochReport, Progress, StopReason, TrainConfig, TrainObserver, check_compatible,
};
use crate::model::Backbones;
use crate::model::checkpoint::{self, LoadedModel};
use crate::model::device;

pub(super) struct State {
    pub(super) device: Device,
    pub(super) model: Option<Arc<LoadedModel>>,
    pub(super) dataset: Option<(String, LoadOptions, Dataset)>,
    /// Embeddings of the last exploration, for t-SNE.
    pub(super) explored: Option<explore::Embeddings>,
    /// Models of the last comparison, in method order.
    pub(super) compared: Vec<Arc<LoadedModel>>,
    inputs: mpsc::Sender<Msg>,
}

impl State {
    /// Make `model` current here and on the input thread, and tell the job's listener.
    fn set_model(&mut self, model: LoadedModel, ctx: &JobCtx<'_>) {
        self.set_model_arc(Arc::new(model), ctx);
    }

    /// Make a shared `model` current here and on the input thread, and tell the job's listener.
    pub(super) fn set_model_arc(&mut self, model: Arc<LoadedModel>, ctx: &JobCtx<'_>) {
        self.inputs
            .send(Msg::Model(Some(model.clone()), self.device.clone()))
            .ok();
        ctx.update(Update::ModelChanged(Box::new(model.card.clone())));
        self.model = Some(model);
        self.explored = None;
    }
}

/// Forwards the engine's progress and cancel checks to a job.
pub(super) struct Observer<'a> {
    pub(super) ctx: &'a JobCtx<'a>,
    pub(super) what: String,
}

impl LoadObserver for Observer<'_> {
    fn progress(&self, done: usize, total: usize) {
        self.ctx.update(Update::Loading {
            what: self.what.clone(),
            done,
            total,
        });
    }
    fn cancelled(&self) -> bool {
        self.ctx.cancelled()
    }
}

impl TrainObserver for Observer<'_> {
    fn progress(&self, progress: &Progress) {
        self.ctx.update(Update::Progress(progress.clone()));
    }
    fn epoch(&self, report: &EpochReport) {
        self.ctx.update(Update::Epoch(Box::new(report.clone())));
    }
    fn cancelled(&self) -> bool {
        self.ctx.cancelled()
    }
}

pub(super) fn run(
    inbox: &mpsc::Receiver<Inbox>,
    events: &EventSender,
    registry: &Registry,
    inputs: &mpsc::Sender<Msg>,
) {
    let device = device::open(device::DeviceChoice::Auto).unwrap_or(Device::Cpu);
    let mut state = State {
        device,
        model: None,
        dataset: None,
        explored: None,
        compared: Vec::new(),
        inputs: inputs.clone(),
    };
    while let Ok(Inbox::Job(id, job)) = inbox.recv() {
        let kind = job.kind();
        run_job(registry, events, id, kind, |ctx| {
            dispatch(&mut state, job, ctx)
        });
        super::release_freed_memory();
    }
}

/// Run one job on the worker thread.
fn dispatch(state: &mut State, job: Job, ctx: &JobCtx<'_>) -> Result<Outcome, JobError> {
    match job {
        Job::Train {
            dataset,
            load,
            config,
        } => train(state, &dataset, &load, &config, ctx)
            .map(|summary| Outcome::Trained(Box::new(summary))),
        Job::Compare {
            dataset,
            load,
            config,
            fusions,
        } => analysis::compare(state, &dataset, &load, &config, &fusions, ctx),
        Job::Robustness {
            dataset,
            load,
            config,
            compared,
        } => analysis::robustness(state, &dataset, &load, &config, compared, ctx),
        Job::Contributions {
            dataset,
            load,
            split,
        } => analysis::contributions(state, &dataset, &load, split, ctx),
        Job::Evaluate {
            dataset,
            load,
            split,
        } => evaluate(state, &dataset, &load, split, ctx),
        Job::Explore { dataset, load } => explore::explore(state, &dataset, &load, ctx),
        Job::Tsne { space, config } => explore::tsne(state, space, &config, ctx),
        Job::Neighbours {
            space,
            sample,
            k,
            metric,
        } => explore::neighbours(state, space, sample, k, metric).map(|neighbours| {
            Outcome::Neighbours {
                space,
                sample,
                neighbours,
            }
        }),
        Job::ExportEmbeddings { space, dir, points } => {
            explore::export(state, space, &dir, &points).map(|()| Outcome::Exported { path: dir })
        }
        Job::Save { dir } => save(state, &dir).map(|()| Outcome::Saved(dir)),
        Job::ExportOnnx { path } => {
            let model = state.model.as_ref().ok_or(JobError::NoModel)?;
            crate::model::onnx_export::export(model, &path)?;
            Ok(Outcome::Exported { path })
        }
        Job::Load { dir } => {
            let loaded = checkpoint::load(&dir, &state.device)?;
            let card = Box::new(loaded.card.clone());
            state.set_model(loaded, ctx);
            Ok(Outcome::Loaded { dir, card })
        }
        // The handle routes these to the input thread and never sends them here.
        Job::Predict { .. } | Job::Decode { .. } | Job::Project { .. } => Err(JobError::Internal(
            "an input job reached the training thread",
        )),
    }
}

/// Load a dataset, reusing the cached one when the spec and options are the same, and give its
/// samples the tokens of each backbone in `backbones` (from the token cache, or computed once).
pub(super) fn dataset<'s>(
    state: &'s mut State,
    spec: &DatasetSpec,
    load: &LoadOptions,
    backbones: &Backbones,
    ctx: &JobCtx<'_>,
) -> Result<&'s Dataset, JobError> {
    let key = cache_key(spec);
    let cached = matches!(&state.dataset, Some((k, o, _)) if *k == key && o == load);
    if !cached {
        state.dataset = None;
        let observer = Observer {
            ctx,
            what: spec.to_string(),
        };
        let dataset = load_dataset(spec, load, &Throttled::new(&observer))?;
        ctx.update(Update::DatasetReady(Box::new(dataset.summary())));
        state.dataset = Some((key, load.clone(), dataset));
    }
    if !backbones.is_scratch()
        && let Some((_, _, data)) = state.dataset.as_mut()
    {
        let observer = Observer {
            ctx,
            what: format!(
                "{} tokens",
                (0..3)
                    .filter_map(|m| backbones.get(m))
                    .map(|b| b.name())
                    .collect::<Vec<_>>()
                    .join(" + ")
            ),
        };
        let throttled = Throttled::new(&observer);
        let mut extractor =
            extract::Extractor::new(extract::ExtractOptions::default(), state.device.clone());
        if extractor.dataset(data, backbones, &throttled)?.is_none() {
            return Err(JobError::Cancelled);
        }
    }
    state
        .dataset
        .as_ref()
        .map(|(_, _, d)| d)
        .ok_or(JobError::Internal("the dataset vanished"))
}

/// What the cached dataset must match: the spec and, for a folder or CSV file, when and how big
/// its table was written — a project changed in the app rewrites `metadata.csv`, and training on
/// it must see the new examples.
fn cache_key(spec: &DatasetSpec) -> String {
    let DatasetSpec::Path(path) = spec else {
        return spec.to_string();
    };
    let tables = [
        path.to_owned(),
        path.join("metadata.csv"),
        path.join("manifest.csv"),
    ];
    let stamps: Vec<String> = tables
        .iter()
        .filter_map(|t| std::fs::metadata(t).ok().filter(|m| m.is_file()))
        .map(|m| {
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{modified}:{}", m.len())
        })
        .collect();
    format!("{spec}@{}", stamps.join(","))
}

/// Forwards load progress at most ten times a second.
struct Throttled<'a> {
    inner: &'a Observer<'a>,
    last: std::sync::Mutex<Option<Instant>>,
}

impl<'a> Throttled<'a> {
    fn new(inner: &'a Observer<'a>) -> Self {
        Self {
            inner,
            last: std::sync::Mutex::new(None),
        }
    }
}

impl extract::ExtractObserver for Throttled<'_> {
    fn progress(&self, done: usize, total: usize) {
        LoadObserver::progress(self, done, total);
    }
    fn cancelled(&self) -> bool {
        LoadObserver::cancelled(self.inner)
    }
}

impl LoadObserver for Throttled<'_> {
    fn progress(&self, done: usize, total: usize) {
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        let due = last.is_none_or(|t| t.elapsed() >= Duration::from_millis(100)) || done == total;
        if due {
            *last = Some(Instant::now());
            LoadObserver::progress(self.inner, done, total);
        }
    }
    fn cancelled(&self) -> bool {
        LoadObserver::cancelled(self.inner)
    }
}

/// Train and make the result current. A run that diverged keeps its last good weights as the
/// current model (listeners hear `ModelChanged`) and fails with what to try.
pub(super) fn train(
    state: &mut State,
    spec: &DatasetSpec,
    load: &LoadOptions,
    config: &TrainConfig,
    ctx: &JobCtx<'_>,
) -> Result<TrainingSummary, JobError> {
    config.validate()?;
    let train_device = device::open(config.device)?;
    let data = dataset(state, spec, load, &config.backbones, ctx)?;
    let (tr, va, te) = engine::split_indices(data, config.seed);
    let observer = Observer {
        ctx,
        what: "training".into(),
    };
    let model_cfg = config.model_config(data.classes.len(), data.vocab.len(), &data.features);
    let probe = crate::model::ParamStore::new(0);
    let parameters = crate::model::FusionModel::new(&model_cfg, &probe, &Device::Cpu)
        .map(|_| probe.parameter_count())
        .unwrap_or(0);
    ctx.update(Update::TrainingStarted {
        device: device::label(&train_device),
        sizes: [tr.len(), va.len(), te.len()],
        parameters,
    });
    let outcome = engine::train(data, config, &train_device, &observer)?;
    let mut card = outcome.model.card.clone();
    card.name = String::new();
    let summary = TrainingSummary {
        stop: outcome.stop.clone(),
        best_epoch: outcome.best_epoch,
        history: outcome.history,
        val: outcome.val,
        test: outcome.test,
        seconds: outcome.seconds,
        samples_per_second: outcome.samples_per_second,
        card,
    };
    state.device = train_device;
    state.set_model(outcome.model, ctx);
    match summary.stop {
        StopReason::NonFinite { epoch, step, what } => Err(JobError::Diverged {
            what,
            epoch,
            step,
            learning_rate: config.learning_rate,
        }),
        _ => Ok(summary),
    }
}

pub(super) fn current(state: &State) -> Result<&LoadedModel, JobError> {
    state.model.as_deref().ok_or(JobError::NoModel)
}

fn evaluate(
    state: &mut State,
    spec: &DatasetSpec,
    load: &LoadOptions,
    split: Option<Split>,
    ctx: &JobCtx<'_>,
) -> Result<Outcome, JobError> {
    on_split(state, spec, load, split, ctx, |job| {
        let evaluation = engine::evaluate(
            &job.model.model,
            &job.batcher,
            &job.samples,
            job.data.classes.len(),
            true,
            job.cancelled,
        )
        .or_cancelled()?;
        Ok(Outcome::Evaluated {
            dataset: job.data.name.clone(),
            split: job.split,
            evaluation: Box::new(evaluation),
        })
    })
}

/// A job over one split of a dataset with the current model.
pub(super) struct SplitJob<'s> {
    /// The current model.
    pub(super) model: &'s LoadedModel,
    /// The dataset.
    pub(super) data: &'s Dataset,
    /// Which split.
    pub(super) split: Split,
    /// Its samples.
    pub(super) samples: Vec<&'s Sample>,
    /// Batches them for the model.
    pub(super) batcher: Batcher<'s>,
    /// Checked every batch.
    pub(super) cancelled: &'s dyn Fn() -> bool,
}

/// Load `spec` for the current model, pick `split` and run `job` on it.
pub(super) fn on_split(
    state: &mut State,
    spec: &DatasetSpec,
    load: &LoadOptions,
    split: Option<Split>,
    ctx: &JobCtx<'_>,
    job: impl FnOnce(&SplitJob<'_>) -> Result<Outcome, JobError>,
) -> Result<Outcome, JobError> {
    let (split, indices) = prepare(state, spec, load, split, ctx)?;
    let (Some(model), Some((_, _, data))) = (&state.model, &state.dataset) else {
        return Err(JobError::Internal("the model or the dataset vanished"));
    };
    let cancelled = || ctx.cancelled();
    let input = SplitJob {
        model,
        data,
        split,
        samples: indices.iter().map(|&i| &data.samples[i]).collect(),
        batcher: Batcher {
            config: model.model.config(),
            vocab: &model.card.vocab,
            device: &state.device,
        },
        cancelled: &cancelled,
    };
    job(&input)
}

/// Load `spec` the way the current model expects, check they fit, and pick the split's sample
/// indices (`None` = test, else validation).
pub(super) fn prepare(
    state: &mut State,
    spec: &DatasetSpec,
    load: &LoadOptions,
    split: Option<Split>,
    ctx: &JobCtx<'_>,
) -> Result<(Split, Vec<usize>), JobError> {
    let model = current(state)?;
    let (features, backbones) = (model.card.features.clone(), model.model.config().backbones);
    let load = LoadOptions {
        features,
        ..load.clone()
    };
    dataset(state, spec, &load, &backbones, ctx)?;
    let (Some(model), Some((_, _, data))) = (&state.model, &state.dataset) else {
        return Err(JobError::Internal("the model or the dataset vanished"));
    };
    check_compatible(&model.card, data)?;
    let (train, val, test) = engine::split_indices(data, 0);
    let (split, indices) = match split {
        Some(Split::Train) => (Split::Train, train),
        Some(Split::Val) => (Split::Val, val),
        Some(Split::Test) => (Split::Test, test),
        None if !test.is_empty() => (Split::Test, test),
        None => (Split::Val, val),
    };
    if indices.is_empty() {
        return Err(JobError::EmptySplit {
            dataset: data.name.clone(),
            split,
        });
    }
    Ok((split, indices))
}

fn save(state: &mut State, dir: &Path) -> Result<(), JobError> {
    let model = state.model.as_mut().ok_or(JobError::NothingToSave)?;
    let mut card = model.card.clone();
    card.name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    checkpoint::save(dir, &card, &model.store)?;
    Arc::make_mut(model).card = card;
    Ok(())
}
