//! What a panel sees beyond its own state: the shared state it may read (settings, model,
//! exploration, the job table), the outbox for jobs, exports, and requests to the app for what
//! another panel owns. Each panel is a type with `ui(&mut self, ui, ctx)`; `FusionApp` builds the
//! context each frame and carries out the requests after drawing.

use std::path::PathBuf;

use super::exports::Exports;
use super::{ModelStatus, Notifications, Purpose, Settings};
use crate::data::{DatasetSpec, Split};
use crate::export::ExportError;
use crate::worker::Exploration;

/// What a panel asks of the app, for state another panel owns.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// Load dataset sample `index` into the inputs (`Sample`) or play its sound (`Play`).
    Sample(usize, Purpose),
    /// Show the dataset panel filtered to samples of class `truth` predicted as `predicted`.
    ShowConfusion {
        /// True class.
        truth: usize,
        /// Predicted class.
        predicted: usize,
        /// The split the matrix was computed on.
        split: Split,
    },
    /// Select a sample in the projections and list its neighbours.
    SelectPoint(usize),
    /// Decode a file (by its extension) into its input slot, remembering its folder.
    Open(PathBuf),
    /// Load a shipped example folder as the inputs (replacing all of them).
    Example(PathBuf),
    /// Load a random test sample of the explored dataset into the inputs.
    RandomSample,
    /// Play a sound file (decoded in the worker).
    PlayFile(PathBuf),
    /// Make the project in `dir` the dataset and train on it with `config`.
    TrainProject {
        /// The project's folder.
        dir: PathBuf,
        /// Settings for a small project (see `teach::teach_config`).
        config: crate::engine::TrainConfig,
    },
    /// Save the current model as `models/<name>`.
    SaveModel(String),
}

/// A panel's view of the app for one frame.
pub struct PanelCtx<'a> {
    /// Persisted settings: the dataset, training settings, the panel shown, the export folder.
    pub settings: &'a mut Settings,
    /// The current model.
    pub model: &'a ModelStatus,
    /// The explored dataset (for panels other than the dataset browser, which owns it).
    pub exploration: Option<&'a Exploration>,
    /// The job table: what runs; jobs start and stop through it.
    pub jobs: &'a mut super::Jobs,
    /// Toasts.
    pub notifications: &'a mut Notifications,
    /// The status bar line.
    pub status: &'a mut String,
    /// Exports in flight and the last one written.
    pub exports: &'a mut Exports,
    /// Requests for the app, carried out after the frame.
    pub requests: &'a mut Vec<Request>,
    /// Use the system's file dialogs (off in headless tests); see `PanelCtx::pick`.
    pub native_dialogs: bool,
}

impl PanelCtx<'_> {
    /// The dataset spec of the settings, or `None` with the reason in `error`.
    pub fn dataset_spec(&self, error: &mut Option<String>) -> Option<DatasetSpec> {
        match self.settings.dataset.parse() {
            Ok(d) => Some(d),
            Err(e) => {
                *error = Some(format!("{e}"));
                None
            }
        }
    }

    /// Ask the app for something another panel owns.
    pub fn request(&mut self, request: Request) {
        self.requests.push(request);
    }

    /// Report an export's outcome in a toast and the status bar.
    pub fn exported(&mut self, what: &str, result: Result<PathBuf, ExportError>) {
        self.exports.report(
            what,
            result,
            &mut super::exports::Report {
                notifications: self.notifications,
                status: self.status,
            },
        );
    }

    /// A fresh file path in the export folder.
    pub fn export_path(&self, stem: &str, ext: &str) -> Result<PathBuf, ExportError> {
        super::exports::fresh_path(&self.settings.export_dir, stem, ext)
    }

    /// Write a file to a fresh path in the export folder with `write`, and report it.
    pub fn export(
        &mut self,
        what: &str,
        stem: &str,
        ext: &str,
        write: impl FnOnce(&std::path::Path) -> Result<(), ExportError>,
    ) {
        let result = self
            .export_path(stem, ext)
            .and_then(|p| write(&p).map(|()| p));
        self.exported(what, result);
    }

    /// A table as CSV.
    pub fn export_table(&mut self, stem: &str, header: &[&str], rows: &[Vec<String>]) {
        self.export(stem, stem, "csv", |p| {
            crate::export::table_csv(p, header, rows)
        });
    }

    /// A button that saves the plot at `rect` as PNG (via a screenshot of the window).
    pub fn png_button(&mut self, ui: &mut egui::Ui, label: &str, rect: egui::Rect, stem: &str) {
        self.exports.png_button(ui, label, rect, stem);
    }
}

/// Build a [`PanelCtx`] from the app's fields, so one panel can be borrowed mutably beside it.
/// `exploration: None` for the dataset browser (it owns the exploration).
macro_rules! panel_ctx {
    ($app:expr) => {
        $crate::app::panel::panel_ctx!($app, exploration: $app.browser.exploration.as_ref())
    };
    ($app:expr, exploration: $exploration:expr) => {
        $crate::app::panel::PanelCtx {
            settings: &mut $app.settings,
            model: &$app.model,
            exploration: $exploration,
            jobs: &mut $app.jobs,
            notifications: &mut $app.notifications,
            status: &mut $app.status,
            exports: &mut $app.exports,
            requests: &mut $app.requests,
            native_dialogs: $app.native_dialogs,
        }
    };
}
pub(crate) use panel_ctx;
