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
mod settings;
mod status_bar;
pub mod teach;
mod top_bar;
mod training;
mod widgets;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

pub use browser::{Browser, Filter, Sort};
pub use inputs::{Inputs, MicStatus, source_for_path};
pub use jobs::{JobProgress, JobStats, Jobs, RunningJob};
pub use notifications::{Level, Notifications};
pub use predict::PredictView;
pub use projections::{ColourBy, Method, ProjectionView, TsneLayout};
pub use settings::{ModelStatus, Purpose, Settings, StartOptions, Tab, asset_dir, model_dir};
pub use top_bar::{DatasetEditor, saved_models};
pub use training::{Curve, Run, TrainingView};

use crate::worker::{Event, JobId, Source, WorkerHandle};
use frame_log::FrameLog;

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
    /// Teach panel (a project of one's own).
    pub teach: teach::TeachView,
    /// Show the first-launch hint (what to try next) above the panels.
    pub first_launch_hint: bool,
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
    /// Jobs that changed the worker's current model; the views catch up when each ends.
    model_changed: Vec<JobId>,
    frame_log: Option<FrameLog>,
    started: Option<Instant>,
    first_frame_logged: bool,
}

impl FusionApp {
    /// Build the app: restore settings, start the worker, load the model and the dataset.
    pub fn new(cc: &eframe::CreationContext<'_>, options: StartOptions) -> Self {
        let saved: Option<Settings> = if options.fresh {
            None
        } else {
            cc.storage
                .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
        };
        let first_launch = saved.is_none() && options.is_first_launch();
        let mut settings = saved.unwrap_or_default();
        // A project opened by name is the dataset too, unless another one is named.
        let project_dataset = options.project.as_ref().map(|p| p.display().to_string());
        if let Some(d) = options.dataset.or(project_dataset) {
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
            teach: teach::TeachView::default(),
            first_launch_hint: false,
            native_dialogs: true,
            models_dir: model_dir(),
            folders: top_bar::FolderCache::default(),
            requests: Vec::new(),
            worker,
            decodes: Vec::new(),
            startup_load: None,
            model_changed: Vec::new(),
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
        // The first launch opens on an example with a hint of what to try next.
        let example = options.example.or_else(|| {
            first_launch
                .then(|| first_example(&app.settings.dataset))
                .flatten()
        });
        app.first_launch_hint = first_launch && example.is_some();
        if let Some(name) = example {
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
        if let Some(dir) = &options.project {
            // Asked for by name: a folder that is not a project gets its error in the panel.
            app.teach.open(&mut app.jobs, dir);
            if options.tab.is_none() {
                app.settings.tab = Tab::Teach;
            }
        } else if let Some(dir) = app.settings.project.clone()
            && crate::data::project::Project::is_project(&dir)
        {
            app.teach.open(&mut app.jobs, &dir);
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

    /// The first-launch hint: what to try next, with the method and dataset of the settings.
    pub fn first_launch_text(&self) -> String {
        let fusion = self.settings.train.fusion.name();
        format!(
            "Next: press Train {fusion} in the top bar to train {fusion} fusion on {}, then Predict this example with your model.",
            self.settings.dataset
        )
    }

    fn first_launch_ui(&mut self, ui: &mut egui::Ui) {
        if !self.first_launch_hint || self.lesson.is_some() {
            return;
        }
        ui.horizontal(|ui| {
            ui.label(egui::RichText::new(self.first_launch_text()).strong());
            if ui
                .small_button("Got it")
                .on_hover_text("hide this hint")
                .clicked()
            {
                self.first_launch_hint = false;
            }
        });
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
        // Before the events (a job started last frame may already have ended) and after them.
        self.analysis.follow(&self.settings.dataset, &self.model);
        let events: Vec<Event> = self
            .worker
            .as_ref()
            .map(|w| w.drain().collect())
            .unwrap_or_default();
        for event in events {
            self.on_event(event);
        }
        self.analysis.follow(&self.settings.dataset, &self.model);
        self.inputs.poll(ctx);
        let teach_shown = self.settings.tab == Tab::Teach;
        self.teach.tick(
            ctx,
            &mut self.jobs,
            &mut self.inputs,
            self.predict.generation(),
            teach_shown,
        );
        self.handle_dropped_files(ctx);
        self.request_prediction();
        self.flush();
    }
}

/// The example a first launch opens on: the one named like the dataset's preset, else the first.
fn first_example(dataset: &str) -> Option<String> {
    let names: Vec<String> = inputs::examples()
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let preset = match dataset.parse::<crate::data::DatasetSpec>() {
        Ok(crate::data::DatasetSpec::Synthetic(c)) => Some(c.preset.name()),
        _ => None,
    };
    preset
        .and_then(|p| names.iter().find(|n| n.as_str() == p).cloned())
        .or_else(|| names.first().cloned())
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
            self.first_launch_ui(ui);
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
                Tab::Predict => {
                    self.predict
                        .ui(ui, &mut panel::panel_ctx!(self), &mut self.inputs);
                }
                Tab::Training => self.training.ui(ui, &mut panel::panel_ctx!(self)),
                Tab::Projections if self.browser.exploration.is_none() => {
                    self.dataset_pending_ui(ui);
                }
                Tab::Projections => {
                    let current = self.predict.current.as_ref();
                    self.projections
                        .ui(ui, &mut panel::panel_ctx!(self), current);
                }
                Tab::Dataset => self
                    .browser
                    .ui(ui, &mut panel::panel_ctx!(self, exploration: None)),
                Tab::Analysis => self.analysis.ui(ui, &mut panel::panel_ctx!(self)),
                Tab::Teach => {
                    let current = self.predict.current.as_ref();
                    self.teach
                        .ui(ui, &mut panel::panel_ctx!(self), &mut self.inputs, current);
                }
                Tab::Learn => {
                    self.learn
                        .follow(&self.settings.dataset, self.settings.train.fusion);
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
