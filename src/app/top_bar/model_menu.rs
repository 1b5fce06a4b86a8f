//! The top bar's Model menu: load a saved model, save the current one, the export folder; and
//! the cached listing of saved models and shipped lessons the menus offer.

use std::path::PathBuf;
use std::sync::Arc;

use crate::app::FusionApp;
use crate::app::lesson::{Lesson, LessonError};
use crate::model::checkpoint;
use crate::worker::Job;

/// The saved models and shipped lessons the menus offer, read at most every two seconds (the
/// menus are drawn every frame while open; the folders rarely change).
#[derive(Debug, Default)]
pub struct FolderCache {
    models: Vec<PathBuf>,
    /// Each shipped lesson, or why it cannot be read (shared: the menu clones the list).
    pub(super) lessons: Vec<Result<Lesson, Arc<LessonError>>>,
    read: Option<std::time::Instant>,
}

impl FusionApp {
    pub(super) fn refresh_folders(&mut self) {
        if self
            .folders
            .read
            .is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(2))
        {
            return;
        }
        self.folders = FolderCache {
            models: saved_models(&self.models_dir),
            lessons: crate::app::lesson::shipped()
                .iter()
                .map(|p| Lesson::load(p).map_err(Arc::new))
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
    pub(super) fn model_menu_ui(&mut self, ui: &mut egui::Ui) {
        let label = format!("Model: {}", self.model.label());
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
                && let Some(dir) = self.pick(crate::app::inputs::Pick::Folder, Some(&self.models_dir))
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
                    let name = self.settings.save_name.clone();
                    self.save_model(&name);
                    ui.close();
                }
            });
            ui.small("Saved as models/<name>/ (config.json + model.safetensors), written to a temporary folder first and then renamed, so a crash never leaves half a model.");
            let pretrained = self.model.card.as_ref().is_some_and(|c| !c.model.backbones.is_scratch());
            let why = if self.model.card.is_none() {
                "train or load a model first"
            } else if pretrained {
                "models on pretrained backbones are not exported yet: the backbones are separate networks with their own front ends; retrain with scratch encoders to export"
            } else {
                "a standard ONNX file (opset 17) of the encoders and fusion: preprocessed features and the presence mask in; probabilities, modality weights and attention maps out (docs/checkpoint.md)"
            };
            if ui
                .add_enabled(self.model.card.is_some() && !pretrained, egui::Button::new("Export ONNX…"))
                .on_hover_text(why)
                .on_disabled_hover_text(why)
                .clicked()
            {
                let file = format!("{}.onnx", self.model.name().unwrap_or_else(|| "model".into()));
                match self.export_path(file.trim_end_matches(".onnx"), "onnx") {
                    Ok(path) => {
                        self.jobs.start(Job::ExportOnnx { path });
                    }
                    Err(e) => self.notifications.error("Exporting the model as ONNX", e.to_string()),
                }
                ui.close();
            }
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
                    && let Some(dir) = self.pick(crate::app::inputs::Pick::Folder, None)
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
                    "{} · {} classes · device {}",
                    self.model.summary(),
                    card.classes.len(),
                    self.model.device
                ));
            }
        });
    }
}
