//! One sample's card in the dataset panel: thumbnail, sentence, true and predicted class, the
//! modality weights, and buttons to load or play it.

use egui::{Color32, RichText};

use super::Browser;
use crate::app::Purpose;
use crate::app::widgets::{self, MODALITY_COLOURS, class_colour};

impl Browser {
    pub(super) fn sample_card_ui(
        &mut self,
        ui: &mut egui::Ui,
        i: usize,
        classes: &[String],
    ) -> Option<(usize, Purpose)> {
        let ctx = ui.ctx().clone();
        let thumb = self.thumb(&ctx, i);
        let selected = self.selected == Some(i);
        let e = self.exploration.as_ref()?;
        let s = e.samples.get(i)?;
        let mut action = None;
        let stroke = if selected {
            egui::Stroke::new(2.0, ui.visuals().selection.stroke.color)
        } else {
            ui.visuals().widgets.noninteractive.bg_stroke
        };
        egui::Frame::group(ui.style())
            .stroke(stroke)
            .show(ui, |ui| {
                ui.set_width(150.0);
                ui.vertical(|ui| {
                    ui.horizontal(|ui| {
                        match &thumb {
                            Some(t) => {
                                let (_, r) = widgets::texture(ui, t, egui::vec2(56.0, 56.0));
                                if r.on_hover_text("load into the inputs").clicked() {
                                    action = Some((i, Purpose::Sample));
                                }
                            }
                            None => {
                                ui.add_sized(
                                    [56.0, 56.0],
                                    egui::Label::new(RichText::new("no image").weak()),
                                );
                            }
                        }
                        ui.vertical(|ui| {
                            ui.small(&s.id);
                            ui.label(
                                RichText::new(classes.get(s.label).map_or("?", String::as_str))
                                    .color(class_colour(s.label)),
                            );
                            if let Some(o) = &s.outcome {
                                let ok = o.predicted == s.label;
                                let colour = if ok {
                                    Color32::from_rgb(80, 180, 90)
                                } else {
                                    Color32::from_rgb(230, 80, 70)
                                };
                                ui.label(
                                    RichText::new(format!(
                                        "{} {} {:.0}%",
                                        if ok { "right:" } else { "wrong:" },
                                        classes.get(o.predicted).map_or("?", String::as_str),
                                        o.confidence * 100.0
                                    ))
                                    .color(colour)
                                    .small(),
                                );
                            }
                        });
                    });
                    if let Some(o) = &s.outcome {
                        let (rect, _) =
                            ui.allocate_exact_size(egui::vec2(140.0, 6.0), egui::Sense::hover());
                        let mut x = rect.left();
                        for (weight, colour) in o.weights.iter().zip(MODALITY_COLOURS) {
                            let w = rect.width() * weight.clamp(0.0, 1.0);
                            ui.painter().rect_filled(
                                egui::Rect::from_min_size(
                                    egui::pos2(x, rect.top()),
                                    egui::vec2(w, rect.height()),
                                ),
                                0.0,
                                colour,
                            );
                            x += w;
                        }
                    }
                    let text = s.text.clone().unwrap_or_else(|| "— no text —".into());
                    ui.add(egui::Label::new(RichText::new(text).small()).truncate());
                    ui.horizontal(|ui| {
                        if s.present[2] {
                            if ui
                                .small_button("Play")
                                .on_hover_text("play this sample's sound")
                                .clicked()
                            {
                                action = Some((i, Purpose::Play));
                            }
                        } else {
                            ui.small("no sound");
                        }
                        if ui
                            .small_button("Use")
                            .on_hover_text(format!("load {} into the inputs", s.id))
                            .clicked()
                        {
                            action = Some((i, Purpose::Sample));
                        }
                    });
                });
            });
        action
    }
}
