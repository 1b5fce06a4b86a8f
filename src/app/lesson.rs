//! Lesson files (`*.fusionlab.json`): a dataset with its knobs, a fusion method and
//! hyper-parameters, which panels are visible, and the question to explore. Opening one puts the
//! app in exactly that state, like TensorFlow Playground's shareable URL.

use std::path::{Path, PathBuf};

use super::{FusionApp, Tab};
use crate::engine::TrainConfig;

/// The `format` field of every lesson file.
pub const FORMAT: &str = "fusionlab-lesson";
/// The file name ending of lesson files.
pub const EXTENSION: &str = ".fusionlab.json";

/// A saved teaching setup.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Lesson {
    /// Always [`FORMAT`].
    pub format: String,
    /// File format version (1).
    pub version: u32,
    /// Short title.
    pub title: String,
    /// What the lesson is about and what to do, in a few sentences.
    #[serde(default)]
    pub description: String,
    /// The question the learner should answer.
    #[serde(default)]
    pub question: String,
    /// Dataset spec, knobs included (`synthetic:xor?samples=600&audio_noise=0.3`).
    pub dataset: String,
    /// Fusion method and hyper-parameters.
    pub train: TrainConfig,
    /// Panels shown (in order); the first is opened.
    pub panels: Vec<Tab>,
    /// Example inputs to load (a folder name under `assets/examples`), if any.
    #[serde(default)]
    pub example: Option<String>,
    /// Start training as soon as the lesson opens.
    #[serde(default)]
    pub train_now: bool,
    /// What the lesson predicts, as ids of [`crate::engine::claims::ALL`] (each one checked by
    /// the test suite with the lesson's settings); shown in the banner.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<String>,
}

/// Why a lesson file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LessonError {
    /// Reading failed.
    #[error("could not read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Not JSON of the right shape.
    #[error("{path} is not a lesson file: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong (serde's message names the field).
        message: String,
    },
    /// A field has a value that cannot be used.
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Which field and why.
        source: FieldError,
    },
}

/// A lesson field with a value that cannot be used; the message names the field.
#[derive(Debug, thiserror::Error)]
pub enum FieldError {
    /// Not a fusionlab lesson.
    #[error("field 'format' is '{0}', expected '{FORMAT}'")]
    Format(String),
    /// A newer (or unknown) version.
    #[error("field 'version' is {0}, this fusionlab reads version 1")]
    Version(u32),
    /// The dataset spec does not parse.
    #[error("field 'dataset': {0}")]
    Dataset(crate::data::DatasetError),
    /// Training settings out of range.
    #[error("field 'train': {0}")]
    Train(crate::engine::EngineError),
    /// No panel to show.
    #[error("field 'panels' is empty; list at least one panel, e.g. [\"Predict\"]")]
    NoPanels,
    /// A claim id this fusionlab does not know.
    #[error("field 'claims': unknown claim '{0}' (known: {known})", known = crate::engine::claims::ALL.iter().map(|c| c.id).collect::<Vec<_>>().join(", "))]
    UnknownClaim(String),
}

impl Lesson {
    /// Read and check a lesson file.
    pub fn load(path: &Path) -> Result<Self, LessonError> {
        let text = std::fs::read_to_string(path).map_err(|source| LessonError::Io {
            path: path.to_owned(),
            source,
        })?;
        let lesson: Self = serde_json::from_str(&text).map_err(|e| LessonError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        lesson.validate().map_err(|source| LessonError::Invalid {
            path: path.to_owned(),
            source,
        })?;
        Ok(lesson)
    }

    /// Check the fields a loaded file could get wrong.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.format != FORMAT {
            return Err(FieldError::Format(self.format.clone()));
        }
        if self.version != 1 {
            return Err(FieldError::Version(self.version));
        }
        self.dataset
            .parse::<crate::data::DatasetSpec>()
            .map_err(FieldError::Dataset)?;
        self.train.validate().map_err(FieldError::Train)?;
        if self.panels.is_empty() {
            return Err(FieldError::NoPanels);
        }
        if let Some(id) = self
            .claims
            .iter()
            .find(|id| crate::engine::claims::find(id).is_none())
        {
            return Err(FieldError::UnknownClaim(id.clone()));
        }
        Ok(())
    }

    /// Write it (atomically) as pretty JSON.
    pub fn save(&self, path: &Path) -> Result<(), crate::export::ExportError> {
        crate::export::write_atomic(path, |out| {
            serde_json::to_writer_pretty(&mut *out, self)?;
            Ok(writeln!(out)?)
        })
    }
}

/// The lesson files shipped in `assets/lessons`, sorted by name.
pub fn shipped() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(super::asset_dir().join("lessons"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(EXTENSION))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

impl FusionApp {
    /// Put the app in the lesson's state: dataset, method and hyper-parameters, visible panels,
    /// example inputs; start training if it says so.
    pub fn apply_lesson(&mut self, lesson: Lesson) {
        self.settings.train = lesson.train.clone();
        if self.settings.dataset != lesson.dataset || self.browser.exploration.is_none() {
            self.set_dataset(&lesson.dataset);
        }
        self.settings.tab = lesson.panels[0];
        if let Some(name) = &lesson.example {
            let dir = super::asset_dir().join("examples").join(name);
            self.decode(crate::worker::Source::Example(dir), super::Purpose::Sample);
        }
        if lesson.train_now && !self.jobs.is_training() {
            self.start_training();
        }
        self.status = format!("lesson: {}", lesson.title);
        self.lesson = Some(lesson);
    }

    /// A Learn panel "Try it": the preset's dataset and the method, then the Training panel.
    pub fn try_setup(&mut self, setup: super::learn::TryIt) {
        if self.jobs.is_training() {
            self.notifications.error(
                "Trying a set-up",
                "wait for training to end (or stop it) first",
            );
            return;
        }
        self.settings.train.fusion = setup.fusion;
        let spec = format!("synthetic:{}", setup.preset.name());
        if self.settings.dataset != spec {
            self.set_dataset(&spec);
        }
        self.settings.tab = Tab::Training;
        self.status = format!(
            "{} fusion on {}: press Train, then watch the curves",
            setup.fusion.name(),
            setup.preset.name()
        );
    }

    /// Open a lesson file; a bad file becomes a toast naming it.
    pub fn open_lesson(&mut self, path: &Path) {
        match Lesson::load(path) {
            Ok(lesson) => self.apply_lesson(lesson),
            Err(e) => self
                .notifications
                .error("Opening the lesson", e.to_string()),
        }
    }

    /// The current setup as a lesson (every panel visible unless a lesson is open).
    pub fn current_lesson(&self, title: &str) -> Lesson {
        let (description, question, panels) = match &self.lesson {
            Some(l) => (l.description.clone(), l.question.clone(), l.panels.clone()),
            None => (String::new(), String::new(), Tab::ALL.to_vec()),
        };
        let mut panels = panels;
        // The panel now open comes first, so the lesson opens on it.
        if let Some(i) = panels.iter().position(|&t| t == self.settings.tab) {
            let tab = panels.remove(i);
            panels.insert(0, tab);
        }
        Lesson {
            format: FORMAT.into(),
            version: 1,
            title: title.to_owned(),
            description,
            question,
            dataset: self.settings.dataset.clone(),
            train: self.settings.train.clone(),
            panels,
            example: None,
            train_now: false,
            claims: Vec::new(),
        }
    }

    /// Save the current setup as a lesson in the export folder.
    pub fn save_lesson(&mut self) {
        let title = self.lesson.as_ref().map_or_else(
            || {
                format!(
                    "{} on {}",
                    self.settings.train.fusion.name(),
                    self.settings.dataset
                )
            },
            |l| l.title.clone(),
        );
        let lesson = self.current_lesson(&title);
        let result = self
            .export_path("lesson", "fusionlab.json")
            .and_then(|p| lesson.save(&p).map(|()| p));
        self.exported("lesson", result);
    }

    /// The panels to offer in the tab bar.
    pub fn visible_tabs(&self) -> Vec<Tab> {
        self.lesson
            .as_ref()
            .map_or_else(|| Tab::ALL.to_vec(), |l| l.panels.clone())
    }

    /// The lesson banner: title, description, question, and a button to leave the lesson.
    pub(crate) fn lesson_banner_ui(&mut self, ui: &mut egui::Ui) {
        let Some(lesson) = &self.lesson else {
            return;
        };
        let mut end = false;
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.strong(format!("Lesson: {}", lesson.title));
                if ui
                    .button("End lesson")
                    .on_hover_text("Show every panel again")
                    .clicked()
                {
                    end = true;
                }
            });
            if !lesson.description.is_empty() {
                ui.label(&lesson.description);
            }
            if !lesson.question.is_empty() {
                ui.label(egui::RichText::new(&lesson.question).italics());
            }
            ui.small(if lesson.train_now {
                "This lesson starts training when it opens.".to_owned()
            } else {
                format!(
                    "This lesson does not train by itself: press Train {} in the top bar.",
                    lesson.train.fusion.name()
                )
            });
            let claims: Vec<_> = lesson
                .claims
                .iter()
                .filter_map(|id| crate::engine::claims::find(id))
                .collect();
            if !claims.is_empty() {
                super::learn::claims_ui(ui, &claims);
            }
        });
        if end {
            self.lesson = None;
        }
    }
}
