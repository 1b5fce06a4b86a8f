//! The Analysis panel's modality contributions: mean native weights next to mean Shapley values,
//! overall and per class, with a sentence on whether the two agree.

use egui::Color32;

use super::{AnalysisView, ContributionResult, MODALITIES, ranking};
use crate::app::panel::PanelCtx;
use crate::app::widgets::{MODALITY_COLOURS, value_bar_sized};
use crate::engine::contribution::ContributionRow;
use crate::model::FusionKind;
use crate::worker::Job;

impl AnalysisView {
    /// Compute the mean native and Shapley weights of the current model.
    pub fn start_contributions(&mut self, ctx: &mut PanelCtx<'_>) {
        let Some(dataset) = self.analysis_request(ctx) else {
            return;
        };
        let job = ctx.jobs.start(Job::Contributions {
            dataset,
            load: crate::data::LoadOptions::default(),
            split: None,
        });
        self.contributions_job = Some(job);
        self.contributions_start = Some((job, ctx.settings.dataset.clone()));
    }

    pub(super) fn contributions_ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>) {
        ui.heading("Modality contribution");
        ui.label("How much the current model relied on each modality over the test split: the method's own weights next to Shapley values (the average change in confidence a modality brings over every subset of the others).");
        ui.horizontal(|ui| {
            if let Some(job) = self.contributions_job {
                crate::app::widgets::quiet_spinner(ui);
                let started = ctx.jobs.get(job).is_some_and(|j| j.active);
                ui.label(if started {
                    "explaining…"
                } else {
                    "queued: starts when the job before it ends…"
                });
                if ui.small_button("Stop").clicked() {
                    ctx.jobs.cancel(job);
                }
            } else if ui
                .add_enabled(
                    !ctx.jobs.is_training(),
                    egui::Button::new("Explain the dataset"),
                )
                .clicked()
            {
                self.start_contributions(ctx);
            }
        });
        let Some(result) = &self.contributions else {
            return;
        };
        let classes = ctx
            .model
            .card
            .as_ref()
            .map(|c| c.classes.clone())
            .unwrap_or_default();
        let name = |row: &ContributionRow| match row.class {
            None => format!("all {} samples", row.samples),
            Some(k) => format!(
                "class {} ({} samples)",
                classes.get(k).map_or("?", String::as_str),
                row.samples
            ),
        };
        let selected = self
            .contribution_row
            .min(result.rows.len().saturating_sub(1));
        let mut choice = selected;
        egui::ComboBox::from_label("Group")
            .selected_text(result.rows.get(selected).map(&name).unwrap_or_default())
            .show_ui(ui, |ui| {
                for (i, row) in result.rows.iter().enumerate() {
                    ui.selectable_value(&mut choice, i, name(row));
                }
            });
        self.contribution_row = choice;
        let Some(row) = result.rows.get(choice) else {
            return;
        };
        ui.label(format!(
            "{} fusion on {} ({} split)",
            result.fusion.name(),
            result.dataset,
            result.split.name()
        ));
        ui.small(result.on.text());
        contribution_bars(ui, row);
        ui.colored_label(
            Color32::from_rgb(0x4e, 0x79, 0xa7),
            verdict(result.fusion, row),
        );
        let (header, rows) = contribution_table(result, &classes);
        if ui.button("Export contributions CSV").clicked() {
            ctx.export_table("contributions", &header, &rows);
        }
    }
}

/// Width of the modality names' column of the contribution bars.
const NAME_WIDTH: f32 = 48.0;

/// Width of each of the two bar columns when the table has `available` points: half of what the
/// names and the spacing leave, but never so narrow that "image Shapley 0.42" is cut.
fn bar_width(available: f32, spacing: f32) -> f32 {
    ((available - NAME_WIDTH - 2.0 * spacing) / 2.0).max(130.0)
}

/// Native and Shapley bars side by side for one group. The bars get their width from the panel
/// (a grid cell's own width is only its column's minimum on the first frame).
fn contribution_bars(ui: &mut egui::Ui, row: &ContributionRow) {
    let spacing = ui.spacing().item_spacing.x;
    let width = bar_width(ui.available_width(), spacing);
    egui::ScrollArea::horizontal()
        .id_salt("contribution_bars_scroll")
        .show(ui, |ui| {
            egui::Grid::new("contribution_bars")
                .num_columns(3)
                .min_col_width(NAME_WIDTH)
                .show(ui, |ui| {
                    ui.label("");
                    ui.strong("native");
                    ui.strong("Shapley");
                    ui.end_row();
                    for m in 0..3 {
                        ui.label(MODALITIES[m]);
                        match row.native {
                            Some(n) => {
                                value_bar_sized(
                                    ui,
                                    width,
                                    n[m],
                                    None,
                                    MODALITY_COLOURS[m],
                                    &format!("{} native {:.2}", MODALITIES[m], n[m]),
                                );
                            }
                            None => {
                                ui.label("(no native weights)");
                            }
                        }
                        value_bar_sized(
                            ui,
                            width,
                            row.shapley[m],
                            None,
                            MODALITY_COLOURS[m].gamma_multiply(0.7),
                            &format!("{} Shapley {:.2}", MODALITIES[m], row.shapley[m]),
                        );
                        ui.end_row();
                    }
                });
        });
}

/// Whether the native weights and the Shapley values rank the modalities alike.
fn verdict(fusion: FusionKind, row: &ContributionRow) -> String {
    match row.native {
        None => format!(
            "{} fusion has no weights of its own; Shapley ranks {} first.",
            fusion.name(),
            MODALITIES[ranking(row.shapley)[0]]
        ),
        Some(n) if ranking(n) == ranking(row.shapley) => {
            "The two explanations agree on the ranking of the modalities.".to_owned()
        }
        Some(n) if ranking(n)[0] == ranking(row.shapley)[0] => format!(
            "Both put {} first, but rank the other two differently.",
            MODALITIES[ranking(n)[0]]
        ),
        Some(n) => format!(
            "They disagree: the native weights put {} first, Shapley puts {} first. Native weights say where the model looked; Shapley says which modality changed its answer.",
            MODALITIES[ranking(n)[0]],
            MODALITIES[ranking(row.shapley)[0]]
        ),
    }
}

/// Header and rows of the contributions CSV.
fn contribution_table(
    result: &ContributionResult,
    classes: &[String],
) -> ([&'static str; 8], Vec<Vec<String>>) {
    let header = [
        "group",
        "samples",
        "native image",
        "native text",
        "native audio",
        "shapley image",
        "shapley text",
        "shapley audio",
    ];
    let rows = result
        .rows
        .iter()
        .map(|r| {
            let mut cells = vec![
                r.class.map_or_else(
                    || "all".to_owned(),
                    |k| classes.get(k).cloned().unwrap_or_default(),
                ),
                r.samples.to_string(),
            ];
            cells.extend((0..3).map(|m| r.native.map_or_else(String::new, |n| n[m].to_string())));
            cells.extend(r.shapley.iter().map(ToString::to_string));
            cells
        })
        .collect();
    (header, rows)
}

#[cfg(test)]
mod tests {
    use super::{NAME_WIDTH, bar_width};

    #[test]
    fn both_bar_columns_fit_the_panel_and_stay_readable() {
        for available in [500.0, 640.0, 900.0, 1200.0] {
            let w = bar_width(available, 8.0);
            assert!(w >= 130.0);
            assert!(
                NAME_WIDTH + 2.0 * w + 16.0 <= available + 1e-3,
                "{available}"
            );
        }
        // Too narrow a panel keeps readable bars (the table scrolls sideways).
        assert_eq!(bar_width(200.0, 8.0), 130.0);
    }
}
