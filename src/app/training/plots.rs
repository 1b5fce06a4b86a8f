//! The training panel's plots: the curves of every run, and the last run's confusion matrix and
//! per-class scores.

use egui::{Color32, RichText};
use egui_plot::{Legend, Line, LineStyle, PlotPoints};

use super::{Curve, TrainingView, run_colour};
use crate::app::panel::{PanelCtx, Request};
use crate::app::widgets::{self, MODALITY_COLOURS, class_colour};
use crate::data::{Modality, Split};
use crate::engine::{Evaluation, Metrics};
use crate::worker::TrainingSummary;

/// Lines the curves' legend names at most, so it never covers the plot; the lines of older runs
/// are drawn unnamed (the Runs list names every run in its colour).
const LEGEND_LINES: usize = 8;

/// How many of the newest visible runs the legend names when each run draws `series` lines.
fn legend_runs(series: usize) -> usize {
    (LEGEND_LINES / series.max(1)).max(1)
}

/// The evaluation a finished run is judged by: on the test split, else on the validation split.
pub(super) fn final_evaluation(summary: &TrainingSummary) -> Option<(Split, &Evaluation)> {
    match (&summary.test, &summary.val) {
        (Some(t), _) => Some((Split::Test, t)),
        (None, Some(v)) => Some((Split::Val, v)),
        _ => None,
    }
}

/// "test acc 0.912" (or "val acc …"): a finished run's accuracy, saying on which split.
pub(super) fn accuracy_text(summary: &TrainingSummary) -> String {
    match final_evaluation(summary) {
        Some((split, e)) => format!("{} acc {:.3}", split.name(), e.metrics.accuracy),
        None => "no val or test split".to_owned(),
    }
}

impl TrainingView {
    pub(super) fn curves_ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>) {
        ui.horizontal(|ui| {
            ui.strong("Curves");
            for c in Curve::ALL {
                ui.selectable_value(&mut self.curve, c, c.name())
                    .on_hover_text(c.help());
            }
        });
        let curve = self.curve;
        let runs = &self.runs;
        let series_per_run = curve.series().len();
        let visible = runs.iter().filter(|r| r.visible).count();
        let named = legend_runs(series_per_run).min(visible);
        let plot = widgets::plot("training_curves")
            .legend(Legend::default().follow_insertion_order(true))
            .height(260.0)
            .x_axis_label("epoch")
            .include_y(0.0)
            .show(ui, |plot| {
                let shown = runs.iter().enumerate().filter(|(_, r)| r.visible);
                for (rank, (i, run)) in shown.enumerate() {
                    let newest = i + 1 == runs.len();
                    // Only the newest `named` visible runs have their lines in the legend.
                    let in_legend = rank + named >= visible;
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
                        let name = match in_legend {
                            true => format!("{} {}", run.name, series.name),
                            false => String::new(),
                        };
                        let mut line = Line::new(name, PlotPoints::from(points))
                            .color(colour)
                            .width(2.0);
                        if dashed {
                            line = line.style(LineStyle::dashed_dense());
                        }
                        plot.line(line);
                    }
                }
            });
        if visible > named {
            ui.small(format!(
                "The legend names the {named} newest of the {visible} runs shown; the {} older \
                 ones are drawn without a name (their colours are in the Runs list above, \
                 untick them there to hide them).",
                visible - named
            ));
        }
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
        let Some((split, eval)) = final_evaluation(&summary) else {
            return;
        };
        let classes = ctx
            .exploration
            .map(|e| e.classes.clone())
            .filter(|c| c.len() == eval.metrics.confusion.len())
            .unwrap_or_else(|| summary.card.classes.clone());
        ui.heading(format!(
            "Last run: {} · {} macro-F1 {:.3}",
            accuracy_text(&summary),
            split.name(),
            eval.metrics.macro_f1
        ));
        ui.columns(2, |cols| {
            if let Some((truth, predicted)) = confusion_ui(&mut cols[0], &eval.metrics, &classes) {
                ctx.request(Request::ShowConfusion {
                    truth,
                    predicted,
                    split,
                });
            }
            per_class_ui(&mut cols[1], &eval.metrics, &classes, split);
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

fn per_class_ui(ui: &mut egui::Ui, m: &Metrics, classes: &[String], split: Split) {
    let which = split.name();
    ui.strong(format!("Per class ({which} split)"));
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
        ui.small(format!(
            "With a single modality, {which} accuracy: {}",
            only.join(" · ")
        ));
    }
    let w = m.mean_weights;
    ui.small(format!(
        "Mean reliance on the {which} split: image {:.0}% · text {:.0}% · audio {:.0}%",
        w[0] * 100.0,
        w[1] * 100.0,
        w[2] * 100.0
    ));
}

#[cfg(test)]
mod tests {
    use super::{LEGEND_LINES, legend_runs};
    use crate::app::training::Curve;

    #[test]
    fn the_legend_never_names_more_than_eight_lines() {
        for curve in Curve::ALL {
            let series = curve.series().len();
            let runs = legend_runs(series);
            assert!(runs >= 1);
            assert!(runs * series <= LEGEND_LINES.max(series), "{curve:?}");
        }
        assert_eq!(legend_runs(2), 4);
        assert_eq!(legend_runs(1), 8);
        assert_eq!(legend_runs(3), 2);
    }
}
