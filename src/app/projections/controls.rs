//! The projections panel's controls: embedding space, method, colouring, export; the PCA
//! caption with its scree chart, or the t-SNE settings with Run / Stop and progress.

use super::{ColourBy, Method, ProjectionView};
use crate::app::panel::PanelCtx;
use crate::app::widgets::clock;
use crate::worker::SPACES;

impl ProjectionView {
    /// Space, method and colouring; returns whether Export embeddings was pressed.
    pub(super) fn toolbar_ui(&mut self, ui: &mut egui::Ui) -> bool {
        ui.horizontal_wrapped(|ui| {
            ui.label("Embedding");
            egui::ComboBox::from_id_salt("proj_space")
                .selected_text(SPACES[self.space])
                .show_ui(ui, |ui| {
                    for (i, name) in SPACES.iter().enumerate() {
                        ui.selectable_value(&mut self.space, i, *name);
                    }
                });
            ui.separator();
            ui.selectable_value(&mut self.method, Method::Pca, "PCA");
            ui.selectable_value(&mut self.method, Method::Tsne, "t-SNE");
            ui.separator();
            ui.label("Colour by");
            egui::ComboBox::from_id_salt("proj_colour")
                .selected_text(match self.colour {
                    ColourBy::Class => "true class",
                    ColourBy::Predicted => "predicted class",
                    ColourBy::Correct => "right / wrong",
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.colour, ColourBy::Class, "true class");
                    ui.selectable_value(&mut self.colour, ColourBy::Predicted, "predicted class");
                    ui.selectable_value(&mut self.colour, ColourBy::Correct, "right / wrong");
                });
        });
        let mut export = false;
        ui.horizontal(|ui| {
            export = ui
                .button("Export embeddings")
                .on_hover_text("TensorBoard projector files (vectors.tsv, metadata.tsv) and the 2-D coordinates shown (coordinates.csv), in a new folder in the export folder")
                .clicked();
        });
        export
    }

    /// The PCA caption, or the t-SNE settings, Run / Stop and its progress.
    pub(super) fn method_ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>) {
        let Some(e) = ctx.exploration else {
            return;
        };
        let mut command = None;
        match self.method {
            Method::Pca => {
                if let Some(pca) = e.projections.get(self.space).and_then(|p| p.pca.as_ref()) {
                    ui.horizontal(|ui| {
                        ui.small(format!(
                            "PCA of the {} embeddings: component 1 explains {:.0}% of the variance, component 2 {:.0}% (together {:.0}%). The star is the current input.",
                            SPACES[self.space],
                            pca.explained[0] * 100.0,
                            pca.explained[1] * 100.0,
                            (pca.explained[0] + pca.explained[1]) * 100.0
                        ));
                        spectrum_bars(ui, &pca.spectrum);
                    });
                }
            }
            Method::Tsne => {
                ui.horizontal_wrapped(|ui| {
                    let running = self.tsne.as_ref().is_some_and(|t| ctx.jobs.is_running(t.job));
                    ui.add_enabled_ui(!running, |ui| {
                        let l = ui.label("Perplexity");
                        ui.add(
                            egui::DragValue::new(&mut self.tsne_config.perplexity)
                                .range(2.0..=100.0),
                        )
                        .labelled_by(l.id);
                        let l = ui.label("Iterations");
                        ui.add(
                            egui::DragValue::new(&mut self.tsne_config.iterations).range(50..=5000),
                        )
                        .labelled_by(l.id);
                        let l = ui.label("Theta");
                        ui.add(
                            egui::DragValue::new(&mut self.tsne_config.theta)
                                .range(0.0..=1.0)
                                .speed(0.01),
                        )
                        .labelled_by(l.id)
                        .on_hover_text("Barnes-Hut accuracy: 0 is exact (slow beyond a few thousand points), 0.5 is the usual trade-off, 1 is fastest and roughest.");
                        let l = ui.label("Learning rate");
                        ui.add(
                            egui::DragValue::new(&mut self.tsne_config.learning_rate)
                                .range(1.0..=2000.0),
                        )
                        .labelled_by(l.id);
                    });
                    if running {
                        if ui.button("Stop t-SNE").clicked()
                            && let Some(t) = &self.tsne
                        {
                            ctx.jobs.cancel(t.job);
                        }
                    } else if ui.button("Run t-SNE").clicked() {
                        command = Some((self.space, self.tsne_config.clone()));
                    }
                });
                match &self.tsne {
                    Some(t) if t.space == self.space => {
                        let (done, total) = t.iteration;
                        if ctx.jobs.is_running(t.job) {
                            let eta = t
                                .started
                                .map_or(0.0, |s| crate::app::widgets::eta_seconds(s, done, total));
                            ui.add(
                                egui::ProgressBar::new(done as f32 / total.max(1) as f32).text(
                                    format!(
                                        "t-SNE iteration {done}/{total} · KL {:.3} · {} left",
                                        t.kl,
                                        clock(eta)
                                    ),
                                ),
                            );
                        } else {
                            ui.small(format!(
                                "t-SNE of {} {} embeddings (Barnes-Hut; up to {} points) · KL {:.3}",
                                t.samples.len(),
                                SPACES[t.space],
                                crate::worker::TSNE_MAX_POINTS,
                                t.kl
                            ));
                        }
                    }
                    _ => {
                        ui.small("Press Run t-SNE: it runs in the background and the points move as it converges.");
                    }
                }
            }
        }
        if let Some((space, config)) = command {
            self.start_tsne(space, config, ctx);
        }
    }
}

/// A tiny scree chart: the share of variance of each principal component.
fn spectrum_bars(ui: &mut egui::Ui, spectrum: &[f32]) {
    if spectrum.is_empty() {
        return;
    }
    let (w, h) = (9.0, 28.0);
    let (rect, response) = ui.allocate_exact_size(
        egui::vec2(w * spectrum.len() as f32, h),
        egui::Sense::hover(),
    );
    let painter = ui.painter_at(rect);
    let top = spectrum[0].max(1e-6);
    for (i, v) in spectrum.iter().enumerate() {
        let height = h * (v / top).clamp(0.0, 1.0);
        let x = rect.left() + i as f32 * w;
        let bar = egui::Rect::from_min_max(
            egui::pos2(x + 1.0, rect.bottom() - height),
            egui::pos2(x + w - 1.0, rect.bottom()),
        );
        let colour = if i < 2 {
            ui.visuals().selection.bg_fill
        } else {
            ui.visuals().weak_text_color()
        };
        painter.rect_filled(bar, 1.0, colour);
    }
    let text: Vec<String> = spectrum
        .iter()
        .enumerate()
        .map(|(i, v)| format!("PC{}: {:.1}%", i + 1, v * 100.0))
        .collect();
    response.on_hover_text(format!(
        "Variance explained per component (the two drawn are highlighted):\n{}",
        text.join("\n")
    ));
}
