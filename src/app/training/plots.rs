//! The training panel's plots: the curves of every run, and the last run's confusion matrix and
//! per-class scores.

use egui::{Color32, RichText};
use egui_plot::{Legend, Line, LineStyle, Plot, PlotPoints};

use super::{Curve, TrainingView, run_colour};
use crate::app::panel::{PanelCtx, Request};
use crate::app::widgets::{MODALITY_COLOURS, class_colour};
use crate::data::Modality;
use crate::engine::Metrics;

impl TrainingView {
    pub(super) fn curves_ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>) {
        ui.horizontal(|ui| {
            ui.strong("Curves");
            for c in Curve::ALL {
                ui.selectable_value(&mut self.curve, c, c.name());
            }
        });
        let curve = self.curve;
        let runs = &self.runs;
        let plot = Plot::new("training_curves")
            .legend(Legend::default())
            .height(260.0)
            .x_axis_label("epoch")
            .include_y(0.0)
            .show(ui, |plot| {
                for (i, run) in runs.iter().enumerate().filter(|(_, r)| r.visible) {
                    let newest = i + 1 == runs.len();
                    for series in curve.series() {
                        // Per-modality curves are coloured by modality, the others by run.
                        let (colour, dashed) = match series.modality {
                            Some(m) => (MODALITY_COLOURS[m], !newest),
                            None => (run_colour(i), series.train),
                        };
                        let points: Vec<[f64; 2]> = run
                            .history
                            .iter()
                            .filter_map(|e| (series.value)(e).map(|y| [e.epoch as f64, y]))
                            .collect();
                        let mut line = Line::new(
                            format!("{} {}", run.name, series.name),
                            PlotPoints::from(points),
                        )
                        .color(colour)
                        .width(2.0);
                        if dashed {
                            line = line.style(LineStyle::dashed_dense());
                        }
                        plot.line(line);
                    }
                }
            });
        if !runs.is_empty() {
            ctx.png_button(ui, "Save curves PNG", plot.response.rect, "training-curves");
        }
        if matches!(curve, Curve::SingleModality | Curve::Weights) {
            ui.small("Colours are the modalities; the newest run is solid, earlier runs dashed.");
        } else {
            ui.small("Colours are the runs; dashed = training set, solid = validation set.");
        }
    }

    pub(super) fn evaluation_ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>) {
        let Some(summary) = self.last_finished().cloned() else {
            ui.label("The confusion matrix and per-class scores appear when a run finishes.");
            return;
        };
        let (which, eval) = match (&summary.test, &summary.val) {
            (Some(t), _) => ("test", t),
            (None, Some(v)) => ("validation", v),
            _ => return,
        };
        let classes = ctx
            .exploration
            .map(|e| e.classes.clone())
            .filter(|c| c.len() == eval.metrics.confusion.len())
            .unwrap_or_else(|| summary.card.classes.clone());
        ui.heading(format!(
            "Last run on the {which} set: accuracy {:.3} · macro-F1 {:.3}",
            eval.metrics.accuracy, eval.metrics.macro_f1
        ));
        ui.columns(2, |cols| {
            if let Some((truth, predicted)) = confusion_ui(&mut cols[0], &eval.metrics, &classes) {
                ctx.request(Request::ShowConfusion {
                    truth,
                    predicted,
                    split: match which {
                        "test" => crate::data::Split::Test,
                        _ => crate::data::Split::Val,
                    },
                });
            }
            per_class_ui(&mut cols[1], &eval.metrics, &classes);
        });
    }
}

/// The confusion matrix as heat-mapped buttons; returns the clicked cell `(true, predicted)`.
fn confusion_ui(ui: &mut egui::Ui, m: &Metrics, classes: &[String]) -> Option<(usize, usize)> {
    ui.strong("Confusion matrix (rows: true class, columns: predicted) — click a cell to see those samples");
    let max = m
        .confusion
        .iter()
        .flatten()
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f32;
    let mut clicked = None;
    egui::ScrollArea::horizontal()
        .id_salt("confusion_scroll")
        .show(ui, |ui| {
            egui::Grid::new("confusion")
                .spacing([2.0, 2.0])
                .show(ui, |ui| {
                    ui.label("");
                    for c in classes {
                        ui.small(short(c));
                    }
                    ui.end_row();
                    for (t, row) in m.confusion.iter().enumerate() {
                        ui.small(short(classes.get(t).map_or("?", String::as_str)));
                        for (p, &count) in row.iter().enumerate() {
                            let v = count as f32 / max;
                            let base = if t == p {
                                Color32::from_rgb(40, 140, 80)
                            } else {
                                Color32::from_rgb(200, 60, 50)
                            };
                            let fill = if count == 0 {
                                ui.visuals().extreme_bg_color
                            } else {
                                base.gamma_multiply(0.25 + 0.75 * v)
                            };
                            let button = egui::Button::new(
                                RichText::new(count.to_string()).color(Color32::WHITE),
                            )
                            .fill(fill)
                            .min_size(egui::vec2(34.0, 22.0));
                            let name = format!(
                                "{} predicted as {}: {count}",
                                classes.get(t).map_or("?", String::as_str),
                                classes.get(p).map_or("?", String::as_str)
                            );
                            let response = ui.add(button);
                            response.widget_info(|| {
                                egui::WidgetInfo::labeled(egui::Role::Button, true, &name)
                            });
                            if response.on_hover_text(&name).clicked() {
                                clicked = Some((t, p));
                            }
                        }
                        ui.end_row();
                    }
                });
        });
    clicked
}

fn short(name: &str) -> String {
    if name.chars().count() > 10 {
        let s: String = name.chars().take(9).collect();
        format!("{s}…")
    } else {
        name.to_owned()
    }
}

fn per_class_ui(ui: &mut egui::Ui, m: &Metrics, classes: &[String]) {
    ui.strong("Per class");
    egui::Grid::new("per_class").striped(true).show(ui, |ui| {
        for h in ["class", "precision", "recall", "F1", "samples"] {
            ui.strong(h);
        }
        ui.end_row();
        for (c, s) in m.per_class.iter().enumerate() {
            ui.label(
                RichText::new(classes.get(c).map_or("?", String::as_str)).color(class_colour(c)),
            );
            ui.label(format!("{:.3}", s.precision));
            ui.label(format!("{:.3}", s.recall));
            ui.label(format!("{:.3}", s.f1));
            ui.label(s.support.to_string());
            ui.end_row();
        }
    });
    let only: Vec<String> = Modality::ALL
        .iter()
        .filter_map(|mo| m.modality_only[mo.index()].map(|a| format!("{} only {a:.3}", mo.name())))
        .collect();
    if !only.is_empty() {
        ui.small(format!("With a single modality: {}", only.join(" · ")));
    }
    let w = m.mean_weights;
    ui.small(format!(
        "Mean reliance: image {:.0}% · text {:.0}% · audio {:.0}%",
        w[0] * 100.0,
        w[1] * 100.0,
        w[2] * 100.0
    ));
}
