//! The desktop app. `logic` drains worker events and sends prediction requests; `ui` lays out the
//! top bar, the inputs panel, the main panels (predict, training, projections, dataset, analysis, learn) and the status bar; `save` persists settings.
//! All model work, decoding and projections run in the worker; this thread only draws.

mod actions;
pub mod analysis;
mod browser;
mod events;
mod exports;
mod frame_log;
mod inputs;
pub mod jobs;
pub mod learn;
pub mod lesson;
mod notifications;
pub mod panel;
mod predict;
pub mod projections;
mod top_bar;
mod training;
mod widgets;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

pub use browser::{Browser, Filter, Sort};
pub use inputs::{Inputs, MicStatus, source_for_path};
pub use jobs::{JobProgress, JobStats, Jobs, RunningJob};
pub use notifications::{Level, Notifications};
pub use predict::PredictView;
pub use projections::{ColourBy, Method, ProjectionView, TsneLayout};
pub use top_bar::{DatasetEditor, saved_models};
pub use training::{Curve, Run, TrainingView};

use crate::engine::TrainConfig;
use crate::model::checkpoint::ModelCard;
use crate::worker::{Event, JobId, Source, WorkerHandle};
use frame_log::FrameLog;

/// The main panels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Tab {
    /// Prediction for the current inputs.
    #[default]
    Predict,
    /// Training and its curves.
    Training,
    /// Embedding projections.
    Projections,
    /// The dataset browser.
    Dataset,
    /// Comparisons, robustness and modality contributions.
    Analysis,
    /// How each fusion method works, with diagrams and set-ups to try.
    Learn,
}

impl std::str::FromStr for Tab {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown panel '{s}'; choose predict, training, projections, dataset, analysis or learn"
                )
            })
    }
}

impl Tab {
    /// Every panel, in tab order.
    pub const ALL: [Self; 6] = [
        Self::Predict,
        Self::Training,
        Self::Projections,
        Self::Dataset,
        Self::Analysis,
        Self::Learn,
    ];
    fn name(self) -> &'static str {
        match self {
            Self::Predict => "Predict",
            Self::Training => "Training",
            Self::Projections => "Projections",
            Self::Dataset => "Dataset",
            Self::Analysis => "Analysis",
            Self::Learn => "Learn",
        }
    }
}

/// Settings kept between sessions (eframe persistence).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Dataset spec (`synthetic:…`, a folder or a CSV file).
    pub dataset: String,
    /// Training settings, including the fusion method.
    pub train: TrainConfig,
    /// Panel shown.
    pub tab: Tab,
    /// Model folder loaded at start.
    pub model: Option<PathBuf>,
    /// Name offered when saving a model.
    pub save_name: String,
    /// Folder of the last file opened.
    pub last_dir: Option<PathBuf>,
    /// Width of the inputs panel.
    pub inputs_width: f32,
    /// Where exports (CSV, TSV, JSON, PNG) are written.
    pub export_dir: PathBuf,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            dataset: "synthetic:redundant".into(),
            train: TrainConfig::default(),
            tab: Tab::Predict,
            model: Some(model_dir().join("attention")),
            save_name: "my-model".into(),
            last_dir: None,
            inputs_width: 330.0,
            export_dir: PathBuf::from("exports"),
        }
    }
}

/// What the app was started with (command-line overrides of the persisted settings).
#[derive(Clone, Debug, Default)]
pub struct StartOptions {
    /// Dataset to open instead of the last one.
    pub dataset: Option<String>,
    /// Model folder to load instead of the last one.
    pub model: Option<PathBuf>,
    /// Ignore persisted settings (tests, screenshots).
    pub fresh: bool,
    /// When the process started (to log the time to first frame).
    pub started: Option<Instant>,
    /// Panel to open on.
    pub tab: Option<Tab>,
    /// Example (folder name under `assets/examples`) to load as the inputs.
    pub example: Option<String>,
    /// Start training at once.
    pub train: bool,
    /// A lesson file to open.
    pub lesson: Option<PathBuf>,
}

/// The model the app is using.
#[derive(Clone, Debug, Default)]
pub struct ModelStatus {
    /// Its description (None: no model yet).
    pub card: Option<ModelCard>,
    /// Its folder when saved or loaded.
    pub dir: Option<PathBuf>,
    /// Device label.
    pub device: String,
}

/// Why a decode was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A file for one input slot.
    Input,
    /// A whole sample or example (replaces all inputs).
    Sample,
    /// Play a dataset sample's sound.
    Play,
}

/// The eframe application.
pub struct FusionApp {
    /// Persisted settings.
    pub settings: Settings,
    /// Current inputs.
    pub inputs: Inputs,
    /// Prediction view.
    pub predict: PredictView,
    /// Training view.
    pub training: TrainingView,
    /// Projections view.
    pub projections: ProjectionView,
    /// Dataset browser.
    pub browser: Browser,
    /// The model in use.
    pub model: ModelStatus,
    /// Toasts.
    pub notifications: Notifications,
    /// Status bar text.
    pub status: String,
    /// Every job that runs, with its progress; the one source of "busy".
    pub jobs: Jobs,
    /// Dataset menu state.
    pub dataset_editor: DatasetEditor,
    /// Analysis panel.
    pub analysis: analysis::AnalysisView,
    /// Exports: the last file written, a plot PNG in flight.
    pub exports: exports::Exports,
    /// The lesson open, if any.
    pub lesson: Option<lesson::Lesson>,
    /// Learn panel.
    pub learn: learn::LearnView,
    /// Where models are listed and saved (`models/`).
    pub models_dir: PathBuf,
    folders: top_bar::FolderCache,
    /// Use the system's file dialogs (tests turn them off: they would block a headless run).
    pub native_dialogs: bool,
    /// What panels asked of the app this frame.
    requests: Vec<panel::Request>,
    worker: Option<WorkerHandle>,
    decodes: Vec<(JobId, Purpose)>,
    /// The model load sent at start; its `Loaded` needs no new exploration (the one queued
    /// after it already uses the model).
    startup_load: Option<JobId>,
    /// The worker's current model changed; the views catch up when no training is left.
    model_changed: bool,
    frame_log: Option<FrameLog>,
    started: Option<Instant>,
    first_frame_logged: bool,
}

/// Where the shipped assets are: `assets/` in the working folder, else the source tree's.
pub fn asset_dir() -> PathBuf {
    let local = PathBuf::from("assets");
    if local.is_dir() {
        local
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("assets")
    }
}

/// Where models are saved: `models/` in the working folder, else the source tree's.
pub fn model_dir() -> PathBuf {
    let local = PathBuf::from("models");
    if local.is_dir() {
        local
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
    }
}

impl FusionApp {
    /// Build the app: restore settings, start the worker, load the model and the dataset.
    pub fn new(cc: &eframe::CreationContext<'_>, options: StartOptions) -> Self {
        let mut settings: Settings = if options.fresh {
            Settings::default()
        } else {
            cc.storage
                .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
                .unwrap_or_default()
        };
        if let Some(d) = options.dataset {
            settings.dataset = d;
        }
        if let Some(m) = options.model {
            settings.model = Some(m);
        }
        let ctx = cc.egui_ctx.clone();
        let wake = {
            let ctx = ctx.clone();
            move || ctx.request_repaint()
        };
        let mut notifications = Notifications::default();
        let worker = match WorkerHandle::spawn(Arc::new(wake.clone())) {
            Ok(w) => Some(w),
            Err(err) => {
                notifications.error("Starting the worker thread", err.to_string());
                None
            }
        };
        let mut inputs = Inputs::default();
        inputs.probe_microphone(wake);
        let frame_log = std::env::var_os("FUSIONLAB_FRAME_LOG").map(|p| FrameLog {
            path: PathBuf::from(p),
            frames: Vec::new(),
            last: None,
            logic_start: None,
        });
        let mut app = Self {
            dataset_editor: DatasetEditor::from_spec(&settings.dataset),
            settings,
            inputs,
            predict: PredictView::default(),
            training: TrainingView::default(),
            projections: ProjectionView::default(),
            browser: Browser::default(),
            model: ModelStatus {
                device: "cpu".into(),
                ..ModelStatus::default()
            },
            notifications,
            status: "starting…".into(),
            jobs: Jobs::default(),
            analysis: analysis::AnalysisView::default(),
            exports: exports::Exports::default(),
            lesson: None,
            learn: learn::LearnView::default(),
            native_dialogs: true,
            models_dir: model_dir(),
            folders: top_bar::FolderCache::default(),
            requests: Vec::new(),
            worker,
            decodes: Vec::new(),
            startup_load: None,
            model_changed: false,
            frame_log,
            started: options.started,
            first_frame_logged: false,
        };
        if let Some(dir) = app.settings.model.clone() {
            if dir.join(crate::model::checkpoint::CONFIG).is_file() {
                app.startup_load = Some(app.load_model(dir));
            } else {
                app.status = format!("no model at {}; train one", dir.display());
            }
        }
        app.explore();
        if let Some(tab) = options.tab {
            app.settings.tab = tab;
        }
        if let Some(name) = options.example {
            let dir = asset_dir().join("examples").join(&name);
            if dir.is_dir() {
                app.decode(Source::Example(dir), Purpose::Sample);
            } else {
                let known: Vec<String> = inputs::examples()
                    .iter()
                    .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect();
                app.notifications.error(
                    "Opening the example",
                    format!(
                        "there is no example '{name}'; examples: {}",
                        known.join(", ")
                    ),
                );
            }
        }
        if options.train {
            app.start_training();
        }
        if let Some(path) = &options.lesson {
            app.open_lesson(path);
        }
        app.flush();
        app
    }

    /// Stop every job that runs (training, comparison, robustness, loading, t-SNE…).
    pub fn cancel_job(&mut self) {
        let ids: Vec<JobId> = self.jobs.iter().map(|j| j.id).collect();
        for id in ids {
            self.jobs.cancel(id);
        }
    }

    /// Is the worker thread running?
    pub fn has_worker(&self) -> bool {
        self.worker.is_some()
    }

    fn flush(&mut self) {
        if let Some(worker) = &self.worker {
            for cmd in self.jobs.take_commands() {
                worker.send(cmd);
            }
        } else {
            // Without a worker nothing would ever end these jobs.
            self.jobs.clear();
        }
    }

    /// Drain worker events (for tests that drive the app without a window).
    pub fn pump(&mut self, ctx: &egui::Context) {
        let events: Vec<Event> = self
            .worker
            .as_ref()
            .map(|w| w.drain().collect())
            .unwrap_or_default();
        for event in events {
            self.on_event(event);
        }
        self.inputs.poll(ctx);
        self.handle_dropped_files(ctx);
        self.request_prediction();
        self.flush();
    }

    fn status_bar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if let Some(job) = self.jobs.shown().cloned() {
                ui.spinner();
                match &job.progress {
                    Some(p) => {
                        ui.add(
                            egui::ProgressBar::new(job.fraction())
                                .desired_width(200.0)
                                .text(format!("{}: {}", p.what, job.progress_text())),
                        );
                    }
                    None => {
                        ui.label(format!("{}…", job.kind.context()));
                    }
                }
                let stop = if job.stopping {
                    "Stopping…"
                } else {
                    "Cancel"
                };
                if ui
                    .add_enabled(!job.stopping, egui::Button::new(stop).small())
                    .on_hover_text(format!("stop {}", job.kind.context().to_lowercase()))
                    .clicked()
                {
                    self.jobs.cancel(job.id);
                }
            }
            ui.label(&self.status);
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                ui.small(format!("device: {}", self.model.device));
                ui.separator();
                ui.small(match &self.inputs.mic {
                    MicStatus::Ready(n) => format!("microphone: {n}"),
                    MicStatus::Checking => "microphone: checking…".into(),
                    MicStatus::Unavailable(_) => "microphone: none".into(),
                });
            });
        });
    }

    fn log_frame_start(&mut self) {
        if let Some(log) = &mut self.frame_log {
            log.logic_start = Some(Instant::now());
        }
    }

    fn log_frame_end(&mut self) {
        if !self.first_frame_logged {
            self.first_frame_logged = true;
            if let Some(t) = self.started {
                log::info!(
                    "first frame after {:.0} ms",
                    t.elapsed().as_secs_f64() * 1000.0
                );
                if self.frame_log.is_some() {
                    eprintln!(
                        "first frame after {:.1} ms",
                        t.elapsed().as_secs_f64() * 1000.0
                    );
                }
            }
        }
        let training = self.jobs.is_training();
        if let Some(log) = &mut self.frame_log {
            let now = Instant::now();
            let cpu = log
                .logic_start
                .map_or(0.0, |s| (now - s).as_secs_f32() * 1000.0);
            let interval = log.last.map_or(0.0, |l| (now - l).as_secs_f32() * 1000.0);
            log.last = Some(now);
            log.frames.push((cpu, interval, training));
            if log.frames.len().is_multiple_of(300) {
                log.write();
            }
        }
    }
}

impl Drop for FusionApp {
    fn drop(&mut self) {
        if let Some(log) = &self.frame_log {
            log.write();
        }
    }
}

impl eframe::App for FusionApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.log_frame_start();
        self.pump(ctx);
        self.take_screenshots();
        if self.jobs.busy() || self.exports.busy() {
            // Keep the progress bar and the spinner moving.
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
        if self.frame_log.is_some() {
            ctx.request_repaint(); // measure continuously
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::Panel::top("top_bar").show(ui, |ui| self.top_bar_ui(ui));
        egui::Panel::bottom("status_bar").show(ui, |ui| self.status_bar_ui(ui));
        let width = self.settings.inputs_width;
        let spectrogram = self.predict.spectrogram_texture(ui.ctx());
        let inputs = egui::Panel::left("inputs_panel")
            .resizable(true)
            .default_size(width)
            .min_size(240.0)
            .max_size(560.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .id_salt("inputs_scroll")
                    .show(ui, |ui| {
                        let ctx = &mut panel::panel_ctx!(self);
                        self.inputs.ui(ui, ctx, spectrogram.as_ref());
                    });
            });
        self.settings.inputs_width = inputs.response.rect.width();
        egui::CentralPanel::default().show(ui, |ui| {
            self.lesson_banner_ui(ui);
            let tabs = self.visible_tabs();
            if !tabs.contains(&self.settings.tab) {
                self.settings.tab = tabs[0];
            }
            ui.horizontal(|ui| {
                for tab in tabs {
                    ui.selectable_value(&mut self.settings.tab, tab, tab.name());
                }
            });
            ui.separator();
            match self.settings.tab {
                Tab::Predict => self.predict_ui(ui),
                Tab::Training => self.training_ui(ui),
                Tab::Projections => self.projections_ui(ui),
                Tab::Dataset => self.dataset_ui(ui),
                Tab::Analysis => self.analysis.ui(ui, &mut panel::panel_ctx!(self)),
                Tab::Learn => {
                    if let Some(setup) = self.learn.ui(ui) {
                        self.try_setup(setup);
                    }
                }
            }
        });
        self.notifications.show(ui.ctx());
        self.handle_requests();
        self.request_prediction();
        self.flush();
        self.log_frame_end();
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.settings);
    }
}
