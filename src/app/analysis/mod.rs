//! The Analysis panel: compare every fusion method on the current dataset, robustness curves
//! under corrupted inputs, and mean modality contributions (native weights next to Shapley).
//! This file holds the panel's state and the events of the jobs it starts; each part draws in
//! its own file. Every result remembers what it was computed on ([`ComputedOn`]) and is dropped
//! when the dataset or the model it belongs to is no longer the one loaded ([`AnalysisView::follow`]).

mod compare;
mod contributions;
mod robustness;

use super::ModelStatus;
use super::panel::PanelCtx;
use crate::data::Split;
use crate::engine::contribution::ContributionRow;
use crate::engine::robustness::{RobustnessConfig, RobustnessReport};
use crate::model::FusionKind;
use crate::worker::{JobId, Outcome, TrainingSummary, Update};

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

/// Which models a result belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Models {
    /// The current model of that [`ModelStatus::generation`].
    Current(u64),
    /// The models trained by that comparison job.
    Compared(JobId),
}

/// What a result was computed on: the dataset spec and the model(s).
#[derive(Clone, Debug, PartialEq)]
pub struct ComputedOn {
    /// The dataset spec (as in the settings).
    pub dataset: String,
    /// The models for people ("model attention (attention)", "the 3 compared models").
    pub model: String,
    /// Which models, to tell when the result no longer belongs to the app's.
    pub models: Models,
}

impl ComputedOn {
    /// On `dataset` with the current model.
    pub fn current(dataset: &str, model: &ModelStatus) -> Self {
        Self {
            dataset: dataset.to_owned(),
            model: format!("model {}", model.label()),
            models: Models::Current(model.generation),
        }
    }

    /// "computed on synthetic:xor, model attention (attention)".
    pub fn text(&self) -> String {
        format!("computed on {}, {}", self.dataset, self.model)
    }
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
    /// What it was computed on.
    pub on: ComputedOn,
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
    /// What it was computed on.
    pub on: ComputedOn,
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
    /// What the last comparison was computed on (its dataset, and its job for its models).
    pub compare_on: Option<ComputedOn>,
    /// Where the comparison's current method is.
    pub compare_progress: Option<crate::engine::Progress>,
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
    /// The robustness job started last, the dataset it runs on and whether it measures the
    /// compared models (noted when it starts).
    robustness_start: Option<(JobId, String, bool)>,
    /// The contributions job started last and the dataset it runs on.
    contributions_start: Option<(JobId, String)>,
}

impl Default for AnalysisView {
    fn default() -> Self {
        Self {
            compare_pick: [true; 7],
            comparing: None,
            compare_rows: Vec::new(),
            compare_on: None,
            compare_progress: None,
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
            robustness_start: None,
            contributions_start: None,
        }
    }
}

const MODALITIES: [&str; 3] = ["image", "text", "audio"];

fn triple(v: [f32; 3]) -> String {
    format!("{:.2} / {:.2} / {:.2}", v[0], v[1], v[2])
}

/// The items whose box is ticked, in order.
fn ticked<T: Copy, const N: usize>(all: [T; N], pick: [bool; N]) -> Vec<T> {
    all.into_iter()
        .zip(pick)
        .filter_map(|(item, on)| on.then_some(item))
        .collect()
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
            Update::Progress(p) => self.compare_progress = Some(p.clone()),
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

    /// The end of a comparison, robustness or contributions job this panel started; `model` is
    /// the current model when it ends (jobs run one at a time, so the one it used).
    pub fn on_end(&mut self, job: JobId, outcome: &Outcome, model: &ModelStatus) {
        if self.comparing.is_some_and(|(mine, ..)| mine == job) {
            self.comparing = None;
            self.compare_progress = None;
        } else if self.robustness_job == Some(job) {
            self.robustness_job = None;
            let start = self.robustness_start.take().filter(|s| s.0 == job);
            if let Outcome::Robustness {
                dataset,
                split,
                reports,
            } = outcome
                && let Some((_, spec, compared)) = start
            {
                let on = match &self.compare_on {
                    Some(c) if compared => ComputedOn {
                        dataset: spec,
                        model: format!("the {} compared models", reports.len()),
                        models: c.models,
                    },
                    _ => ComputedOn::current(&spec, model),
                };
                self.robustness_result = Some(RobustnessResult {
                    dataset: dataset.clone(),
                    split: *split,
                    reports: reports.clone(),
                    on,
                });
            }
        } else if self.contributions_job == Some(job) {
            self.contributions_job = None;
            let start = self.contributions_start.take().filter(|s| s.0 == job);
            if let Outcome::Contributions {
                dataset,
                split,
                fusion,
                rows,
            } = outcome
                && let Some((_, spec)) = start
            {
                self.contributions = Some(ContributionResult {
                    dataset: dataset.clone(),
                    split: *split,
                    fusion: *fusion,
                    rows: rows.clone(),
                    on: ComputedOn::current(&spec, model),
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

impl AnalysisView {
    /// Keep the results true to the app: drop every result computed on another dataset or with another model than the app's now
    /// (a comparison's table when the dataset changes; robustness and contributions also when
    /// the model does). Called every frame; cheap.
    pub fn follow(&mut self, dataset: &str, model: &ModelStatus) {
        if self.comparing.is_none()
            && self
                .compare_on
                .as_ref()
                .is_some_and(|c| c.dataset != dataset)
        {
            self.compare_rows.clear();
            self.compare_on = None;
        }
        let compared = self.compare_on.as_ref().map(|c| c.models);
        let belongs = |on: &ComputedOn| {
            on.dataset == dataset
                && match on.models {
                    Models::Current(g) => g == model.generation,
                    m @ Models::Compared(_) => compared == Some(m),
                }
        };
        if self
            .robustness_result
            .as_ref()
            .is_some_and(|r| !belongs(&r.on))
        {
            self.robustness_result = None;
        }
        if self.contributions.as_ref().is_some_and(|c| !belongs(&c.on)) {
            self.contributions = None;
        }
    }

    /// Checks shared by the model analyses: a model and a dataset.
    fn analysis_request(&mut self, ctx: &PanelCtx<'_>) -> Option<crate::data::DatasetSpec> {
        if ctx.model.card.is_none() {
            self.error = Some("there is no model yet: train one or load one from models/".into());
            return None;
        }
        let dataset = ctx.dataset_spec(&mut self.error)?;
        self.error = None;
        Some(dataset)
    }

    /// Draw the panel.
    pub fn ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>) {
        egui::ScrollArea::vertical()
            .id_salt("analysis_scroll")
            .show(ui, |ui| {
                if let Some(e) = &self.error {
                    ui.colored_label(ui.visuals().error_fg_color, e);
                }
                self.compare_ui(ui, ctx);
                ui.separator();
                self.robustness_ui(ui, ctx);
                ui.separator();
                self.contributions_ui(ui, ctx);
            });
    }
}

impl crate::app::FusionApp {
    /// Start comparing the ticked methods with the current training settings.
    pub fn start_compare(&mut self) {
        self.analysis
            .start_compare(&mut crate::app::panel::panel_ctx!(self));
    }

    /// Measure robustness of the current model (or of every compared one).
    pub fn start_robustness(&mut self) {
        self.analysis
            .start_robustness(&mut crate::app::panel::panel_ctx!(self));
    }

    /// Compute the mean native and Shapley weights of the current model.
    pub fn start_contributions(&mut self) {
        self.analysis
            .start_contributions(&mut crate::app::panel::panel_ctx!(self));
    }
}
