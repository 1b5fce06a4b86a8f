//! Worker events into app state: each event updates the views it concerns; failures become a
//! toast, a log line and an inline message in the panel whose action failed.

use super::{FusionApp, Purpose, training};
use crate::worker::{DecodedInput, Event};

impl FusionApp {
    /// Handle one worker event.
    pub fn on_event(&mut self, event: Event) {
        match event {
            Event::Loading { what, done, total } => {
                self.loading = (done < total).then_some((what, done, total));
            }
            Event::DatasetReady(summary) => {
                self.loading = None;
                self.status = format!(
                    "dataset {}: {} samples, {} classes",
                    summary.name,
                    summary.samples,
                    summary.classes.len()
                );
                if !summary.problems.is_empty() {
                    self.notifications.error(
                        "Some rows were skipped",
                        format!(
                            "{} rows of {} were skipped; the first: {}",
                            summary.problems.len(),
                            summary.name,
                            summary.problems[0]
                        ),
                    );
                }
            }
            Event::TrainingStarted {
                device,
                sizes,
                parameters,
            } => {
                self.training.running = true;
                self.training.sizes = Some((sizes, parameters));
                self.model.device = device;
                self.status = "training…".into();
            }
            Event::Progress(p) => {
                self.loading = None;
                self.training.progress = Some(p);
            }
            Event::Epoch(report) => {
                if let Some(run) = self.training.runs.last_mut() {
                    run.history.push(*report);
                }
            }
            Event::TrainingFinished(summary) => {
                self.training.running = false;
                self.training.progress = None;
                self.status = format!(
                    "training {} after {} epochs ({:.1} s, {:.0} samples/s)",
                    training::stop_text(&summary.stop),
                    summary.history.len(),
                    summary.seconds,
                    summary.samples_per_second
                );
                self.model.card = Some(summary.card.clone());
                self.model.dir = None;
                if let Some(run) = self.training.runs.last_mut() {
                    run.summary = Some(*summary);
                }
                self.after_model_change();
            }
            Event::Evaluated { .. } => {}
            Event::Prediction {
                request_id,
                prediction,
            } => self.predict.on_prediction(request_id, *prediction),
            Event::Saved(dir) => {
                self.notifications
                    .info("Model saved", dir.display().to_string());
                self.status = format!("saved {}", dir.display());
                self.model.dir = Some(dir);
            }
            Event::Loaded { dir, card } => {
                self.status = format!(
                    "model {} ({}) loaded",
                    dir.display(),
                    card.model.fusion.name()
                );
                self.settings.train.fusion = card.model.fusion;
                self.settings.model = Some(dir.clone());
                self.model.card = Some(*card);
                self.model.dir = Some(dir);
                if std::mem::take(&mut self.startup_load) {
                    self.predict.clear();
                    self.inputs.changed = true;
                } else {
                    self.after_model_change();
                }
            }
            Event::Cancelled { what } => {
                self.loading = None;
                self.status = format!("{what} cancelled");
                if what == "t-SNE"
                    && let Some(t) = &mut self.projections.tsne
                {
                    t.running = false;
                }
                if what.starts_with("exploring") || what.starts_with("loading") {
                    self.browser.exploring = false;
                }
            }
            Event::Failed { context, message } => {
                if context == "Loading the model" {
                    self.startup_load = false;
                }
                self.on_failure(context, message);
            }
            Event::Decoded { request_id, input } => self.on_decoded(request_id, *input),
            Event::Explored(e) => {
                if e.request_id == self.explore_id {
                    self.browser.exploring = false;
                    self.loading = None;
                    self.browser.set(*e);
                }
            }
            Event::TsneProgress {
                request_id,
                iteration,
                total,
                kl,
                points,
                samples,
            } => {
                if let Some(t) = &mut self.projections.tsne
                    && t.request_id == request_id
                {
                    t.points = points;
                    t.samples = samples;
                    t.iteration = (iteration, total);
                    t.kl = kl;
                }
            }
            Event::Tsne {
                request_id,
                space,
                points,
                samples,
                kl,
            } => {
                if let Some(t) = &mut self.projections.tsne
                    && t.request_id == request_id
                {
                    t.space = space;
                    t.points = points;
                    t.samples = samples;
                    t.kl = kl;
                    t.running = false;
                    t.iteration.0 = t.iteration.1;
                }
            }
        }
    }

    fn after_model_change(&mut self) {
        self.predict.clear();
        self.projections.tsne = None;
        self.inputs.changed = true;
        self.explore();
    }

    fn on_failure(&mut self, context: String, message: String) {
        log::error!("{context}: {message}");
        match context.as_str() {
            "Predicting" => self.predict.error = Some(message.clone()),
            "Opening an input" => self.inputs.error = Some(message.clone()),
            "Training" => {
                self.training.running = false;
                self.training.progress = None;
                self.training.error = Some(message.clone());
                if let Some(run) = self.training.runs.last()
                    && run.summary.is_none()
                    && run.history.is_empty()
                {
                    self.training.runs.pop();
                }
            }
            "Exploring the dataset" => {
                self.browser.exploring = false;
                self.browser.error = Some(message.clone());
                self.loading = None;
            }
            "Computing t-SNE" => {
                if let Some(t) = &mut self.projections.tsne {
                    t.running = false;
                }
            }
            _ => {}
        }
        self.status = format!("{context} failed");
        self.notifications
            .error(format!("{context} failed"), message);
    }

    fn on_decoded(&mut self, request_id: u64, input: DecodedInput) {
        let Some(pos) = self.decodes.iter().position(|(id, ..)| *id == request_id) else {
            return;
        };
        let (_, purpose) = self.decodes.remove(pos);
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
