//! The Teach panel's right-hand side: what stands in the way of training, how it will train
//! (pretrained encoders where installed, from scratch with why elsewhere), the Train and Save
//! buttons, and the live preview of the current inputs.

use std::collections::HashMap;

use egui::{Color32, RichText};

use super::super::panel::{PanelCtx, Request};
use super::super::widgets::{self, MODALITY_COLOURS, value_bar};
use super::{TeachView, project_model_name};
use crate::data::project::{Advice, Project};
use crate::engine::Prediction;
use crate::worker::project::teach_config;

impl TeachView {
    /// Train button, what stands in the way, and how it will train.
    pub(super) fn train_ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>) {
        let Some(project) = self.project() else {
            return;
        };
        let advice = project.advice();
        let (backbones, note) = self
            .snapshot
            .as_ref()
            .map(|s| (s.encoders, s.encoder_note.clone()))
            .unwrap_or_default();
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
