//! Worker events into app state. The job table learns every update and every end first; then
//! the model status, and then each panel, which takes the events of the jobs it started.
//! Failures become a toast, a log line and an inline message in the panel whose job failed.

use super::{FusionApp, Purpose};
use crate::worker::{DecodedInput, Event, JobId, JobKind, Outcome, Update};

impl FusionApp {
    /// Handle one worker event.
    pub fn on_event(&mut self, event: Event) {
        match event {
            Event::Update { job, kind, update } => self.on_update(job, kind, update),
            Event::End { job, kind, outcome } => self.on_end(job, kind, outcome),
        }
    }

    fn on_update(&mut self, job: JobId, kind: JobKind, update: Update) {
        self.jobs.touch(job);
        match &update {
            Update::Loading { what, done, total } => self.jobs.progress(job, what, *done, *total),
            Update::DatasetReady(summary) => {
                self.status = format!(
                    "dataset {}: {} samples, {} classes",
                    summary.name,
                    summary.samples,
                    summary.classes.len()
                );
                if let Some(first) = summary.problems.first() {
                    self.notifications.error(
                        "Some rows were skipped",
                        format!(
                            "{} rows of {} were skipped; the first: {first}",
                            summary.problems.len(),
                            summary.name,
                        ),
                    );
                }
            }
            Update::TrainingStarted { device, .. } => {
                self.model.device.clone_from(device);
                self.status = "training…".into();
            }
            Update::ModelChanged(card) => {
                // A model the user loaded or a comparison's best sets the method to train next;
                // the start-up load keeps the settings' (a lesson's, the last session's) method,
                // and a training run already trains the method set.
                let user_load = kind == JobKind::Load && self.startup_load != Some(job);
                if user_load || kind == JobKind::Compare {
                    self.settings.train.fusion = card.model.fusion;
                }
                self.model.card = Some((**card).clone());
                self.model.dir = None;
                self.model.generation += 1;
                self.model_changed.push(job);
            }
            Update::MethodFailed { fusion, message } => {
                let context = format!("Comparing: training {fusion}");
                log::error!("{context}: {message}");
                self.notifications
                    .error(format!("{context} failed"), message.clone());
            }
            _ => {}
        }
        if kind.trains() {
            self.training.on_update(job, &update);
        }
        if kind == JobKind::Compare {
            self.analysis.on_update(job, &update);
        }
        if let Update::TsneProgress { .. } = &update {
            // The last reader: the layout moves in instead of being copied.
            self.projections.on_update(job, update);
        }
    }

    fn on_end(&mut self, job: JobId, kind: JobKind, outcome: Outcome) {
        self.jobs.end(job);
        if let Outcome::Failed { message } = &outcome {
            log::error!("{}: {message}", kind.context());
            self.status = format!("{} failed", kind.context());
            self.notifications
                .error(format!("{} failed", kind.context()), message.clone());
        }
        if let Outcome::Cancelled = &outcome
            && !matches!(kind, JobKind::Predict | JobKind::Decode | JobKind::Project)
        {
            self.status = format!("{} stopped", kind.context());
        }
        self.status_for_end(&outcome);
        match kind {
            JobKind::Train => {
                self.teach.on_trained(job, &outcome, self.model.generation);
                self.training.on_end(job, &outcome);
            }
            JobKind::Project => self.teach.on_end(job, outcome, &mut self.settings),
            JobKind::Compare => {
                self.training.on_end(job, &outcome);
                self.analysis.on_end(job, &outcome, &self.model);
            }
            JobKind::Robustness | JobKind::Contributions => {
                self.analysis.on_end(job, &outcome, &self.model);
            }
            JobKind::Tsne | JobKind::Neighbours => self.projections.on_end(job, &outcome),
            JobKind::Explore => self.browser.on_end(job, outcome),
            JobKind::Predict => self.predict.on_end(job, &outcome),
            JobKind::Decode => self.on_decoded(job, outcome),
            JobKind::Save => {
                if let Outcome::Saved(dir) = &outcome {
                    // The Model menu lists the new folder at once.
                    self.folders = super::top_bar::FolderCache::default();
                    self.notifications
                        .info("Model saved", dir.display().to_string());
                    self.status = format!("saved {}", dir.display());
                    self.model.dir = Some(dir.clone());
                }
            }
            JobKind::Load => self.on_loaded(job, &outcome),
            JobKind::Export => {
                if let Outcome::Exported { path } = outcome {
                    self.exported("embeddings", Ok(path));
                }
            }
            JobKind::ExportOnnx => {
                if let Outcome::Exported { path } = outcome {
                    self.exported("ONNX model", Ok(path));
                }
            }
            JobKind::Evaluate => {}
        }
        // The views catch up with a new model when the job that made it ends (a comparison
        // changes it once per method; only its end counts).
        if let Some(at) = self.model_changed.iter().position(|&id| id == job) {
            self.model_changed.remove(at);
            self.after_model_change();
        }
    }

    fn status_for_end(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Trained(summary) => {
                self.status = format!(
                    "training {} after {} epochs ({:.1} s, {:.0} samples/s)",
                    super::training::stop_text(&summary.stop),
                    summary.history.len(),
                    summary.seconds,
                    summary.samples_per_second
                );
            }
            Outcome::Compared { trained, best, .. } => {
                self.status = match best {
                    Some(b) => format!(
                        "compared {} methods; the best, {}, is now the current model",
                        trained.len(),
                        b.name()
                    ),
                    None => "the comparison ended without a trained model".into(),
                };
            }
            Outcome::Robustness { .. } => self.status = "robustness measured".into(),
            _ => {}
        }
    }

    fn on_loaded(&mut self, job: JobId, outcome: &Outcome) {
        let startup = self.startup_load == Some(job);
        if startup {
            self.startup_load = None;
        }
        let Outcome::Loaded { dir, card } = outcome else {
            return;
        };
        self.status = format!(
            "model {} ({}) loaded",
            dir.display(),
            card.model.fusion.name()
        );
        self.settings.model = Some(dir.clone());
        self.model.dir = Some(dir.clone());
        if startup {
            // The exploration queued after the start-up load already uses this model.
            self.model_changed.retain(|&id| id != job);
            self.predict.clear();
            self.inputs.changed = true;
        }
    }

    pub(super) fn after_model_change(&mut self) {
        self.predict.clear();
        self.drop_tsne();
        self.inputs.changed = true;
        self.explore();
    }

    fn on_decoded(&mut self, job: JobId, outcome: Outcome) {
        let Some(pos) = self.decodes.iter().position(|(id, ..)| *id == job) else {
            return;
        };
        let (_, purpose) = self.decodes.remove(pos);
        let input: DecodedInput = match outcome {
            Outcome::Decoded(input) => *input,
            Outcome::Failed { message } => {
                self.inputs.error = Some(message);
                return;
            }
            _ => return,
        };
        match purpose {
            Purpose::Play => {
                if let Some(a) = input.audio {
                    match crate::audio::Player::play(a.samples, a.sample_rate) {
                        Ok(p) => self.inputs.player = Some(p),
                        Err(e) => self.notifications.error("Playing the sound", e.to_string()),
                    }
                }
            }
            Purpose::Input => self.inputs.apply(input, false),
            Purpose::Sample => {
                self.predict.keep = [true; 3];
                self.inputs.apply(input, true);
            }
        }
    }
}
