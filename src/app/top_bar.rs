//! The top bar: dataset, fusion method, model load/save, device, and Train / Stop with progress.

use std::path::PathBuf;

use super::FusionApp;
use super::training::stop_text;
use crate::data::DatasetSpec;
use crate::data::synthetic::{Preset, SyntheticConfig};
use crate::model::FusionKind;
use crate::model::checkpoint::{self, check_name};
use crate::worker::Job;

/// The dataset menu's editable copy of the synthetic knobs and the folder path.
#[derive(Clone, Debug)]
pub struct DatasetEditor {
    /// Synthetic settings being edited.
    pub synthetic: SyntheticConfig,
    /// Folder or CSV path being edited.
    pub path: String,
}

impl DatasetEditor {
    /// Start from a dataset spec string.
    pub fn from_spec(spec: &str) -> Self {
        match spec.parse::<DatasetSpec>() {
            Ok(DatasetSpec::Synthetic(cfg)) => Self {
                synthetic: cfg,
                path: String::new(),
            },
            Ok(DatasetSpec::Path(p)) => Self {
                synthetic: SyntheticConfig::new(Preset::Redundant),
                path: p.display().to_string(),
            },
            Err(_) => Self {
                synthetic: SyntheticConfig::new(Preset::Redundant),
                path: String::new(),
            },
        }
    }
}

/// The saved models and shipped lessons the menus offer, read at most every two seconds (the
/// menus are drawn every frame while open; the folders rarely change).
#[derive(Debug, Default)]
pub struct FolderCache {
    models: Vec<PathBuf>,
    lessons: Vec<Result<super::lesson::Lesson, String>>,
    read: Option<std::time::Instant>,
}

impl FusionApp {
    fn refresh_folders(&mut self) {
        if self
            .folders
            .read
            .is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(2))
        {
            return;
        }
        self.folders = FolderCache {
            models: saved_models(&self.models_dir),
            lessons: super::lesson::shipped()
                .iter()
                .map(|p| super::lesson::Lesson::load(p).map_err(|e| e.to_string()))
                .collect(),
            read: Some(std::time::Instant::now()),
        };
    }
}

/// Folders under `dir` (the app's models folder) that hold a model.
pub fn saved_models(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                // Hidden folders are unfinished or replaced saves, never models to offer.
                .filter(|p| {
                    !p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .filter(|p| p.join(checkpoint::CONFIG).is_file())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

impl FusionApp {
    pub(crate) fn top_bar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.strong("fusionlab");
            ui.separator();
            self.dataset_menu_ui(ui);
            ui.separator();
            let running = self.jobs.is_training();
            let fusion = &mut self.settings.train.fusion;
            ui.add_enabled_ui(!running, |ui| {
                ui.label("Fusion");
                egui::ComboBox::from_id_salt("fusion")
                    .selected_text(fusion.name())
                    .show_ui(ui, |ui| {
                        for f in FusionKind::ALL {
                            ui.selectable_value(fusion, f, f.name())
                                .on_hover_text(f.explanation());
                        }
                    })
                    .response
                    .on_hover_text(fusion.explanation());
            });
            ui.separator();
            self.model_menu_ui(ui);
            ui.separator();
            self.lessons_menu_ui(ui);
            ui.separator();
            self.train_button_ui(ui);
        });
    }

    fn lessons_menu_ui(&mut self, ui: &mut egui::Ui) {
        let running = self.jobs.is_training();
        ui.menu_button("Lessons", |ui| {
            ui.set_max_width(380.0);
            self.refresh_folders();
            for entry in self.folders.lessons.clone() {
                match entry {
                    Ok(lesson) => {
                        if ui
                            .add_enabled(!running, egui::Button::new(&lesson.title))
                            .on_hover_text(&lesson.question)
                            .clicked()
                        {
                            self.apply_lesson(lesson);
                            ui.close();
                        }
                    }
                    Err(e) => {
                        ui.weak(e);
                    }
                }
            }
            ui.separator();
            if ui
                .add_enabled(!running, egui::Button::new("Open lesson file…"))
                .clicked()
                && let Some(path) = self.pick(
                    super::inputs::Pick::File {
                        name: "fusionlab lesson",
                        extensions: &["json"],
                    },
                    None,
                )
            {
                self.open_lesson(&path);
                ui.close();
            }
            if ui
                .button("Save current setup as lesson")
                .on_hover_text("Dataset with its knobs, method, hyper-parameters and visible panels, as a .fusionlab.json file in the export folder")
                .clicked()
            {
                self.save_lesson();
                ui.close();
            }
        });
    }

    fn dataset_menu_ui(&mut self, ui: &mut egui::Ui) {
        let name = self.settings.dataset.clone();
        let short = if name.chars().count() > 36 {
            format!(
                "…{}",
                name.chars()
                    .rev()
                    .take(35)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<String>()
            )
        } else {
            name
        };
        let mut apply = None;
        ui.menu_button(format!("Dataset: {short}"), |ui| {
            ui.set_max_width(420.0);
            let editor = &mut self.dataset_editor;
            ui.strong("Built-in: Shapes & Sounds");
            ui.horizontal_wrapped(|ui| {
                for p in Preset::ALL {
                    if ui
                        .selectable_label(editor.synthetic.preset == p, p.name())
                        .clicked()
                    {
                        let keep = editor.synthetic.clone();
                        editor.synthetic = SyntheticConfig::new(p);
                        editor.synthetic.samples = keep.samples;
                        editor.synthetic.seed = keep.seed;
                    }
                }
            });
            let cfg = &mut editor.synthetic;
            ui.small(cfg.preset.explanation());
            egui::Grid::new("knobs").num_columns(2).show(ui, |ui| {
                let l = ui.label("Samples");
                ui.add(egui::DragValue::new(&mut cfg.samples).range(20..=50_000)).labelled_by(l.id);
                ui.end_row();
                let (_, range) = cfg.preset.classes_range();
                let l = ui.label("Classes");
                ui.add_enabled(
                    range.start() != range.end(),
                    egui::DragValue::new(&mut cfg.classes).range(range),
                )
                .labelled_by(l.id);
                ui.end_row();
                for (m, name) in ["image", "text", "audio"].iter().enumerate() {
                    let l = ui.label(format!("{name} noise"));
                    ui.add(egui::Slider::new(&mut cfg.noise[m], 0.0..=1.0)).labelled_by(l.id);
                    ui.end_row();
                }
                for (m, name) in ["image", "text", "audio"].iter().enumerate() {
                    let l = ui.label(format!("{name} missing"));
                    ui.add(egui::Slider::new(&mut cfg.missing[m], 0.0..=0.9)).labelled_by(l.id);
                    ui.end_row();
                }
                let l = ui.label("Seed");
                ui.add(egui::DragValue::new(&mut cfg.seed)).labelled_by(l.id);
                ui.end_row();
            });
            if ui.button("Use this preset").clicked() {
                apply = Some(cfg.spec());
                ui.close();
            }
            ui.separator();
            ui.strong("Your own data");
            ui.small("A folder with manifest.csv (id,split,label,image,audio,text) or metadata.csv, or class sub-folders; or a CSV file.");
            ui.horizontal(|ui| {
                if ui.button("Open folder…").clicked()
                    && let Some(dir) = self.pick(super::inputs::Pick::Folder, None)
                {
                    apply = Some(dir.display().to_string());
                    ui.close();
                }
                if ui.button("Open CSV…").clicked()
                    && let Some(file) = self.pick(super::inputs::Pick::File { name: "CSV", extensions: &["csv"] }, None)
                {
                    apply = Some(file.display().to_string());
                    ui.close();
                }
            });
            ui.horizontal(|ui| {
                let l = ui.label("Dataset path");
                ui.add(egui::TextEdit::singleline(&mut self.dataset_editor.path).hint_text("folder or .csv"))
                    .labelled_by(l.id);
                if ui.button("Load path").clicked() && !self.dataset_editor.path.trim().is_empty() {
                    apply = Some(self.dataset_editor.path.trim().to_owned());
                    ui.close();
                }
            });
        });
        if let Some(spec) = apply {
            self.set_dataset(&spec);
        }
    }

    fn model_menu_ui(&mut self, ui: &mut egui::Ui) {
        let label = match (&self.model.card, &self.model.dir) {
            (Some(card), Some(dir)) => format!(
                "Model: {} ({})",
                dir.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                card.model.fusion.name()
            ),
            (Some(card), None) => format!("Model: unsaved {}", card.model.fusion.name()),
            (None, _) => "Model: none".into(),
        };
        let running = self.jobs.is_training();
        ui.menu_button(label, |ui| {
            ui.set_max_width(360.0);
            ui.strong("Load");
            self.refresh_folders();
            let models = self.folders.models.clone();
            if models.is_empty() {
                ui.weak("no saved models in models/");
            }
            for dir in models {
                let name = dir.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                if ui.add_enabled(!running, egui::Button::new(format!("Load {name}"))).clicked() {
                    self.load_model(dir);
                    ui.close();
                }
            }
            if ui.add_enabled(!running, egui::Button::new("Load from folder…")).clicked()
                && let Some(dir) = self.pick(super::inputs::Pick::Folder, Some(&self.models_dir))
            {
                self.load_model(dir);
                ui.close();
            }
            ui.separator();
            ui.strong("Save the current model");
            ui.horizontal(|ui| {
                let l = ui.label("Name");
                ui.add(egui::TextEdit::singleline(&mut self.settings.save_name).desired_width(140.0))
                    .labelled_by(l.id);
                let can = self.model.card.is_some() && !running;
                if ui
                    .add_enabled(can, egui::Button::new("Save model"))
                    .on_disabled_hover_text("train or load a model first (and wait for training to end)")
                    .clicked()
                {
                    match check_name(self.settings.save_name.trim()) {
                        Ok(()) => {
                            let dir = self.models_dir.join(self.settings.save_name.trim());
                            self.jobs.start(Job::Save { dir });
                            ui.close();
                        }
                        Err(e) => self.notifications.error("Saving the model", e.to_string()),
                    }
                }
            });
            ui.small("Saved as models/<name>/ (config.json + model.safetensors), written to a temporary folder first and then renamed, so a crash never leaves half a model.");
            ui.separator();
            ui.strong("Exports");
            ui.horizontal(|ui| {
                let l = ui.label("Export folder");
                let mut text = self.settings.export_dir.display().to_string();
                if ui
                    .add(egui::TextEdit::singleline(&mut text).desired_width(180.0))
                    .labelled_by(l.id)
                    .on_hover_text("CSV, TSV, JSON and PNG exports are written here (created when needed)")
                    .changed()
                {
                    self.settings.export_dir = PathBuf::from(text.trim());
                }
                if ui.button("Choose…").clicked()
                    && let Some(dir) = self.pick(super::inputs::Pick::Folder, None)
                {
                    self.settings.export_dir = dir;
                }
            });
            if let Some(last) = &self.exports.last {
                ui.small(format!("last export: {}", last.display()));
            }
            if let Some(card) = &self.model.card {
                ui.separator();
                ui.small(format!(
                    "{} · {} classes · trained on {} · device {}",
                    card.model.fusion.name(),
                    card.classes.len(),
                    card.dataset,
                    self.model.device
                ));
            }
        });
    }

    fn train_button_ui(&mut self, ui: &mut egui::Ui) {
        if let Some(job) = self.jobs.training().cloned() {
            let (label, hint) = if job.stopping {
                ("Stopping…", "stopping at the end of this batch")
            } else {
                ("Stop", "stop training (keeps the best weights so far)")
            };
            if ui
                .add_enabled(!job.stopping, egui::Button::new(label))
                .on_hover_text(hint)
                .clicked()
            {
                self.jobs.cancel(job.id);
            }
            // Before the first step the job is still loading its dataset.
            let (fraction, text) = match (&self.training.progress, &job.progress) {
                (None, Some(p)) => (
                    job.fraction(),
                    format!("loading {}: {}", p.what, job.progress_text()),
                ),
                _ => (self.training.fraction(), self.training.progress_text()),
            };
            ui.add(
                egui::ProgressBar::new(fraction)
                    .desired_width(330.0)
                    .text(text),
            );
        } else {
            let fusion = self.settings.train.fusion.name();
            if ui
                .button(format!("Train {fusion}"))
                .on_hover_text(format!(
                    "train a new {fusion} model on {}",
                    self.settings.dataset
                ))
                .clicked()
            {
                self.start_training();
            }
            if let Some(s) = self.training.last_finished() {
                let acc = s
                    .test
                    .as_ref()
                    .or(s.val.as_ref())
                    .map_or(0.0, |e| e.metrics.accuracy);
                ui.small(format!(
                    "last run: {} · accuracy {acc:.3}",
                    stop_text(&s.stop)
                ));
            }
        }
    }
}
