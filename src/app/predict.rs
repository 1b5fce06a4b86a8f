//! The prediction panel: class probabilities, how much the model relied on each modality, where
//! inside each modality it looked (`attention`), and what-if toggles that mask a modality.

mod attention;

use attention::AttentionGeometry;

use egui::{RichText, TextureHandle};

use super::Inputs;
use super::panel::PanelCtx;
use super::widgets::{self, MODALITY_COLOURS, class_colour, value_bar};
use crate::data::Modality;
use crate::engine::Prediction;
use crate::model::WeightKind;
use crate::worker::{JobId, Outcome};

/// State of the prediction view.
pub struct PredictView {
    /// The latest answer for the current inputs and toggles.
    pub current: Option<Prediction>,
    /// The latest answer with every given modality used (what the toggles compare against).
    pub reference: Option<Prediction>,
    /// What-if toggles: use this modality.
    pub keep: [bool; 3],
    /// The newest prediction job sent, and whether it used every modality.
    pub pending: Option<(JobId, bool)>,
    /// The last prediction error, shown inline.
    pub error: Option<String>,
    /// Where "Where the model looked" drew the picture, its heatmap and the frame bars.
    pub drawn: AttentionGeometry,
    spectrogram: Option<(usize, TextureHandle)>,
    generation: usize,
}

impl Default for PredictView {
    fn default() -> Self {
        Self {
            current: None,
            reference: None,
            keep: [true; 3],
            pending: None,
            error: None,
            drawn: AttentionGeometry::default(),
            spectrogram: None,
            generation: 0,
        }
    }
}

impl PredictView {
    /// The end of a prediction job: taken when it is the newest request's (older ones are
    /// stale: the inputs changed since).
    pub fn on_end(&mut self, job: JobId, outcome: &Outcome) {
        let Some((pending, full)) = self.pending else {
            return;
        };
        if job != pending {
            return;
        }
        match outcome {
            Outcome::Prediction(prediction) => {
                if full {
                    self.reference = Some((**prediction).clone());
                }
                self.current = Some((**prediction).clone());
                self.error = None;
                self.generation += 1;
            }
            Outcome::Failed { message } => self.error = Some(message.clone()),
            _ => {}
        }
    }

    /// Counts the answers taken and the clears: it changes whenever `current` does.
    pub fn generation(&self) -> usize {
        self.generation
    }

    /// Forget the answers (no inputs, or a new model).
    pub fn clear(&mut self) {
        self.current = None;
        self.reference = None;
        self.generation += 1;
    }

    /// The current prediction's spectrogram as a texture.
    pub fn spectrogram_texture(&mut self, ctx: &egui::Context) -> Option<TextureHandle> {
        let p = self.current.as_ref()?;
        if self
            .spectrogram
            .as_ref()
            .is_none_or(|(g, _)| *g != self.generation)
        {
            let (w, h, px) = crate::viz::spectrogram_rgb(&p.spectrogram, p.mel_bins)?;
            let tex = widgets::rgb_texture(ctx, "spectrogram", w, h, &px, true)?;
            self.spectrogram = Some((self.generation, tex));
        }
        self.spectrogram.as_ref().map(|(_, t)| t.clone())
    }
}

/// Text for a weight kind.
pub fn weight_kind_text(kind: WeightKind) -> (&'static str, &'static str) {
    match kind {
        WeightKind::Native => (
            "native",
            "The fusion layer's own weights: how strongly it mixed in each modality for this input.",
        ),
        WeightKind::Shapley => (
            "Shapley",
            "This fusion method has no weights of its own, so these are exact Shapley values: each \
             modality's average effect on the predicted class's probability when it is added to \
             every subset of the others (normalised to sum to 1).",
        ),
    }
}

impl PredictView {
    /// Draw the panel for the current `inputs` (a what-if toggle marks them changed).
    pub fn ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>, inputs: &mut Inputs) {
        if ctx.model.card.is_none() {
            ui.heading("Prediction");
            ui.label(
                "There is no model yet. Press Train in the top bar (a few seconds on the built-in \
                 data), or load one from the Model menu.",
            );
            return;
        }
        let present = inputs.present();
        if !present.iter().any(|&p| p) {
            ui.heading("Prediction");
            ui.label(
                "Give the model something: open or drop an image, type a sentence, record or \
                 load a sound, or pick an example or a dataset sample on the left.",
            );
            return;
        }
        if let Some(err) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, format!("Error: {err}"));
        }
        let Some(p) = self.current.clone() else {
            ui.horizontal(|ui| {
                crate::app::widgets::quiet_spinner(ui);
                ui.label("predicting…");
            });
            return;
        };
        let reference = self.reference.clone();
        let masked = (0..3).any(|m| present[m] && !self.keep[m]);
        egui::ScrollArea::vertical()
            .id_salt("predict_scroll")
            .show(ui, |ui| {
                let top = p.classes.get(p.predicted).cloned().unwrap_or_default();
                ui.horizontal(|ui| {
                    ui.heading(format!("Prediction: {top}"));
                    ui.label(
                        RichText::new(format!(
                            "{:.0}%",
                            p.probs.get(p.predicted).unwrap_or(&0.0) * 100.0
                        ))
                        .heading(),
                    );
                    if ui
                        .button("Export report")
                        .on_hover_text("Save the inputs, probabilities and modality weights as JSON in the export folder")
                        .clicked()
                    {
                        self.export(ctx, inputs);
                    }
                });
                self.what_if_ui(ui, inputs, present, masked, &p, reference.as_ref());
                ui.add_space(6.0);
                ui.columns(2, |cols| {
                    cols[0].strong("Class probabilities");
                    for (c, name) in p.classes.iter().enumerate() {
                        let prob = p.probs.get(c).copied().unwrap_or(0.0);
                        let before = reference
                            .as_ref()
                            .filter(|_| masked)
                            .and_then(|r| r.probs.get(c).copied());
                        let text = match before {
                            Some(b) => format!(
                                "{name}  {:.1}%  (all inputs: {:.1}%)",
                                prob * 100.0,
                                b * 100.0
                            ),
                            None => format!("{name}  {:.1}%", prob * 100.0),
                        };
                        value_bar(&mut cols[0], prob, before, class_colour(c), &text);
                    }
                    let (kind, help) = weight_kind_text(p.weight_kind);
                    cols[1]
                        .strong(format!("Reliance on each modality ({kind})"))
                        .on_hover_text(help);
                    for m in Modality::ALL {
                        let i = m.index();
                        let text = if p.present[i] {
                            format!("{}  {:.0}%", m.name(), p.weights[i] * 100.0)
                        } else if present[i] {
                            format!("{}  masked", m.name())
                        } else {
                            format!("{}  not given", m.name())
                        };
                        value_bar(&mut cols[1], p.weights[i], None, MODALITY_COLOURS[i], &text)
                            .on_hover_text(help);
                    }
                    cols[1].small(help);
                });
                ui.add_space(8.0);
                ui.strong("Where the model looked inside each modality");
                ui.columns(3, |cols| {
                    let card = ctx.model.card.as_ref();
                    self.drawn.image =
                        attention::image_attention_ui(&mut cols[0], inputs, &p, card);
                    attention::text_attention_ui(&mut cols[1], &p);
                    self.drawn.audio = self.audio_attention_ui(&mut cols[2], &p);
                });
            });
    }

    fn what_if_ui(
        &mut self,
        ui: &mut egui::Ui,
        inputs: &mut Inputs,
        present: [bool; 3],
        masked: bool,
        p: &Prediction,
        reference: Option<&Prediction>,
    ) {
        ui.horizontal_wrapped(|ui| {
            ui.label("What if:").on_hover_text(
                "Untick a modality to hide it from the model and see how the prediction moves.",
            );
            for m in Modality::ALL {
                let i = m.index();
                let response = ui
                    .add_enabled(
                        present[i],
                        egui::Checkbox::new(&mut self.keep[i], format!("use {}", m.name())),
                    )
                    .on_disabled_hover_text(format!("no {} given", m.name()));
                if response.changed() {
                    inputs.changed = true;
                }
            }
            if masked && let Some(r) = reference {
                let before = r.classes.get(r.predicted).cloned().unwrap_or_default();
                let now = p.classes.get(p.predicted).cloned().unwrap_or_default();
                let delta = p.probs.get(r.predicted).copied().unwrap_or(0.0)
                    - r.probs.get(r.predicted).copied().unwrap_or(0.0);
                let text = if before == now {
                    format!(
                        "still {now}; its probability moved {:+.1} points",
                        delta * 100.0
                    )
                } else {
                    format!("changed: {before} -> {now}")
                };
                ui.colored_label(ui.visuals().warn_fg_color, text);
            }
        });
    }

    /// The current prediction as a JSON report in the export folder.
    fn export(&self, ctx: &mut PanelCtx<'_>, inputs: &Inputs) {
        let Some(prediction) = &self.current else {
            ctx.notifications.error(
                "Exporting the prediction",
                "there is no prediction yet: give an input first",
            );
            return;
        };
        let report = crate::export::ReportInputs {
            image: inputs.image.as_ref().map(|i| i.name.clone()),
            text: Some(inputs.text.clone()).filter(|t| !t.trim().is_empty()),
            audio: inputs.audio.as_ref().map(|a| a.name.clone()),
        };
        let model = ctx.model.dir.as_ref().map_or_else(
            || {
                ctx.model
                    .card
                    .as_ref()
                    .map(|c| format!("{} (not saved)", c.model.fusion.name()))
                    .unwrap_or_default()
            },
            |d| d.display().to_string(),
        );
        ctx.export("prediction report", "prediction", "json", |p| {
            crate::export::prediction_json(p, &model, &report, prediction)
        });
    }
}
