//! The training panel: hyper-parameters, live curves of every run (kept and overlaid so methods
//! can be compared), the confusion matrix and the per-class scores. This file holds the runs and
//! the events of training jobs, the settings and the run list; `plots` draws the rest.

mod curve;
mod encoders;
mod plots;

pub use curve::Curve;

use egui::{Color32, RichText};

use super::panel::PanelCtx;
use super::widgets::{class_colour, clock};
use crate::engine::{EpochReport, Progress, StopReason};
use crate::model::FusionKind;
use crate::model::device::DeviceChoice;
use crate::worker::{JobId, Outcome, TrainingSummary, Update};

/// One training run, kept for comparison.
#[derive(Clone, Debug)]
pub struct Run {
    /// The job that trains (trained) it; a comparison's runs share its job.
    pub job: Option<JobId>,
    /// "attention #2 · synthetic:redundant".
    pub name: String,
    /// Per-epoch reports so far.
    pub history: Vec<EpochReport>,
    /// Drawn in the plot?
    pub visible: bool,
    /// How it ended (when it has).
    pub summary: Option<TrainingSummary>,
    /// Why it failed, when it did (e.g. it diverged after some epochs).
    pub failed: Option<String>,
}

impl Run {
    /// Has it ended, one way or another?
    pub fn ended(&self) -> bool {
        self.summary.is_some() || self.failed.is_some()
    }
}

/// Live state of training (whether a run is going on is the job table's to say).
#[derive(Default)]
pub struct TrainingView {
    /// Where the current run is.
    pub progress: Option<Progress>,
    /// Every run of this session, oldest first.
    pub runs: Vec<Run>,
    /// Curves shown.
    pub curve: Curve,
    /// Last training error, shown inline.
    pub error: Option<String>,
    /// Train / val / test sizes and parameter count of the current run.
    pub sizes: Option<([usize; 3], usize)>,
    /// The per-modality encoder menus.
    pub encoders: encoders::EncodersUi,
}

impl TrainingView {
    /// Add a run for `fusion` trained by `job` ("attention #2").
    pub fn new_run(&mut self, fusion: FusionKind, job: Option<JobId>) {
        self.progress = None;
        let n = self
            .runs
            .iter()
            .filter(|r| r.name.starts_with(fusion.name()))
            .count();
        self.runs.push(Run {
            job,
            name: format!("{} #{}", fusion.name(), n + 1),
            history: Vec::new(),
            visible: true,
            summary: None,
            failed: None,
        });
    }

    /// The newest run of `job`.
    fn run_of(&mut self, job: JobId) -> Option<&mut Run> {
        self.runs.iter_mut().rev().find(|r| r.job == Some(job))
    }

    /// The newest run of `job` ended without a summary: dropped when it never got an epoch
    /// (stopped or failed early), else kept with why it failed.
    fn end_run_without_summary(&mut self, job: JobId, failure: Option<&str>) {
        let Some(at) = self.runs.iter().rposition(|r| r.job == Some(job)) else {
            return;
        };
        let run = &mut self.runs[at];
        if run.summary.is_some() {
            return;
        }
        if run.history.is_empty() {
            self.runs.remove(at);
        } else {
            run.failed = Some(failure.unwrap_or("stopped").to_owned());
        }
    }

    /// An update of a training or comparison job.
    pub fn on_update(&mut self, job: JobId, update: &Update) {
        match update {
            Update::TrainingStarted {
                sizes, parameters, ..
            } => self.sizes = Some((*sizes, *parameters)),
            Update::Progress(p) => self.progress = Some(p.clone()),
            Update::Epoch(report) => {
                if let Some(run) = self.run_of(job) {
                    run.history.push((**report).clone());
                }
            }
            Update::CompareStep { fusion, .. } => self.new_run(*fusion, Some(job)),
            Update::MethodTrained(summary) => {
                self.progress = None;
                if let Some(run) = self.run_of(job) {
                    run.summary = Some((**summary).clone());
                }
            }
            Update::MethodFailed { message, .. } => {
                self.progress = None;
                self.end_run_without_summary(job, Some(message));
            }
            _ => {}
        }
    }

    /// The end of a training or comparison job.
    pub fn on_end(&mut self, job: JobId, outcome: &Outcome) {
        self.progress = None;
        match outcome {
            Outcome::Trained(summary) => {
                if let Some(run) = self.run_of(job) {
                    run.summary = Some((**summary).clone());
                }
            }
            Outcome::Failed { message } => {
                self.error = Some(message.clone());
                self.end_run_without_summary(job, Some(message));
            }
            _ => self.end_run_without_summary(job, None),
        }
    }

    /// The latest run that finished.
    pub fn last_finished(&self) -> Option<&TrainingSummary> {
        self.runs.iter().rev().find_map(|r| r.summary.as_ref())
    }

    /// "epoch 3/15 · step 12/40 · 2 min left".
    pub fn progress_text(&self) -> String {
        progress_text(self.progress.as_ref())
    }

    /// Fraction done over the whole run.
    pub fn fraction(&self) -> f32 {
        self.progress.as_ref().map_or(0.0, |p| {
            let steps = (p.epochs * p.steps).max(1) as f32;
            ((p.epoch.saturating_sub(1) * p.steps + p.step) as f32 / steps).clamp(0.0, 1.0)
        })
    }
}

/// "epoch 3/15 · step 12/40 · … · 2 min left", or "starting…" before the first step.
pub fn progress_text(progress: Option<&Progress>) -> String {
    match progress {
        Some(p) => format!(
            "epoch {}/{} · step {}/{} · loss {:.3} · {:.0} samples/s · {} left",
            p.epoch,
            p.epochs,
            p.step,
            p.steps,
            p.loss,
            p.samples_per_second,
            clock(p.eta_seconds)
        ),
        None => "starting…".into(),
    }
}

/// Text for why a run stopped.
pub fn stop_text(stop: &StopReason) -> String {
    match stop {
        StopReason::Completed => "completed".into(),
        StopReason::EarlyStopped => "stopped early (validation loss stopped improving)".into(),
        StopReason::Cancelled => "stopped by you".into(),
        StopReason::NonFinite { epoch, step, what } => {
            format!("stopped: {what} at epoch {epoch}, step {step}")
        }
    }
}

fn run_colour(i: usize) -> Color32 {
    class_colour(i)
}

impl TrainingView {
    /// Draw the panel.
    pub fn ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>) {
        egui::ScrollArea::vertical()
            .id_salt("training_scroll")
            .show(ui, |ui| {
                ui.columns(2, |cols| {
                    self.hyper_parameters_ui(&mut cols[0], ctx);
                    self.encoders_ui(&mut cols[1], ctx);
                    self.runs_ui(&mut cols[1], ctx);
                });
                ui.separator();
                self.curves_ui(ui, ctx);
                ui.separator();
                self.evaluation_ui(ui, ctx);
            });
    }

    fn hyper_parameters_ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>) {
        ui.heading("Hyper-parameters");
        let running = ctx.jobs.is_training();
        let cfg = &mut ctx.settings.train;
        ui.add_enabled_ui(!running, |ui| {
            egui::Grid::new("hyper").num_columns(2).show(ui, |ui| {
                let row = |ui: &mut egui::Ui, name: &str, hint: &str, add: &mut dyn FnMut(&mut egui::Ui) -> egui::Response| {
                    let label = ui.label(name).on_hover_text(hint);
                    add(ui).labelled_by(label.id).on_hover_text(hint);
                    ui.end_row();
                };
                row(ui, "Epochs", "Passes over the training data.", &mut |ui| {
                    ui.add(egui::DragValue::new(&mut cfg.epochs).range(1..=500))
                });
                row(ui, "Batch size", "Samples per step.", &mut |ui| {
                    ui.add(egui::DragValue::new(&mut cfg.batch_size).range(1..=1024))
                });
                row(ui, "Learning rate", "AdamW step size (peak, after warm-up).", &mut |ui| {
                    ui.add(
                        egui::DragValue::new(&mut cfg.learning_rate)
                            .range(1e-6..=1000.0)
                            .speed(1e-4)
                            .max_decimals(5),
                    )
                });
                row(ui, "Weight decay", "AdamW decoupled weight decay.", &mut |ui| {
                    ui.add(egui::DragValue::new(&mut cfg.weight_decay).range(0.0..=1.0).speed(1e-3))
                });
                row(ui, "Patience", "Stop after this many epochs without a better validation loss (0 = never).", &mut |ui| {
                    ui.add(egui::DragValue::new(&mut cfg.patience).range(0..=100))
                });
                row(ui, "Modality dropout", "Chance of hiding each modality of a training sample, so the model learns to cope with one alone.", &mut |ui| {
                    ui.add(egui::Slider::new(&mut cfg.modality_dropout, 0.0..=0.9))
                });
                row(ui, "Seed", "Same seed, same settings give the same model.", &mut |ui| {
                    ui.add(egui::DragValue::new(&mut cfg.seed))
                });
                row(ui, "Embedding size", "Width of each modality's embedding.", &mut |ui| {
                    ui.add(egui::DragValue::new(&mut cfg.embed_dim).range(8..=512))
                });
                row(ui, "Device", "auto uses the GPU when fusionlab was built with one.", &mut |ui| {
                    egui::ComboBox::from_id_salt("device")
                        .selected_text(device_name(cfg.device))
                        .show_ui(ui, |ui| {
                            for d in [DeviceChoice::Auto, DeviceChoice::Cpu, DeviceChoice::Cuda, DeviceChoice::Metal] {
                                ui.selectable_value(&mut cfg.device, d, device_name(d));
                            }
                        })
                        .response
                });
            });
            if ui.button("Reset to defaults").clicked() {
                let fusion = cfg.fusion;
                *cfg = crate::engine::TrainConfig::default();
                cfg.fusion = fusion;
            }
        });
        if let Some(err) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, format!("Error: {err}"));
        }
    }

    fn encoders_ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>) {
        ui.heading("Encoders");
        let running = ctx.jobs.is_training();
        let cfg = &mut ctx.settings.train;
        ui.add_enabled_ui(!running, |ui| {
            egui::Grid::new("encoders").num_columns(2).show(ui, |ui| {
                self.encoders.ui(ui, cfg);
            });
        });
        ui.add_space(6.0);
    }

    fn runs_ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>) {
        ui.heading("Runs");
        if self.runs.is_empty() {
            ui.label("Runs of this session appear here; tick them to overlay their curves.");
        }
        let mut clear = false;
        let mut export = None;
        for (i, run) in self.runs.iter_mut().enumerate() {
            ui.horizontal(|ui| {
                if !run.history.is_empty()
                    && ui
                        .small_button("CSV")
                        .on_hover_text(format!(
                            "Export the metrics of {} per epoch as CSV",
                            run.name
                        ))
                        .clicked()
                {
                    export = Some(i);
                }
                ui.checkbox(
                    &mut run.visible,
                    RichText::new(&run.name).color(run_colour(i)),
                );
                match (&run.summary, &run.failed) {
                    (_, Some(why)) => {
                        ui.small("failed").on_hover_text(why);
                    }
                    (Some(s), None) => {
                        // One line, cut to the panel's width; the whole text on hover.
                        let text = format!("{} · {}", plots::accuracy_text(s), stop_text(&s.stop));
                        ui.add(egui::Label::new(RichText::new(&text).small()).truncate())
                            .on_hover_text(text);
                    }
                    (None, None) => {
                        ui.small("running…");
                    }
                }
            });
        }
        if !self.runs.is_empty() && !ctx.jobs.is_training() && ui.button("Clear runs").clicked() {
            clear = true;
        }
        if clear {
            self.runs.clear();
        }
        if let Some(i) = export {
            self.export_metrics(i, ctx);
        }
        if let Some(([tr, va, te], params)) = self.sizes {
            ui.small(format!(
                "last run: {tr} train / {va} val / {te} test samples · {params} parameters · {}",
                ctx.model.device
            ));
        }
    }

    /// Export run `run`'s metrics per epoch as CSV.
    fn export_metrics(&self, run: usize, ctx: &mut PanelCtx<'_>) {
        let Some(r) = self.runs.get(run) else {
            return;
        };
        let stem = format!("metrics-{}", r.name.replace([' ', '#'], ""));
        ctx.export("training metrics", &stem, "csv", |p| {
            crate::export::metrics_csv(p, &r.history)
        });
    }
}

fn device_name(d: DeviceChoice) -> &'static str {
    match d {
        DeviceChoice::Auto => "auto",
        DeviceChoice::Cpu => "cpu",
        DeviceChoice::Cuda => "cuda",
        DeviceChoice::Metal => "metal",
    }
}
