//! The Analysis panel's comparison: train every ticked method with the same settings, a table of
//! their scores and a plot of their validation accuracy.

use egui_plot::{Legend, Line, PlotPoints};

use super::{AnalysisView, ComputedOn, Models, ticked};
use crate::app::panel::PanelCtx;
use crate::app::widgets::class_colour;
use crate::model::FusionKind;
use crate::worker::Job;

impl AnalysisView {
    /// Start comparing the ticked methods with the current training settings.
    pub fn start_compare(&mut self, ctx: &mut PanelCtx<'_>) {
        let fusions = ticked(FusionKind::ALL, self.compare_pick);
        if fusions.is_empty() {
            self.error = Some("tick at least one method to compare".into());
            return;
        }
        let Some(dataset) = ctx.dataset_spec(&mut self.error) else {
            return;
        };
        if let Err(e) = ctx.settings.train.validate() {
            self.error = Some(e.to_string());
            return;
        }
        if ctx.jobs.is_training() {
            return;
        }
        self.error = None;
        self.compare_rows.clear();
        let (total, first) = (fusions.len(), fusions[0]);
        let job = ctx.jobs.start(Job::Compare {
            dataset,
            load: crate::data::LoadOptions::default(),
            config: ctx.settings.train.clone(),
            fusions,
        });
        self.comparing = Some((job, 0, total, first));
        self.compare_on = Some(ComputedOn {
            dataset: ctx.settings.dataset.clone(),
            model: "one model per method, same settings".into(),
            models: Models::Compared(job),
        });
    }

    pub(super) fn compare_ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>) {
        ui.heading("Compare fusion methods");
        ui.label(format!(
            "Train every ticked method on {} with the same seed and the Training panel's settings, one after another.",
            ctx.settings.dataset
        ));
        let busy = ctx.jobs.is_training();
        ui.horizontal_wrapped(|ui| {
            for (f, on) in FusionKind::ALL
                .into_iter()
                .zip(self.compare_pick.iter_mut())
            {
                ui.add_enabled(!busy, egui::Checkbox::new(on, f.name()))
                    .on_hover_text(f.explanation());
            }
        });
        ui.horizontal(|ui| {
            if let Some((job, i, n, fusion)) = self.comparing {
                if ui.button("Stop comparing").clicked() {
                    ctx.jobs.cancel(job);
                }
                ui.label(format!(
                    "training {} ({} of {n}) · {}",
                    fusion.name(),
                    i + 1,
                    crate::app::training::progress_text(self.compare_progress.as_ref())
                ));
            } else if ui
                .add_enabled(!busy, egui::Button::new("Compare methods"))
                .on_hover_text("The models are kept for the robustness curves below; the best one becomes the current model.")
                .clicked()
            {
                self.start_compare(ctx);
            }
        });
        if self.compare_rows.is_empty() {
            return;
        }
        if let Some(on) = &self.compare_on {
            ui.small(on.text());
        }
        let (header, rows) = self.compare_table();
        egui::Grid::new("compare_table")
            .striped(true)
            .num_columns(header.len())
            .show(ui, |ui| {
                for h in &header {
                    ui.strong(*h);
                }
                ui.end_row();
                for row in &rows {
                    for cell in row {
                        ui.label(cell);
                    }
                    ui.end_row();
                }
            });
        if ui.button("Export comparison CSV").clicked() {
            ctx.export_table("comparison", &header, &rows);
        }
        let plot = crate::app::widgets::plot("compare_plot")
            .legend(Legend::default())
            .height(220.0)
            .x_axis_label("epoch")
            .y_axis_label("val accuracy")
            .include_y(0.0)
            .include_y(1.0)
            .show(ui, |plot| {
                for (i, r) in self.compare_rows.iter().enumerate() {
                    let points: Vec<[f64; 2]> = r
                        .summary
                        .history
                        .iter()
                        .map(|e| [e.epoch as f64, f64::from(e.val.accuracy)])
                        .collect();
                    plot.line(
                        Line::new(r.fusion.name(), PlotPoints::from(points))
                            .color(class_colour(i))
                            .width(2.0),
                    );
                }
            });
        ctx.png_button(
            ui,
            "Save comparison plot PNG",
            plot.response.rect,
            "comparison",
        );
    }
}
