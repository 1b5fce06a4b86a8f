//! The Teach panel's right-hand side: what stands in the way of training, how it will train
//! (pretrained encoders where installed, from scratch with why elsewhere), the Train and Save
//! buttons, and the live preview of the current inputs.

use std::collections::HashMap;

use egui::{Color32, RichText};

use super::super::panel::{PanelCtx, Request};
use super::super::widgets::{self, MODALITY_COLOURS, value_bar};
use super::{TeachView, project_model_name};
use crate::data::project::{Advice, Project};
use crate::engine::{Prediction, TrainConfig};
use crate::model::{Backbone, Backbones};

impl TeachView {
    /// Train button, what stands in the way, and how it will train.
    pub(super) fn train_ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>) {
        let Some(project) = self.project() else {
            return;
        };
        let advice = project.advice();
        let (backbones, note) = teach_backbones(project);
        let (dir, name) = (project.dir.clone(), project.name.clone());
        ui.strong("Train");
        for a in &advice {
            let colour = if a.blocks_training() {
                ui.visuals().error_fg_color
            } else {
                ui.visuals().warn_fg_color
            };
            ui.colored_label(colour, a.to_string());
        }
        let blocked = advice.iter().any(Advice::blocks_training);
        ui.small(&note);
        let running = ctx.jobs.is_training();
        let fusion = ctx.settings.train.fusion;
        ui.horizontal(|ui| {
            let button = ui
                .add_enabled(
                    !blocked && !running && !self.busy(),
                    egui::Button::new(format!("Train {} fusion", fusion.name())),
                )
                .on_hover_text(
                    "trains on every example of the project (a stratified validation and test \
                     share is held out per class); the method is the one chosen in the top bar",
                )
                .on_disabled_hover_text(if running {
                    "a training run is going on"
                } else {
                    "see the notes above"
                });
            if button.clicked() {
                let dir = dir.clone();
                let config = teach_config(&ctx.settings.train, backbones);
                self.train_note = Some(note.clone());
                ctx.request(Request::TrainProject { dir, config });
            }
            if let Some(s) = self.last_train_seconds {
                ui.small(format!("last: usable model {s:.1} s after Train"));
            }
        });
        let trained_here = self
            .trained
            .as_ref()
            .is_some_and(|(d, g)| *d == dir && *g == ctx.model.generation);
        if trained_here && !running {
            let name = project_model_name(&name);
            if ui
                .button(format!("Save model as models/{name}"))
                .on_hover_text("save the model trained on this project (Model menu: other names)")
                .clicked()
            {
                ctx.request(Request::SaveModel(name));
            }
        }
    }
}

/// The pretrained backbones for the modalities the project has, where installed, and a note
/// on what that means (from scratch, with why, where not).
pub fn teach_backbones(project: &Project) -> (Backbones, String) {
    let store = crate::model::pretrained::store::Store::from_env();
    let has: [bool; 3] = std::array::from_fn(|m| {
        project
            .classes
            .iter()
            .any(|c| project.counts(&c.name)[m] > 0)
    });
    let wanted = [
        Backbone::EfficientNetLite0,
        Backbone::MiniLm,
        Backbone::SpeechEmbedding,
    ];
    let mut chosen = Backbones::default();
    let mut pretrained = Vec::new();
    let mut missing = Vec::new();
    for m in 0..3 {
        if !has[m] {
            continue;
        }
        let backbone = wanted[m];
        if store.installed(backbone).is_ok() {
            match m {
                0 => chosen.image = Some(backbone),
                1 => chosen.text = Some(backbone),
                _ => chosen.audio = Some(backbone),
            }
            pretrained.push(backbone.name());
        } else {
            missing.push(backbone.name());
        }
    }
    let install = "run `fusionlab pretrained install`: from a handful of examples pretrained \
                   encoders learn far better";
    let note = match (pretrained.is_empty(), missing.is_empty()) {
        (true, true) => "Encoders trained from scratch".to_owned(),
        (true, false) => format!(
            "Encoders trained from scratch: {} not installed ({install})",
            missing.join(", ")
        ),
        (false, true) => format!("Pretrained encoders: {}", pretrained.join(", ")),
        (false, false) => format!(
            "Pretrained encoders: {}; from scratch for the rest: {} not installed ({install})",
            pretrained.join(", "),
            missing.join(", ")
        ),
    };
    (chosen, note)
}

/// Training settings for a small project: the method and seed of the top bar, more epochs
/// (a few dozen examples make short epochs), small batches, no early stop, and modality dropout
/// so each modality is learned on its own too (without it, on a demo project of photos,
/// sentences and spoken words the model leant on the pictures alone and its sounds alone were
/// at chance, so Listen could not tell the classes apart).
pub fn teach_config(base: &TrainConfig, backbones: Backbones) -> TrainConfig {
    let scratch = backbones.is_scratch();
    TrainConfig {
        epochs: if scratch { 60 } else { 40 },
        batch_size: 8,
        patience: 0,
        warmup: 0.1,
        modality_dropout: 0.3,
        backbones,
        ..base.clone()
    }
}

/// The live preview: the class probabilities and the modality weights of the current inputs.
pub(super) fn preview_ui(
    ui: &mut egui::Ui,
    ctx: &PanelCtx<'_>,
    prediction: Option<&Prediction>,
    project: Option<&Project>,
) {
    ui.strong("Live preview");
    let Some(p) = prediction else {
        ui.weak(if ctx.model.card.is_none() {
            "train the project to see predictions here"
        } else {
            "give the model an input on the left (or press Listen)"
        });
        return;
    };
    let colours: HashMap<&str, Color32> = project
        .map(|pr| {
            pr.classes
                .iter()
                .map(|c| {
                    let [r, g, b] = c.colour;
                    (c.name.as_str(), Color32::from_rgb(r, g, b))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut order: Vec<usize> = (0..p.probs.len()).collect();
    order.sort_by(|&a, &b| p.probs[b].total_cmp(&p.probs[a]));
    for &c in order.iter().take(8) {
        let name = p.classes.get(c).map_or("?", String::as_str);
        let colour = colours
            .get(name)
            .copied()
            .unwrap_or_else(|| widgets::class_colour(c));
        let text = format!("{name} {:.0}%", p.probs[c] * 100.0);
        let label = if c == p.predicted {
            RichText::new(text).strong()
        } else {
            RichText::new(text)
        };
        ui.horizontal(|ui| {
            ui.add_sized([110.0, 18.0], egui::Label::new(label).truncate());
            value_bar(ui, p.probs[c], None, colour, "");
        });
    }
    ui.small("how much it relied on each modality:");
    for (m, name) in ["image", "text", "sound"].iter().enumerate() {
        ui.horizontal(|ui| {
            ui.add_sized([110.0, 18.0], egui::Label::new(*name));
            let w = if p.present[m] { p.weights[m] } else { 0.0 };
            let text = if p.present[m] {
                format!("{:.0}%", w * 100.0)
            } else {
                "not given".to_owned()
            };
            value_bar(ui, w, None, MODALITY_COLOURS[m], &text);
        });
    }
}
