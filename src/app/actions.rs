//! What the user asks for, turned into worker commands: load a model or a dataset, explore,
//! train, decode inputs and samples, predict when the inputs change.

use super::panel::Request;
use super::{DatasetEditor, FusionApp, Purpose};
use crate::data::{DatasetSpec, FeatureConfig, LoadOptions, Origin, Split};
use crate::worker::{Job, JobId, Source};
use std::path::PathBuf;

impl FusionApp {
    /// Load a model folder.
    pub fn load_model(&mut self, dir: PathBuf) -> JobId {
        self.status = format!("loading model {}…", dir.display());
        self.jobs.start(Job::Load { dir })
    }

    /// Switch to another dataset (explores it; a new model may be needed).
    pub fn set_dataset(&mut self, spec: &str) {
        if let Err(e) = spec.parse::<DatasetSpec>() {
            self.notifications
                .error("Opening the dataset", format!("{spec}: {e}"));
            return;
        }
        self.settings.dataset = spec.to_owned();
        self.dataset_editor = DatasetEditor::from_spec(spec);
        self.browser.exploration = None;
        self.drop_tsne();
        self.projections.selected = None;
        self.projections.neighbours = None;
        self.explore();
    }

    /// Run the current model over the dataset (browser and projections); a newer exploration
    /// replaces one still running.
    pub fn explore(&mut self) {
        let Ok(dataset) = self.settings.dataset.parse::<DatasetSpec>() else {
            self.notifications.error(
                "Opening the dataset",
                format!("'{}' is not a dataset", self.settings.dataset),
            );
            return;
        };
        if let Some(old) = self.browser.job {
            self.jobs.cancel(old);
        }
        self.browser.error = None;
        self.browser.job = Some(self.jobs.start(Job::Explore {
            dataset,
            load: LoadOptions::default(),
        }));
    }

    /// Forget the t-SNE layout, stopping its job when it still runs.
    pub(super) fn drop_tsne(&mut self) {
        if let Some(t) = self.projections.tsne.take() {
            self.jobs.cancel(t.job);
        }
    }

    /// Start a training run with the current settings.
    pub fn start_training(&mut self) {
        let config = self.settings.train.clone();
        self.start_training_with(config);
    }

    /// Make the project in `dir` the dataset (when it is not) and train on it with `config`
    /// (the Teach panel's settings for a small project); the panel times it.
    pub fn train_project(&mut self, dir: &std::path::Path, config: crate::engine::TrainConfig) {
        if self.jobs.is_training() {
            return;
        }
        let spec = dir.display().to_string();
        if self.settings.dataset != spec {
            self.set_dataset(&spec);
        }
        if let Some(id) = self.start_training_with(config) {
            self.teach.training = Some((id, std::time::Instant::now()));
        }
    }

    /// Start a training run on the settings' dataset with `config`; its job id, or `None` when
    /// a run is going on or the settings are wrong (the Training panel says why).
    fn start_training_with(&mut self, config: crate::engine::TrainConfig) -> Option<JobId> {
        if self.jobs.is_training() {
            return None;
        }
        let dataset = match self.settings.dataset.parse::<DatasetSpec>() {
            Ok(d) => d,
            Err(e) => {
                self.training.error = Some(e.to_string());
                return None;
            }
        };
        if let Err(e) = config.validate() {
            self.training.error = Some(e.to_string());
            self.notifications.error("Training", e.to_string());
            return None;
        }
        self.training.error = None;
        let fusion = config.fusion;
        let id = self.jobs.start(Job::Train {
            dataset,
            load: LoadOptions::default(),
            config,
        });
        self.training.new_run(fusion, Some(id));
        Some(id)
    }

    /// Save the current model as `models/<name>` (the name checked first).
    pub fn save_model(&mut self, name: &str) {
        match crate::model::checkpoint::check_name(name.trim()) {
            Ok(()) => {
                self.settings.save_name = name.trim().to_owned();
                let dir = self.models_dir.join(name.trim());
                self.jobs.start(Job::Save { dir });
            }
            Err(e) => self.notifications.error("Saving the model", e.to_string()),
        }
    }

    /// Stop the training or comparison that runs.
    pub fn stop_training(&mut self) {
        if let Some(id) = self.jobs.training().map(|j| j.id) {
            self.jobs.cancel(id);
        }
    }

    /// Ask the worker to decode something.
    pub fn decode(&mut self, source: Source, purpose: Purpose) {
        let id = self.jobs.start(Job::Decode { source });
        self.decodes.push((id, purpose));
    }

    /// The source that regenerates or reads dataset sample `i`.
    pub fn sample_source(&self, i: usize) -> Option<Source> {
        let s = self.browser.exploration.as_ref()?.samples.get(i)?;
        match (
            &s.origin,
            self.settings.dataset.parse::<DatasetSpec>().ok()?,
        ) {
            (Origin::Synthetic { index }, DatasetSpec::Synthetic(config)) => {
                let features = self
                    .model
                    .card
                    .as_ref()
                    .map_or_else(FeatureConfig::default, |c| c.features.clone());
                Some(Source::Synthetic {
                    config,
                    features,
                    index: *index,
                })
            }
            (Origin::Files { image, audio }, _) => Some(Source::Files {
                image: image.clone(),
                audio: audio.clone(),
                text: s.text.clone(),
            }),
            _ => None,
        }
    }

    /// Load dataset sample `i` into the inputs (or play its sound).
    pub fn request_sample(&mut self, i: usize, purpose: Purpose) {
        match self.sample_source(i) {
            Some(source) => {
                if purpose == Purpose::Sample {
                    self.browser.selected = Some(i);
                    self.predict.keep = [true; 3];
                }
                self.decode(source, purpose);
            }
            None => self
                .notifications
                .error("Opening a sample", format!("sample {i} cannot be reopened")),
        }
    }

    /// A random test sample (or any sample) into the inputs.
    pub fn load_random_sample(&mut self) {
        let Some(e) = &self.browser.exploration else {
            return;
        };
        let pool: Vec<usize> = (0..e.samples.len())
            .filter(|&i| e.samples[i].split == Split::Test)
            .collect();
        let pool = if pool.is_empty() {
            (0..e.samples.len()).collect()
        } else {
            pool
        };
        if pool.is_empty() {
            return;
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as usize);
        let i = pool[nanos % pool.len()];
        self.request_sample(i, Purpose::Sample);
    }

    /// Carry out what the panels asked for this frame.
    pub(crate) fn handle_requests(&mut self) {
        for request in std::mem::take(&mut self.requests) {
            match request {
                Request::Sample(i, purpose) => self.request_sample(i, purpose),
                Request::ShowConfusion {
                    truth,
                    predicted,
                    split,
                } => {
                    self.browser.filter.pair = Some((truth, predicted));
                    self.browser.filter.split = Some(split);
                    self.browser.page = 0;
                    self.settings.tab = super::Tab::Dataset;
                }
                Request::SelectPoint(i) => self.select_point(i),
                Request::Open(path) => self.open_path(&path),
                Request::Example(dir) => self.decode(Source::Example(dir), Purpose::Sample),
                Request::RandomSample => self.load_random_sample(),
                Request::PlayFile(path) => self.decode(Source::AudioFile(path), Purpose::Play),
                Request::TrainProject { dir, config } => self.train_project(&dir, config),
                Request::SaveModel(name) => self.save_model(&name),
            }
        }
    }

    /// Send a prediction request when the inputs or toggles changed.
    pub(crate) fn request_prediction(&mut self) {
        if !self.inputs.changed || self.model.card.is_none() {
            return;
        }
        self.inputs.changed = false;
        let present = self.inputs.present();
        if !present.iter().any(|&p| p) {
            self.predict.clear();
            self.predict.pending = None;
            return;
        }
        let keep: [bool; 3] = std::array::from_fn(|m| self.predict.keep[m] || !present[m]);
        let full = keep.iter().all(|&k| k);
        if !(0..3).any(|m| present[m] && keep[m]) {
            self.predict.current = None;
            self.predict.error =
                Some("every given modality is switched off: tick at least one".into());
            self.predict.pending = None;
            return;
        }
        let id = self.jobs.start(Job::Predict {
            input: self.inputs.raw(keep),
        });
        self.predict.pending = Some((id, full));
    }
}
