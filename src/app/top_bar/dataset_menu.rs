//! The top bar's Dataset menu: the built-in presets with their knobs, or a folder or CSV of
//! your own.

use crate::app::FusionApp;
use crate::data::DatasetSpec;
use crate::data::synthetic::{Preset, SyntheticConfig};

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

impl FusionApp {
    pub(super) fn dataset_menu_ui(&mut self, ui: &mut egui::Ui) {
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
                    && let Some(dir) = self.pick(crate::app::inputs::Pick::Folder, None)
                {
                    apply = Some(dir.display().to_string());
                    ui.close();
                }
                if ui.button("Open CSV…").clicked()
                    && let Some(file) = self.pick(crate::app::inputs::Pick::File { name: "CSV", extensions: &["csv"] }, None)
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
}
