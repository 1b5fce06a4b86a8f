//! What the app keeps between sessions and starts with: the panels, the persisted settings, the
//! command-line start options, the model in use, and where the shipped files are.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::engine::TrainConfig;
use crate::model::checkpoint::ModelCard;

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
    /// A project of one's own: collect examples per class, train, preview live.
    Teach,
}

impl std::str::FromStr for Tab {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown panel '{s}'; choose predict, teach, training, projections, dataset, analysis or learn"
                )
            })
    }
}

impl Tab {
    /// Every panel, in tab order.
    pub const ALL: [Self; 7] = [
        Self::Predict,
        Self::Teach,
        Self::Training,
        Self::Projections,
        Self::Dataset,
        Self::Analysis,
        Self::Learn,
    ];
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Predict => "Predict",
            Self::Training => "Training",
            Self::Projections => "Projections",
            Self::Dataset => "Dataset",
            Self::Analysis => "Analysis",
            Self::Learn => "Learn",
            Self::Teach => "Teach",
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
    /// The teach-it-yourself project open last (reopened at start).
    pub project: Option<PathBuf>,
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
            project: None,
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
    /// A teach-it-yourself project to open (on the Teach panel).
    pub project: Option<PathBuf>,
}

impl StartOptions {
    /// Nothing on the command line says what to open (no `--fresh`, `--model`, `--example`,
    /// `--lesson` or `--train`): with no saved settings either, this is a first launch, which
    /// opens on an example with a hint of what to try.
    pub fn is_first_launch(&self) -> bool {
        !self.fresh
            && self.model.is_none()
            && self.example.is_none()
            && self.lesson.is_none()
            && !self.train
    }
}

/// The model the app is using: the one source of "the current model" that the top bar, the
/// status bar and every result's "computed on" label read.
#[derive(Clone, Debug, Default)]
pub struct ModelStatus {
    /// Its description (None: no model yet).
    pub card: Option<ModelCard>,
    /// Its folder when saved or loaded.
    pub dir: Option<PathBuf>,
    /// Device label.
    pub device: String,
    /// Counts the models the worker made current (loads, trainings, comparisons): a result
    /// computed with generation `g` belongs to this model while `generation == g`.
    pub generation: u64,
}

impl ModelStatus {
    /// Its name: the folder it was loaded from or saved to, "unsaved" when it has none, `None`
    /// without a model.
    pub fn name(&self) -> Option<String> {
        self.card.as_ref()?;
        Some(self.dir.as_ref().and_then(|d| d.file_name()).map_or_else(
            || "unsaved".to_owned(),
            |n| n.to_string_lossy().into_owned(),
        ))
    }

    /// "attention (attention)", "unsaved late" or "none": the name with the fusion method.
    pub fn label(&self) -> String {
        match (&self.card, &self.dir) {
            (Some(card), Some(_)) => format!(
                "{} ({})",
                self.name().unwrap_or_default(),
                card.model.fusion.name()
            ),
            (Some(card), None) => format!("unsaved {}", card.model.fusion.name()),
            (None, _) => "none".to_owned(),
        }
    }

    /// The dataset it was trained on.
    pub fn trained_on(&self) -> Option<&str> {
        self.card.as_ref().map(|c| c.dataset.as_str())
    }

    /// Its test accuracy (else validation) as recorded when it was trained, with the split.
    pub fn accuracy(&self) -> Option<(&'static str, f64)> {
        let metrics = &self.card.as_ref()?.metrics;
        ["test", "val"].into_iter().find_map(|split| {
            metrics
                .get(split)?
                .get("accuracy")?
                .as_f64()
                .map(|a| (split, a))
        })
    }

    /// "attention (attention), trained on synthetic:redundant, test accuracy 1.000".
    pub fn summary(&self) -> String {
        let mut text = self.label();
        if let Some(dataset) = self.trained_on() {
            text.push_str(&format!(", trained on {dataset}"));
        }
        if let Some((split, a)) = self.accuracy() {
            text.push_str(&format!(", {split} accuracy {a:.3}"));
        }
        text
    }
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
