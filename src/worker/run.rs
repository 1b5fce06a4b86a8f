//! The worker loop: owns the device, the current model and a cached dataset; every error
//! becomes exactly one `Failed` event and the loop goes on.

use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use candle_core::Device;

use super::input::Job;
use super::protocol::{Command, Event, TrainingSummary};
use super::{CancelToken, EventSender, analysis, explore};
use crate::data::{Dataset, DatasetSpec, LoadObserver, LoadOptions, Sample, Split, load_dataset};
use crate::engine::{
    self, Batcher, EpochReport, Progress, StopReason, TrainConfig, TrainObserver, check_compatible,
};
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
    jobs: mpsc::Sender<Job>,
}

impl State {
    /// Make `model` current here and on the input thread.
    fn set_model(&mut self, model: LoadedModel) {
        self.set_model_arc(Arc::new(model));
    }

    /// Make a shared `model` current here and on the input thread.
    pub(super) fn set_model_arc(&mut self, model: Arc<LoadedModel>) {
        self.jobs
            .send(Job::Model(Some(model.clone()), self.device.clone()))
            .ok();
        self.model = Some(model);
        self.explored = None;
    }
}

pub(super) struct Observer<'a> {
    pub(super) events: &'a EventSender,
    pub(super) cancel: &'a CancelToken,
    pub(super) what: String,
}

impl LoadObserver for Observer<'_> {
    fn progress(&self, done: usize, total: usize) {
        self.events.send(Event::Loading {
            what: self.what.clone(),
            done,
            total,
        });
    }
    fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

impl TrainObserver for Observer<'_> {
    fn progress(&self, progress: &Progress) {
        self.events.send(Event::Progress(progress.clone()));
    }
    fn epoch(&self, report: &EpochReport) {
        self.events.send(Event::Epoch(Box::new(report.clone())));
    }
    fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

pub(super) fn run(
    commands: &mpsc::Receiver<Command>,
    events: &EventSender,
    cancel: &CancelToken,
    jobs: &mpsc::Sender<Job>,
) {
    let device = device::open(device::DeviceChoice::Auto).unwrap_or(Device::Cpu);
    let mut state = State {
        device,
        model: None,
        dataset: None,
        explored: None,
        compared: Vec::new(),
        jobs: jobs.clone(),
    };
    while let Ok(cmd) = commands.recv() {
        let result = match cmd {
            Command::Shutdown => break,
            Command::Cancel => Ok(()),
            Command::Train {
                dataset,
                load,
                config,
            } => train(&mut state, &dataset, &load, &config, events, cancel)
                .map(|_| ())
                .map_err(|e| ("Training", e)),
            Command::Compare {
                dataset,
                load,
                config,
                fusions,
            } => analysis::compare(
                &mut state, &dataset, &load, &config, &fusions, events, cancel,
            )
            .map_err(|e| ("Comparing fusion methods", e)),
            Command::Robustness {
                request_id,
                dataset,
                load,
                config,
                compared,
            } => analysis::robustness(
                &mut state,
                request_id,
                &dataset,
                &load,
                &config,
                compared,
                (events, cancel),
            )
            .map_err(|e| ("Measuring robustness", e)),
            Command::Contributions {
                request_id,
                dataset,
                load,
                split,
            } => analysis::contributions(
                &mut state,
                request_id,
                &dataset,
                &load,
                split,
                (events, cancel),
            )
            .map_err(|e| ("Explaining the dataset", e)),
            Command::Evaluate {
                request_id,
                dataset,
                load,
                split,
            } => evaluate(
                &mut state,
                request_id,
                &dataset,
                &load,
                split,
                (events, cancel),
            )
            .map_err(|e| ("Evaluating", e)),
            // The handle routes these to the input thread; answer anyway if one arrives here.
            Command::Predict { request_id, input } => {
                jobs.send(Job::Predict { request_id, input }).ok();
                Ok(())
            }
            Command::Decode { request_id, source } => {
                jobs.send(Job::Decode { request_id, source }).ok();
                Ok(())
            }
            Command::Explore {
                request_id,
                dataset,
                load,
            } => explore::explore(&mut state, request_id, &dataset, &load, events, cancel)
                .map_err(|e| ("Exploring the dataset", e)),
            Command::Tsne {
                request_id,
                space,
                config,
            } => explore::tsne(&state, request_id, space, &config, events, cancel)
                .map_err(|e| ("Computing t-SNE", e)),
            Command::Neighbours {
                request_id,
                space,
                sample,
                k,
                metric,
            } => explore::neighbours(&state, space, sample, k, metric)
                .map(|neighbours| {
                    events.send(Event::Neighbours {
                        request_id,
                        space,
                        sample,
                        neighbours,
                    });
                })
                .map_err(|e| ("Finding neighbours", e)),
            Command::ExportEmbeddings { space, dir, points } => {
                explore::export(&state, space, &dir, &points)
                    .map(|()| {
                        events.send(Event::Exported {
                            what: "embeddings".into(),
                            path: dir,
                        });
                    })
                    .map_err(|e| ("Exporting embeddings", e))
            }
            Command::Save { dir } => save(&mut state, &dir)
                .map(|()| events.send(Event::Saved(dir)))
                .map_err(|e| ("Saving the model", e)),
            Command::Load { dir } => checkpoint::load(&dir, &state.device)
                .map(|loaded| {
                    let card = Box::new(loaded.card.clone());
                    state.set_model(loaded);
                    events.send(Event::Loaded { dir, card });
                })
                .map_err(|e| ("Loading the model", e.to_string())),
        };
        if let Err((context, message)) = result {
            events.send(Event::Failed {
                context: context.to_owned(),
                message,
            });
        }
        super::release_freed_memory();
    }
}

/// Load a dataset, reusing the cached one when the spec and options are the same.
pub(super) fn dataset<'s>(
    state: &'s mut State,
    spec: &DatasetSpec,
    load: &LoadOptions,
    events: &EventSender,
    cancel: &CancelToken,
) -> Result<Option<&'s Dataset>, String> {
    let key = spec.to_string();
    let cached = matches!(&state.dataset, Some((k, o, _)) if *k == key && o == load);
    if !cached {
        state.dataset = None;
        let observer = Observer {
            events,
            cancel,
            what: key.clone(),
        };
        let throttled = Throttled::new(&observer);
        let dataset = match load_dataset(spec, load, &throttled) {
            Ok(d) => d,
            Err(crate::data::DatasetError::Cancelled) => {
                events.send(Event::Cancelled {
                    what: format!("loading {key}"),
                });
                return Ok(None);
            }
            Err(e) => return Err(format!("{e}")),
        };
        events.send(Event::DatasetReady(Box::new(dataset.summary())));
        state.dataset = Some((key, load.clone(), dataset));
    }
    Ok(state.dataset.as_ref().map(|(_, _, d)| d))
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

/// Train and make the result current; `Ok(None)` when loading the data was cancelled.
pub(super) fn train(
    state: &mut State,
    spec: &DatasetSpec,
    load: &LoadOptions,
    config: &TrainConfig,
    events: &EventSender,
    cancel: &CancelToken,
) -> Result<Option<TrainingSummary>, String> {
    config.validate().map_err(|e| e.to_string())?;
    let device = device::open(config.device).map_err(|e| e.to_string())?;
    let train_device = device.clone();
    let Some(data) = dataset(state, spec, load, events, cancel)? else {
        return Ok(None);
    };
    let (tr, va, te) = engine::split_indices(data, config.seed);
    let observer = Observer {
        events,
        cancel,
        what: "training".into(),
    };
    let model_cfg = config.model_config(data.classes.len(), data.vocab.len(), &data.features);
    let probe = crate::model::ParamStore::new(0);
    let parameters = crate::model::FusionModel::new(&model_cfg, &probe, &Device::Cpu)
        .map(|_| probe.parameter_count())
        .unwrap_or(0);
    events.send(Event::TrainingStarted {
        device: device::label(&train_device),
        sizes: [tr.len(), va.len(), te.len()],
        parameters,
    });
    let outcome =
        engine::train(data, config, &train_device, &observer).map_err(|e| e.to_string())?;
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
    state.set_model(outcome.model);
    match &summary.stop {
        StopReason::NonFinite { epoch, step, what } => Err(format!(
            "the {what} at epoch {epoch}, step {step}; training stopped there and the weights from the last good step are kept (you can still save or evaluate them). Try a lower learning rate (now {}), keep gradient clipping on, or look for broken values in the data",
            config.learning_rate
        )),
        _ => {
            events.send(Event::TrainingFinished(Box::new(summary.clone())));
            Ok(Some(summary))
        }
    }
}

pub(super) fn current(state: &State) -> Result<&LoadedModel, String> {
    state
        .model
        .as_deref()
        .ok_or_else(|| "there is no model yet: train one or load one from models/".to_owned())
}

fn evaluate(
    state: &mut State,
    request_id: u64,
    spec: &DatasetSpec,
    load: &LoadOptions,
    split: Option<Split>,
    io: (&EventSender, &CancelToken),
) -> Result<(), String> {
    on_split(state, spec, load, split, io, "evaluation", |job| {
        Ok(engine::evaluate(
            &job.model.model,
            &job.batcher,
            &job.samples,
            job.data.classes.len(),
            true,
            job.cancelled,
        )?
        .map(|evaluation| Event::Evaluated {
            request_id,
            dataset: job.data.name.clone(),
            split: job.split,
            evaluation: Box::new(evaluation),
        }))
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

/// Load `spec` for the current model, pick `split`, run `job` on it and send the event it makes;
/// a cancelled job (`Ok(None)`) sends `Cancelled { what }` instead.
pub(super) fn on_split(
    state: &mut State,
    spec: &DatasetSpec,
    load: &LoadOptions,
    split: Option<Split>,
    (events, cancel): (&EventSender, &CancelToken),
    what: &str,
    job: impl FnOnce(&SplitJob<'_>) -> Result<Option<Event>, engine::EngineError>,
) -> Result<(), String> {
    let Some((split, indices)) = prepare(state, spec, load, split, events, cancel)? else {
        return Ok(());
    };
    let (Some(model), Some((_, _, data))) = (&state.model, &state.dataset) else {
        return Err("internal: model or dataset vanished".into());
    };
    let cancelled = || cancel.is_cancelled();
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
    match job(&input).map_err(|e| e.to_string())? {
        Some(event) => events.send(event),
        None => events.send(Event::Cancelled { what: what.into() }),
    }
    Ok(())
}

/// Load `spec` the way the current model expects, check they fit, and pick the split's sample
/// indices (`None` = test, else validation). `Ok(None)` when loading was cancelled.
pub(super) fn prepare(
    state: &mut State,
    spec: &DatasetSpec,
    load: &LoadOptions,
    split: Option<Split>,
    events: &EventSender,
    cancel: &CancelToken,
) -> Result<Option<(Split, Vec<usize>)>, String> {
    current(state)?;
    let mut load = load.clone();
    if let Some(model) = &state.model {
        load.features = model.card.features.clone();
    }
    if dataset(state, spec, &load, events, cancel)?.is_none() {
        return Ok(None);
    }
    let (Some(model), Some((_, _, data))) = (&state.model, &state.dataset) else {
        return Err("internal: model or dataset vanished".into());
    };
    check_compatible(&model.card, data).map_err(|e| e.to_string())?;
    let (train, val, test) = engine::split_indices(data, 0);
    let (split, indices) = match split {
        Some(Split::Train) => (Split::Train, train),
        Some(Split::Val) => (Split::Val, val),
        Some(Split::Test) => (Split::Test, test),
        None if !test.is_empty() => (Split::Test, test),
        None => (Split::Val, val),
    };
    if indices.is_empty() {
        return Err(format!(
            "dataset {} has no {} samples",
            data.name,
            split.name()
        ));
    }
    Ok(Some((split, indices)))
}

fn save(state: &mut State, dir: &Path) -> Result<(), String> {
    let model = state
        .model
        .as_mut()
        .ok_or_else(|| "there is no model to save yet: train one first".to_owned())?;
    let mut card = model.card.clone();
    card.name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    checkpoint::save(dir, &card, &model.store).map_err(|e| e.to_string())?;
    Arc::make_mut(model).card = card;
    Ok(())
}
