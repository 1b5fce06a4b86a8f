//! The training panel: hyper-parameters, live curves of every run (kept and overlaid so methods
//! can be compared), the confusion matrix and the per-class scores.

use egui::{Color32, RichText};
use egui_plot::{Legend, Line, LineStyle, Plot, PlotPoints};

use super::widgets::{MODALITY_COLOURS, class_colour, clock};
use super::{FusionApp, Tab};
use crate::data::Modality;
use crate::engine::{EpochReport, Metrics, Progress, StopReason};
use crate::model::device::DeviceChoice;
use crate::model::{FusionKind, TextEncoderKind};
use crate::worker::{JobId, Outcome, TrainingSummary, Update};

/// Which curves to plot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Curve {
    /// Train and validation loss.
    #[default]
    Loss,
    /// Train and validation accuracy.
    Accuracy,
    /// Validation macro-F1.
    MacroF1,
    /// Validation accuracy with one modality only.
    SingleModality,
    /// Mean modality weights on validation.
    Weights,
}

impl Curve {
    const ALL: [Self; 5] = [
        Self::Loss,
        Self::Accuracy,
        Self::MacroF1,
        Self::SingleModality,
        Self::Weights,
    ];
    fn name(self) -> &'static str {
        match self {
            Self::Loss => "Loss",
            Self::Accuracy => "Accuracy",
            Self::MacroF1 => "Macro-F1",
            Self::SingleModality => "One-modality accuracy",
            Self::Weights => "Modality weights",
        }
    }
}

/// Reads one number of an epoch report (`None` where it does not apply).
type EpochValue = Box<dyn Fn(&EpochReport) -> Option<f64>>;

/// One line of a curve: its name, which epoch value it plots, and how it is styled.
struct Series {
    name: String,
    value: EpochValue,
    /// Coloured by this modality (otherwise by run).
    modality: Option<usize>,
    /// Training-set values (drawn dashed).
    train: bool,
}

impl Curve {
    /// The lines this curve draws for one run.
    fn series(self) -> Vec<Series> {
        let run = |name: &str, train: bool, value: fn(&EpochReport) -> f32| Series {
            name: name.to_owned(),
            value: Box::new(move |e| Some(f64::from(value(e)))),
            modality: None,
            train,
        };
        let per_modality = |suffix: &'static str, value: fn(&EpochReport, usize) -> Option<f32>| {
            Modality::ALL
                .iter()
                .map(|m| {
                    let k = m.index();
                    Series {
                        name: format!("{}{suffix}", m.name()),
                        value: Box::new(move |e| value(e, k).map(f64::from)),
                        modality: Some(k),
                        train: false,
                    }
                })
                .collect()
        };
        match self {
            Self::Loss => vec![
                run("train", true, |e| e.train_loss),
                run("val", false, |e| e.val.loss),
            ],
            Self::Accuracy => vec![
                run("train", true, |e| e.train_accuracy),
                run("val", false, |e| e.val.accuracy),
            ],
            Self::MacroF1 => vec![run("val", false, |e| e.val.macro_f1)],
            Self::SingleModality => per_modality(" only", |e, k| e.val.modality_only[k]),
            Self::Weights => per_modality("", |e, k| Some(e.val.mean_weights[k])),
        }
    }
}

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

impl FusionApp {
    pub(crate) fn training_ui(&mut self, ui: &mut egui::Ui) {
        egui::ScrollArea::vertical()
            .id_salt("training_scroll")
            .show(ui, |ui| {
                ui.columns(2, |cols| {
                    self.hyper_parameters_ui(&mut cols[0]);
                    self.runs_ui(&mut cols[1]);
                });
                ui.separator();
                self.curves_ui(ui);
                ui.separator();
                self.evaluation_ui(ui);
            });
    }

    fn hyper_parameters_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("Hyper-parameters");
        let running = self.jobs.is_training();
        let cfg = &mut self.settings.train;
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
                row(ui, "Text encoder", "GRU or a one-layer transformer.", &mut |ui| {
                    egui::ComboBox::from_id_salt("text_encoder")
                        .selected_text(cfg.text_encoder.name())
                        .show_ui(ui, |ui| {
                            for k in [TextEncoderKind::Gru, TextEncoderKind::Transformer] {
                                ui.selectable_value(&mut cfg.text_encoder, k, k.name());
                            }
                        })
                        .response
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
        if let Some(err) = &self.training.error {
            ui.colored_label(ui.visuals().error_fg_color, format!("Error: {err}"));
        }
    }

    fn runs_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("Runs");
        if self.training.runs.is_empty() {
            ui.label("Runs of this session appear here; tick them to overlay their curves.");
        }
        let mut clear = false;
        let mut export = None;
        for (i, run) in self.training.runs.iter_mut().enumerate() {
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
                        let acc = s
                            .test
                            .as_ref()
                            .or(s.val.as_ref())
                            .map_or(0.0, |e| e.metrics.accuracy);
                        ui.small(format!("acc {acc:.3} · {}", stop_text(&s.stop)));
                    }
                    (None, None) => {
                        ui.small("running…");
                    }
                }
            });
        }
        if !self.training.runs.is_empty()
            && !self.jobs.is_training()
            && ui.button("Clear runs").clicked()
        {
            clear = true;
        }
        if clear {
            self.training.runs.clear();
        }
        if let Some(i) = export {
            self.export_metrics(i);
        }
        if let Some(([tr, va, te], params)) = self.training.sizes {
            ui.small(format!(
                "last run: {tr} train / {va} val / {te} test samples · {params} parameters · {}",
                self.model.device
            ));
        }
    }

    fn curves_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.strong("Curves");
            for c in Curve::ALL {
                ui.selectable_value(&mut self.training.curve, c, c.name());
            }
        });
        let curve = self.training.curve;
        let runs = &self.training.runs;
        let plot = Plot::new("training_curves")
            .legend(Legend::default())
            .height(260.0)
            .x_axis_label("epoch")
            .include_y(0.0)
            .show(ui, |plot| {
                for (i, run) in runs.iter().enumerate().filter(|(_, r)| r.visible) {
                    let newest = i + 1 == runs.len();
                    for series in curve.series() {
                        // Per-modality curves are coloured by modality, the others by run.
                        let (colour, dashed) = match series.modality {
                            Some(m) => (MODALITY_COLOURS[m], !newest),
                            None => (run_colour(i), series.train),
                        };
                        let points: Vec<[f64; 2]> = run
                            .history
                            .iter()
                            .filter_map(|e| (series.value)(e).map(|y| [e.epoch as f64, y]))
                            .collect();
                        let mut line = Line::new(
                            format!("{} {}", run.name, series.name),
                            PlotPoints::from(points),
                        )
                        .color(colour)
                        .width(2.0);
                        if dashed {
                            line = line.style(LineStyle::dashed_dense());
                        }
                        plot.line(line);
                    }
                }
            });
        if !runs.is_empty() {
            self.exports
                .png_button(ui, "Save curves PNG", plot.response.rect, "training-curves");
        }
        if matches!(curve, Curve::SingleModality | Curve::Weights) {
            ui.small("Colours are the modalities; the newest run is solid, earlier runs dashed.");
        } else {
            ui.small("Colours are the runs; dashed = training set, solid = validation set.");
        }
    }

    fn evaluation_ui(&mut self, ui: &mut egui::Ui) {
        let Some(summary) = self.training.last_finished().cloned() else {
            ui.label("The confusion matrix and per-class scores appear when a run finishes.");
            return;
        };
        let (which, eval) = match (&summary.test, &summary.val) {
            (Some(t), _) => ("test", t),
            (None, Some(v)) => ("validation", v),
            _ => return,
        };
        let classes = self
            .browser
            .exploration
            .as_ref()
            .map(|e| e.classes.clone())
            .filter(|c| c.len() == eval.metrics.confusion.len())
            .unwrap_or_else(|| summary.card.classes.clone());
        ui.heading(format!(
            "Last run on the {which} set: accuracy {:.3} · macro-F1 {:.3}",
            eval.metrics.accuracy, eval.metrics.macro_f1
        ));
        ui.columns(2, |cols| {
            if let Some((t, p)) = confusion_ui(&mut cols[0], &eval.metrics, &classes) {
                self.browser.filter.pair = Some((t, p));
                self.browser.filter.split = Some(match which {
                    "test" => crate::data::Split::Test,
                    _ => crate::data::Split::Val,
                });
                self.browser.page = 0;
                self.settings.tab = Tab::Dataset;
            }
            per_class_ui(&mut cols[1], &eval.metrics, &classes);
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

/// The confusion matrix as heat-mapped buttons; returns the clicked cell `(true, predicted)`.
fn confusion_ui(ui: &mut egui::Ui, m: &Metrics, classes: &[String]) -> Option<(usize, usize)> {
    ui.strong("Confusion matrix (rows: true class, columns: predicted) — click a cell to see those samples");
    let max = m
        .confusion
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f32;
    let mut clicked = None;
    egui::ScrollArea::horizontal()
        .id_salt("confusion_scroll")
        .show(ui, |ui| {
            egui::Grid::new("confusion")
                .spacing([2.0, 2.0])
                .show(ui, |ui| {
                    ui.label("");
                    for c in classes {
                        ui.small(short(c));
                    }
                    ui.end_row();
                    for (t, row) in m.confusion.iter().enumerate() {
                        ui.small(short(classes.get(t).map_or("?", String::as_str)));
                        for (p, &count) in row.iter().enumerate() {
                            let v = count as f32 / max;
                            let base = if t == p {
                                Color32::from_rgb(40, 140, 80)
                            } else {
                                Color32::from_rgb(200, 60, 50)
                            };
                            let fill = if count == 0 {
                                ui.visuals().extreme_bg_color
                            } else {
                                base.gamma_multiply(0.25 + 0.75 * v)
                            };
                            let button = egui::Button::new(
                                RichText::new(count.to_string()).color(Color32::WHITE),
                            )
                            .fill(fill)
                            .min_size(egui::vec2(34.0, 22.0));
                            let name = format!(
                                "{} predicted as {}: {count}",
                                classes.get(t).map_or("?", String::as_str),
                                classes.get(p).map_or("?", String::as_str)
                            );
                            let response = ui.add(button);
                            response.widget_info(|| {
                                egui::WidgetInfo::labeled(egui::Role::Button, true, &name)
                            });
                            if response.on_hover_text(&name).clicked() {
                                clicked = Some((t, p));
                            }
                        }
                        ui.end_row();
                    }
                });
        });
    clicked
}

fn short(name: &str) -> String {
    if name.chars().count() > 10 {
        let s: String = name.chars().take(9).collect();
        format!("{s}…")
    } else {
        name.to_owned()
    }
}

fn per_class_ui(ui: &mut egui::Ui, m: &Metrics, classes: &[String]) {
    ui.strong("Per class");
    egui::Grid::new("per_class").striped(true).show(ui, |ui| {
        for h in ["class", "precision", "recall", "F1", "samples"] {
            ui.strong(h);
        }
        ui.end_row();
        for (c, s) in m.per_class.iter().enumerate() {
            ui.label(
                RichText::new(classes.get(c).map_or("?", String::as_str)).color(class_colour(c)),
            );
            ui.label(format!("{:.3}", s.precision));
            ui.label(format!("{:.3}", s.recall));
            ui.label(format!("{:.3}", s.f1));
            ui.label(s.support.to_string());
            ui.end_row();
        }
    });
    let only: Vec<String> = Modality::ALL
        .iter()
        .filter_map(|mo| m.modality_only[mo.index()].map(|a| format!("{} only {a:.3}", mo.name())))
        .collect();
    if !only.is_empty() {
        ui.small(format!("With a single modality: {}", only.join(" · ")));
    }
    let w = m.mean_weights;
    ui.small(format!(
        "Mean reliance: image {:.0}% · text {:.0}% · audio {:.0}%",
        w[0] * 100.0,
        w[1] * 100.0,
        w[2] * 100.0
    ));
}

impl FusionApp {
    /// A training run's metrics per epoch as CSV.
    pub fn export_metrics(&mut self, run: usize) {
        let Some(r) = self.training.runs.get(run) else {
            return;
        };
        let stem = format!("metrics-{}", r.name.replace([' ', '#'], ""));
        let history = r.history.clone();
        let result = self
            .export_path(&stem, "csv")
            .and_then(|p| crate::export::metrics_csv(&p, &history).map(|()| p));
        self.exported("training metrics", result);
    }
}
