//! Worker events into app state: each event updates the views it concerns; failures become a
//! toast, a log line and an inline message in the panel whose action failed.

use super::{FusionApp, Purpose, training};
use crate::worker::{DecodedInput, Event};

impl FusionApp {
    /// Handle one worker event.
    pub fn on_event(&mut self, event: Event) {
        match event {
            Event::Loading { what, done, total } => {
                if self
                    .loading_started
                    .as_ref()
                    .is_none_or(|(w, _)| *w != what)
                {
                    self.loading_started = Some((what.clone(), std::time::Instant::now()));
                }
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
                self.analysis.pending_parameters = parameters;
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
                if let Some((_, _, fusion)) = self.analysis.comparing {
                    self.analysis
                        .compare_rows
                        .push(super::analysis::CompareRow {
                            fusion,
                            parameters: self.analysis.pending_parameters,
                            summary: (*summary).clone(),
                        });
                    // More methods follow; the comparison's end picks the model.
                    self.training.running = true;
                }
                if let Some(run) = self.training.runs.last_mut() {
                    run.summary = Some(*summary);
                }
                if self.analysis.comparing.is_none() {
                    self.after_model_change();
                }
            }
            Event::Evaluated { .. } => {}
            Event::Prediction {
                request_id,
                prediction,
            } => self.predict.on_prediction(request_id, *prediction),
            Event::Saved(dir) => {
                // The Model menu lists the new folder at once.
                self.folders = super::top_bar::FolderCache::default();
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
                if what == "the robustness run" || what == "explaining the dataset" {
                    self.analysis.robustness_running = false;
                    self.analysis.contributions_running = false;
                }
            }
            Event::Failed { context, message } => {
                if context == "Loading the model" {
                    self.startup_load = false;
                }
                self.on_failure(context, message);
            }
            Event::Decoded { request_id, input } => self.on_decoded(request_id, *input),
            Event::CompareStep {
                index,
                total,
                fusion,
            } => {
                self.analysis.comparing = Some((index, total, fusion));
                self.training.running = true;
                self.new_run(fusion);
            }
            Event::Compared {
                trained,
                best,
                card,
            } => {
                self.analysis.comparing = None;
                self.training.running = false;
                self.training.progress = None;
                self.status = match best {
                    Some(b) => format!(
                        "compared {} methods; the best, {}, is now the current model",
                        trained.len(),
                        b.name()
                    ),
                    None => "the comparison ended without a trained model".into(),
                };
                if let Some(card) = card {
                    self.settings.train.fusion = card.model.fusion;
                    self.model.card = Some(*card);
                    self.model.dir = None;
                    self.after_model_change();
                }
            }
            Event::Robustness {
                request_id,
                dataset,
                split,
                reports,
            } => {
                self.analysis.robustness_running = false;
                self.loading = None;
                if request_id == self.analysis.request_id {
                    self.analysis.robustness_result = Some(super::analysis::RobustnessResult {
                        dataset,
                        split,
                        reports,
                    });
                    self.status = "robustness measured".into();
                }
            }
            Event::Contributions {
                request_id,
                dataset,
                split,
                fusion,
                rows,
            } => {
                self.analysis.contributions_running = false;
                if request_id == self.analysis.request_id {
                    self.analysis.contributions = Some(super::analysis::ContributionResult {
                        dataset,
                        split,
                        fusion,
                        rows,
                    });
                    self.analysis.contribution_row = 0;
                }
            }
            Event::Exported { what, path } => self.exported(&what, Ok(path)),
            Event::Neighbours {
                request_id,
                space,
                sample,
                neighbours,
            } => {
                if request_id == self.projections.neighbours_id {
                    self.projections.neighbours = Some((space, sample, neighbours));
                }
            }
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
            "Comparing fusion methods" => {
                self.analysis.comparing = None;
                self.training.running = false;
                self.analysis.error = Some(message.clone());
            }
            "Measuring robustness" | "Explaining the dataset" => {
                self.analysis.robustness_running = false;
                self.analysis.contributions_running = false;
                self.loading = None;
                self.analysis.error = Some(message.clone());
            }
            c if c.starts_with("Comparing: ") => {
                // One method failed; the comparison goes on with the next.
                self.training.runs.pop();
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
