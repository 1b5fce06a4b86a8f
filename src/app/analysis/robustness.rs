//! The Analysis panel's robustness: corrupt one modality at a time and plot accuracy against
//! the corruption level, for the current model or every compared one.

use egui_plot::{Legend, Line, LineStyle, PlotPoints};

use super::{AnalysisView, MODALITIES, ticked};
use crate::app::panel::PanelCtx;
use crate::app::widgets::{self, class_colour};
use crate::engine::robustness::{Corruption, RobustnessConfig};
use crate::worker::Job;

impl AnalysisView {
    /// Measure robustness of the current model (or of every compared one).
    pub fn start_robustness(&mut self, ctx: &mut PanelCtx<'_>) {
        let corruptions = ticked(Corruption::ALL, self.corruption_pick);
        if corruptions.is_empty() {
            self.error = Some("tick at least one corruption".into());
            return;
        }
        let Some(dataset) = self.analysis_request(ctx) else {
            return;
        };
        let config = RobustnessConfig {
            corruptions,
            ..self.robustness.clone()
        };
        let compared = self.all_compared && !self.compare_rows.is_empty();
        let job = ctx.jobs.start(Job::Robustness {
            dataset,
            load: crate::data::LoadOptions::default(),
            config,
            compared,
        });
        self.robustness_job = Some(job);
        self.robustness_start = Some((job, ctx.settings.dataset.clone(), compared));
    }

    pub(super) fn robustness_ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>) {
        ui.heading("Robustness");
        ui.label("Corrupt one modality at a time, from level 0 (clean) to 1 (worst), and measure accuracy on the test split.");
        let running = self.robustness_job.and_then(|id| ctx.jobs.get(id)).cloned();
        egui::Grid::new("corruption_pick").show(ui, |ui| {
            for (m, name) in MODALITIES.iter().enumerate() {
                ui.strong(*name);
                for (c, on) in Corruption::ALL
                    .into_iter()
                    .zip(self.corruption_pick.iter_mut())
                    .filter(|(c, _)| c.modality() == m)
                {
                    let text = c.label().split(": ").nth(1).unwrap_or(c.label());
                    ui.add_enabled(running.is_none(), egui::Checkbox::new(on, text))
                        .on_hover_text(format!(
                            "{}: at level 0.5, {}",
                            c.label(),
                            c.level_text(0.5)
                        ));
                }
                ui.end_row();
            }
        });
        ui.horizontal(|ui| {
            let label = ui.label("Levels");
            ui.add_enabled(
                running.is_none(),
                egui::DragValue::new(&mut self.robustness.levels).range(2..=21),
            )
            .labelled_by(label.id);
            let has_compared = !self.compare_rows.is_empty();
            // Shown unticked while there is nothing compared to measure.
            let mut none = false;
            let all = if has_compared {
                &mut self.all_compared
            } else {
                &mut none
            };
            ui.add_enabled(
                has_compared && running.is_none(),
                egui::Checkbox::new(all, "All compared models"),
            )
            .on_hover_text("Measure every model of the last comparison (and get effective robustness against late fusion).");
            if let Some(job) = &running {
                if ui.button("Stop robustness").clicked() {
                    ctx.jobs.cancel(job.id);
                }
                if let Some(p) = &job.progress {
                    ui.add(
                        egui::ProgressBar::new(job.fraction())
                            .text(format!("{}: {}", p.what, job.progress_text())),
                    );
                }
            } else if ui
                .add_enabled(!ctx.jobs.is_training(), egui::Button::new("Measure robustness"))
                .clicked()
            {
                self.start_robustness(ctx);
            }
        });
        self.robustness_results_ui(ui, ctx);
    }

    fn robustness_results_ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>) {
        let Some(result) = &self.robustness_result else {
            return;
        };
        ui.label(format!(
            "{} ({} split, {} samples)",
            result.dataset,
            result.split.name(),
            result.reports.first().map_or(0, |r| r.samples)
        ));
        ui.small(result.on.text());
        // Tabs only for the modalities that were measured (the data may lack one).
        let measured: Vec<usize> = (0..MODALITIES.len())
            .filter(|&m| {
                result
                    .reports
                    .iter()
                    .any(|r| r.curves.iter().any(|c| c.corruption.modality() == m))
            })
            .collect();
        if !measured.contains(&self.robustness_modality)
            && let Some(&first) = measured.first()
        {
            self.robustness_modality = first;
        }
        ui.horizontal(|ui| {
            for &m in &measured {
                let name = MODALITIES[m];
                ui.selectable_value(&mut self.robustness_modality, m, format!("{name} curves"));
            }
        });
        let modality = self.robustness_modality;
        let reports = &result.reports;
        let split = result.split.name();
        let plot = widgets::plot("robustness_plot")
            .legend(Legend::default())
            .height(260.0)
            .x_axis_label("corruption level")
            .y_axis_label(format!("{split} accuracy"))
            .include_x(0.0)
            .include_x(1.0)
            .include_y(0.0)
            .include_y(1.0)
            .show(ui, |plot| {
                for (i, r) in reports.iter().enumerate() {
                    let styles = [
                        LineStyle::Solid,
                        LineStyle::dashed_loose(),
                        LineStyle::dotted_loose(),
                        LineStyle::dashed_dense(),
                    ];
                    for (k, c) in r
                        .curves
                        .iter()
                        .filter(|c| c.corruption.modality() == modality)
                        .enumerate()
                    {
                        let points: Vec<[f64; 2]> = c
                            .levels
                            .iter()
                            .zip(&c.accuracy)
                            .map(|(&l, &a)| [f64::from(l), f64::from(a)])
                            .collect();
                        let name = if reports.len() > 1 {
                            format!("{} {}", r.model, c.corruption.label())
                        } else {
                            c.corruption.label().to_owned()
                        };
                        let colour = if reports.len() > 1 {
                            class_colour(i)
                        } else {
                            class_colour(k)
                        };
                        plot.line(
                            Line::new(name, PlotPoints::from(points))
                                .color(colour)
                                .style(styles[k % styles.len()])
                                .width(2.0),
                        );
                    }
                }
            });
        let rect = plot.response.rect;
        egui::Grid::new("robustness_table")
            .striped(true)
            .show(ui, |ui| {
                let clean = format!("clean {split} acc");
                for h in ["model", &clean, "corruption", "area", "effective"] {
                    ui.strong(h);
                }
                ui.end_row();
                for r in reports {
                    for c in r.curves.iter().filter(|c| c.corruption.modality() == modality) {
                        ui.label(&r.model);
                        ui.label(format!("{:.3}", r.clean_accuracy));
                        ui.label(c.corruption.label());
                        ui.label(format!("{:.3}", c.relative))
                            .on_hover_text("Relative robustness: area under the accuracy curve (1 = never hurt).");
                        ui.label(c.effective.map_or_else(|| "-".to_owned(), |e| format!("{e:+.3}")))
                            .on_hover_text("Effective robustness: how much less accuracy it loses than late fusion, averaged over the levels (needs a compared late fusion model).");
                        ui.end_row();
                    }
                }
            });
        let reports = reports.clone();
        ui.horizontal(|ui| {
            if ui.button("Export robustness CSV").clicked() {
                ctx.export("robustness curves", "robustness", "csv", |p| {
                    crate::export::robustness_csv(p, &reports)
                });
            }
            ctx.png_button(ui, "Save robustness plot PNG", rect, "robustness");
        });
    }
}
