//! The Analysis panel: compare every fusion method on the current dataset, robustness curves
//! under corrupted inputs, and mean modality contributions (native weights next to Shapley).

use egui::Color32;
use egui_plot::{Legend, Line, LineStyle, Plot, PlotPoints};

use super::FusionApp;
use super::widgets::{MODALITY_COLOURS, class_colour, value_bar};
use crate::data::Split;
use crate::engine::contribution::ContributionRow;
use crate::engine::robustness::{Corruption, RobustnessConfig, RobustnessReport};
use crate::model::FusionKind;
use crate::worker::{Job, JobId, Outcome, TrainingSummary, Update};

/// One finished method of a comparison.
#[derive(Clone, Debug)]
pub struct CompareRow {
    /// The method.
    pub fusion: FusionKind,
    /// Trainable parameters.
    pub parameters: usize,
    /// How its training went.
    pub summary: TrainingSummary,
}

/// A robustness result.
#[derive(Clone, Debug)]
pub struct RobustnessResult {
    /// Dataset name.
    pub dataset: String,
    /// Split measured.
    pub split: Split,
    /// One report per model.
    pub reports: Vec<RobustnessReport>,
}

/// A contribution result.
#[derive(Clone, Debug)]
pub struct ContributionResult {
    /// Dataset name.
    pub dataset: String,
    /// Split used.
    pub split: Split,
    /// The model's method.
    pub fusion: FusionKind,
    /// Overall first, then per class.
    pub rows: Vec<ContributionRow>,
}

/// State of the Analysis panel.
#[derive(Debug)]
pub struct AnalysisView {
    /// Methods ticked for comparison.
    pub compare_pick: [bool; 7],
    /// The comparison job this panel started, and where it is: (position, methods in all,
    /// method now training).
    pub comparing: Option<(JobId, usize, usize, FusionKind)>,
    /// Finished methods of the last comparison.
    pub compare_rows: Vec<CompareRow>,
    /// Parameters of the run now training (from `TrainingStarted`).
    pub pending_parameters: usize,
    /// Corruptions ticked.
    pub corruption_pick: [bool; 11],
    /// Robustness settings (levels, seed).
    pub robustness: RobustnessConfig,
    /// Measure every compared model.
    pub all_compared: bool,
    /// The robustness job this panel waits for.
    pub robustness_job: Option<JobId>,
    /// Last robustness result.
    pub robustness_result: Option<RobustnessResult>,
    /// Which modality's curves are drawn.
    pub robustness_modality: usize,
    /// The contributions job this panel waits for.
    pub contributions_job: Option<JobId>,
    /// Last contribution result.
    pub contributions: Option<ContributionResult>,
    /// Which row of it is shown (0 = all samples).
    pub contribution_row: usize,
    /// Last error of this panel.
    pub error: Option<String>,
}

impl Default for AnalysisView {
    fn default() -> Self {
        Self {
            compare_pick: [true; 7],
            comparing: None,
            compare_rows: Vec::new(),
            pending_parameters: 0,
            corruption_pick: [true; 11],
            robustness: RobustnessConfig::default(),
            all_compared: true,
            robustness_job: None,
            robustness_result: None,
            robustness_modality: 0,
            contributions_job: None,
            contributions: None,
            contribution_row: 0,
            error: None,
        }
    }
}

const MODALITIES: [&str; 3] = ["image", "text", "audio"];

fn triple(v: [f32; 3]) -> String {
    format!("{:.2} / {:.2} / {:.2}", v[0], v[1], v[2])
}

fn ranking(v: [f32; 3]) -> [usize; 3] {
    let mut order = [0, 1, 2];
    order.sort_by(|&a, &b| v[b].total_cmp(&v[a]));
    order
}

impl AnalysisView {
    /// An update of a comparison job.
    pub fn on_update(&mut self, job: JobId, update: &Update) {
        let Some((mine, ..)) = self.comparing else {
            return;
        };
        if mine != job {
            return;
        }
        match update {
            Update::TrainingStarted { parameters, .. } => self.pending_parameters = *parameters,
            Update::CompareStep {
                index,
                total,
                fusion,
            } => self.comparing = Some((job, *index, *total, *fusion)),
            Update::MethodTrained(summary) => self.compare_rows.push(CompareRow {
                fusion: summary.card.model.fusion,
                parameters: self.pending_parameters,
                summary: (**summary).clone(),
            }),
            _ => {}
        }
    }

    /// The end of a comparison, robustness or contributions job this panel started.
    pub fn on_end(&mut self, job: JobId, outcome: &Outcome) {
        if self.comparing.is_some_and(|(mine, ..)| mine == job) {
            self.comparing = None;
        } else if self.robustness_job == Some(job) {
            self.robustness_job = None;
            if let Outcome::Robustness {
                dataset,
                split,
                reports,
            } = outcome
            {
                self.robustness_result = Some(RobustnessResult {
                    dataset: dataset.clone(),
                    split: *split,
                    reports: reports.clone(),
                });
            }
        } else if self.contributions_job == Some(job) {
            self.contributions_job = None;
            if let Outcome::Contributions {
                dataset,
                split,
                fusion,
                rows,
            } = outcome
            {
                self.contributions = Some(ContributionResult {
                    dataset: dataset.clone(),
                    split: *split,
                    fusion: *fusion,
                    rows: rows.clone(),
                });
                self.contribution_row = 0;
            }
        } else {
            return;
        }
        if let Outcome::Failed { message } = outcome {
            self.error = Some(message.clone());
        }
    }

    /// Header and rows of the comparison table (also the CSV export).
    pub fn compare_table(&self) -> (Vec<&'static str>, Vec<Vec<String>>) {
        let header = vec![
            "method",
            "val accuracy",
            "val macro-F1",
            "test accuracy",
            "parameters",
            "train seconds",
            "image only",
            "text only",
            "audio only",
            "weights I / T / A",
            "weight kind",
        ];
        let rows = self
            .compare_rows
            .iter()
            .map(|r| {
                let val = r.summary.val.as_ref().map(|e| &e.metrics);
                let only = |m: usize| {
                    val.and_then(|v| v.modality_only[m])
                        .map_or_else(|| "-".to_owned(), |a| format!("{a:.3}"))
                };
                vec![
                    r.fusion.name().to_owned(),
                    val.map_or_else(|| "-".into(), |v| format!("{:.3}", v.accuracy)),
                    val.map_or_else(|| "-".into(), |v| format!("{:.3}", v.macro_f1)),
                    r.summary
                        .test
                        .as_ref()
                        .map_or_else(|| "-".into(), |e| format!("{:.3}", e.metrics.accuracy)),
                    r.parameters.to_string(),
                    format!("{:.1}", r.summary.seconds),
                    only(0),
                    only(1),
                    only(2),
                    val.map_or_else(|| "-".into(), |v| triple(v.mean_weights)),
                    r.fusion.weight_kind().name().to_owned(),
                ]
            })
            .collect();
        (header, rows)
    }
}

impl FusionApp {
    /// Start comparing the ticked methods with the current training settings.
    pub fn start_compare(&mut self) {
        let fusions: Vec<FusionKind> = FusionKind::ALL
            .into_iter()
            .zip(self.analysis.compare_pick)
            .filter_map(|(f, on)| on.then_some(f))
            .collect();
        if fusions.is_empty() {
            self.analysis.error = Some("tick at least one method to compare".into());
            return;
        }
        let Some(dataset) = self.dataset_spec_or_report() else {
            return;
        };
        if let Err(e) = self.settings.train.validate() {
            self.analysis.error = Some(e.to_string());
            return;
        }
        if self.jobs.is_training() {
            return;
        }
        self.analysis.error = None;
        self.analysis.compare_rows.clear();
        let (total, first) = (fusions.len(), fusions[0]);
        let job = self.jobs.start(Job::Compare {
            dataset,
            load: crate::data::LoadOptions::default(),
            config: self.settings.train.clone(),
            fusions,
        });
        self.analysis.comparing = Some((job, 0, total, first));
    }

    /// Measure robustness of the current model (or of every compared one).
    pub fn start_robustness(&mut self) {
        let corruptions: Vec<Corruption> = Corruption::ALL
            .into_iter()
            .zip(self.analysis.corruption_pick)
            .filter_map(|(c, on)| on.then_some(c))
            .collect();
        if corruptions.is_empty() {
            self.analysis.error = Some("tick at least one corruption".into());
            return;
        }
        let Some(dataset) = self.analysis_request() else {
            return;
        };
        let config = RobustnessConfig {
            corruptions,
            ..self.analysis.robustness.clone()
        };
        let job = self.jobs.start(Job::Robustness {
            dataset,
            load: crate::data::LoadOptions::default(),
            config,
            compared: self.analysis.all_compared && !self.analysis.compare_rows.is_empty(),
        });
        self.analysis.robustness_job = Some(job);
    }

    /// Compute the mean native and Shapley weights of the current model.
    pub fn start_contributions(&mut self) {
        let Some(dataset) = self.analysis_request() else {
            return;
        };
        let job = self.jobs.start(Job::Contributions {
            dataset,
            load: crate::data::LoadOptions::default(),
            split: None,
        });
        self.analysis.contributions_job = Some(job);
    }

    /// Checks shared by the model analyses: a model and a dataset.
    fn analysis_request(&mut self) -> Option<crate::data::DatasetSpec> {
        if self.model.card.is_none() {
            self.analysis.error =
                Some("there is no model yet: train one or load one from models/".into());
            return None;
        }
        let dataset = self.dataset_spec_or_report()?;
        self.analysis.error = None;
        Some(dataset)
    }

    fn dataset_spec_or_report(&mut self) -> Option<crate::data::DatasetSpec> {
        match self.settings.dataset.parse() {
            Ok(d) => Some(d),
            Err(e) => {
                self.analysis.error = Some(format!("{e}"));
                None
            }
        }
    }

    pub(crate) fn analysis_ui(&mut self, ui: &mut egui::Ui) {
        egui::ScrollArea::vertical()
            .id_salt("analysis_scroll")
            .show(ui, |ui| {
                if let Some(e) = &self.analysis.error {
                    ui.colored_label(ui.visuals().error_fg_color, e);
                }
                self.compare_ui(ui);
                ui.separator();
                self.robustness_ui(ui);
                ui.separator();
                self.contributions_ui(ui);
            });
    }

    fn compare_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("Compare fusion methods");
        ui.label(format!(
            "Train every ticked method on {} with the same seed and the Training panel's settings, one after another.",
            self.settings.dataset
        ));
        let busy = self.jobs.is_training();
        ui.horizontal_wrapped(|ui| {
            for (f, on) in FusionKind::ALL
                .into_iter()
                .zip(self.analysis.compare_pick.iter_mut())
            {
                ui.add_enabled(!busy, egui::Checkbox::new(on, f.name()))
                    .on_hover_text(f.explanation());
            }
        });
        ui.horizontal(|ui| {
            if let Some((job, i, n, fusion)) = self.analysis.comparing {
                if ui.button("Stop comparing").clicked() {
                    self.jobs.cancel(job);
                }
                ui.label(format!(
                    "training {} ({} of {n}) · {}",
                    fusion.name(),
                    i + 1,
                    self.training.progress_text()
                ));
            } else if ui
                .add_enabled(!busy, egui::Button::new("Compare methods"))
                .on_hover_text("The models are kept for the robustness curves below; the best one becomes the current model.")
                .clicked()
            {
                self.start_compare();
            }
        });
        if self.analysis.compare_rows.is_empty() {
            return;
        }
        let (header, rows) = self.analysis.compare_table();
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
            self.export_table("comparison", &header, &rows);
        }
        let plot = Plot::new("compare_plot")
            .legend(Legend::default())
            .height(220.0)
            .x_axis_label("epoch")
            .y_axis_label("val accuracy")
            .include_y(0.0)
            .include_y(1.0)
            .show(ui, |plot| {
                for (i, r) in self.analysis.compare_rows.iter().enumerate() {
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
        self.png_button(
            ui,
            "Save comparison plot PNG",
            plot.response.rect,
            "comparison",
        );
    }

    fn robustness_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("Robustness");
        ui.label("Corrupt one modality at a time, from level 0 (clean) to 1 (worst), and measure accuracy on the test split.");
        let running = self
            .analysis
            .robustness_job
            .and_then(|id| self.jobs.get(id))
            .cloned();
        egui::Grid::new("corruption_pick").show(ui, |ui| {
            for (m, name) in MODALITIES.iter().enumerate() {
                ui.strong(*name);
                for (c, on) in Corruption::ALL
                    .into_iter()
                    .zip(self.analysis.corruption_pick.iter_mut())
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
                egui::DragValue::new(&mut self.analysis.robustness.levels).range(2..=21),
            )
            .labelled_by(label.id);
            let has_compared = !self.analysis.compare_rows.is_empty();
            // Shown unticked while there is nothing compared to measure.
            let mut none = false;
            let all = if has_compared {
                &mut self.analysis.all_compared
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
                    self.jobs.cancel(job.id);
                }
                if let Some(p) = &job.progress {
                    ui.add(
                        egui::ProgressBar::new(job.fraction())
                            .text(format!("{}: {}", p.what, job.progress_text())),
                    );
                }
            } else if ui
                .add_enabled(!self.jobs.is_training(), egui::Button::new("Measure robustness"))
                .clicked()
            {
                self.start_robustness();
            }
        });
        let Some(result) = &self.analysis.robustness_result else {
            return;
        };
        ui.label(format!(
            "{} ({} split, {} samples)",
            result.dataset,
            result.split.name(),
            result.reports.first().map_or(0, |r| r.samples)
        ));
        ui.horizontal(|ui| {
            for (m, name) in MODALITIES.iter().enumerate() {
                ui.selectable_value(
                    &mut self.analysis.robustness_modality,
                    m,
                    format!("{name} curves"),
                );
            }
        });
        let modality = self.analysis.robustness_modality;
        let reports = &result.reports;
        let plot = Plot::new("robustness_plot")
            .legend(Legend::default())
            .height(260.0)
            .x_axis_label("corruption level")
            .y_axis_label("accuracy")
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
                for h in ["model", "clean", "corruption", "area", "effective"] {
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
                self.export_robustness(&reports);
            }
            self.png_button(ui, "Save robustness plot PNG", rect, "robustness");
        });
    }

    fn contributions_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("Modality contribution");
        ui.label("How much the current model relied on each modality over the test split: the method's own weights next to Shapley values (the average change in confidence a modality brings over every subset of the others).");
        ui.horizontal(|ui| {
            if let Some(job) = self.analysis.contributions_job {
                ui.spinner();
                ui.label("explaining…");
                if ui.small_button("Stop").clicked() {
                    self.jobs.cancel(job);
                }
            } else if ui
                .add_enabled(
                    !self.jobs.is_training(),
                    egui::Button::new("Explain the dataset"),
                )
                .clicked()
            {
                self.start_contributions();
            }
        });
        let Some(result) = &self.analysis.contributions else {
            return;
        };
        let classes = self
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
            .analysis
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
        self.analysis.contribution_row = choice;
        let Some(row) = result.rows.get(choice) else {
            return;
        };
        ui.label(format!(
            "{} fusion on {} ({} split)",
            result.fusion.name(),
            result.dataset,
            result.split.name()
        ));
        egui::Grid::new("contribution_bars")
            .num_columns(3)
            .min_col_width(60.0)
            .show(ui, |ui| {
                ui.label("");
                ui.strong("native");
                ui.strong("Shapley");
                ui.end_row();
                for m in 0..3 {
                    ui.label(MODALITIES[m]);
                    match row.native {
                        Some(n) => {
                            value_bar(
                                ui,
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
                    value_bar(
                        ui,
                        row.shapley[m],
                        None,
                        MODALITY_COLOURS[m].gamma_multiply(0.7),
                        &format!("{} Shapley {:.2}", MODALITIES[m], row.shapley[m]),
                    );
                    ui.end_row();
                }
            });
        let verdict = match row.native {
            None => format!(
                "{} fusion has no weights of its own; Shapley ranks {} first.",
                result.fusion.name(),
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
        };
        ui.colored_label(Color32::from_rgb(0x4e, 0x79, 0xa7), verdict);
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
        let rows: Vec<Vec<String>> = result
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
                cells.extend(
                    (0..3).map(|m| r.native.map_or_else(String::new, |n| n[m].to_string())),
                );
                cells.extend(r.shapley.iter().map(ToString::to_string));
                cells
            })
            .collect();
        if ui.button("Export contributions CSV").clicked() {
            self.export_table("contributions", &header, &rows);
        }
    }
}
