//! The dataset panel: every sample with the model's answer, filters and sorting, to find what is
//! misclassified and why. Selecting a sample loads it into the inputs.

use std::collections::HashMap;

use egui::TextureHandle;

mod card;
mod filter_bar;

use filter_bar::filter_bar_ui;

use super::panel::{PanelCtx, Request};
use super::widgets;
use super::{FusionApp, Purpose, Tab};
use crate::data::{Modality, Split};
use crate::worker::{Exploration, ExploredSample, JobId, Outcome};

/// Samples per page.
pub const PAGE: usize = 40;

/// How to order the samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sort {
    /// As in the dataset.
    #[default]
    Dataset,
    /// Least confident first.
    ConfidenceLow,
    /// Most confident first.
    ConfidenceHigh,
    /// Highest weight of a modality first.
    Weight(usize),
}

impl Sort {
    fn name(self) -> String {
        match self {
            Self::Dataset => "dataset order".into(),
            Self::ConfidenceLow => "confidence, lowest first".into(),
            Self::ConfidenceHigh => "confidence, highest first".into(),
            Self::Weight(m) => format!("{} weight, highest first", Modality::ALL[m].name()),
        }
    }
}

/// Which samples to show.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// Only this split.
    pub split: Option<Split>,
    /// Only this true class.
    pub class: Option<usize>,
    /// Only misclassified samples.
    pub wrong_only: bool,
    /// Only samples missing this modality.
    pub missing: Option<usize>,
    /// Only this (true, predicted) cell of the confusion matrix.
    pub pair: Option<(usize, usize)>,
    /// Only samples whose id or sentence contains this.
    pub query: String,
    /// Order.
    pub sort: Sort,
}

impl Filter {
    /// Does a sample pass?
    pub fn accepts(&self, s: &ExploredSample) -> bool {
        let predicted = s.outcome.as_ref().map(|o| o.predicted);
        self.split.is_none_or(|x| s.split == x)
            && self.class.is_none_or(|c| s.label == c)
            && (!self.wrong_only || predicted.is_some_and(|p| p != s.label))
            && self.missing.is_none_or(|m| !s.present[m])
            && self
                .pair
                .is_none_or(|(t, p)| s.label == t && predicted == Some(p))
            && (self.query.trim().is_empty() || {
                let q = self.query.trim().to_lowercase();
                s.id.to_lowercase().contains(&q)
                    || s.text
                        .as_ref()
                        .is_some_and(|t| t.to_lowercase().contains(&q))
            })
    }

    /// Indices of the samples that pass, in the chosen order.
    pub fn apply(&self, e: &Exploration) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..e.samples.len())
            .filter(|&i| self.accepts(&e.samples[i]))
            .collect();
        let key = |i: &usize| -> f32 {
            let o = e.samples[*i].outcome.as_ref();
            match self.sort {
                Sort::Dataset => 0.0,
                Sort::ConfidenceLow => o.map_or(f32::INFINITY, |o| o.confidence),
                Sort::ConfidenceHigh => -o.map_or(f32::NEG_INFINITY, |o| o.confidence),
                Sort::Weight(m) => -o.map_or(f32::NEG_INFINITY, |o| o.weights[m]),
            }
        };
        if self.sort != Sort::Dataset {
            idx.sort_by(|a, b| key(a).total_cmp(&key(b)));
        }
        idx
    }
}

/// State of the dataset panel.
#[derive(Default)]
pub struct Browser {
    /// The explored dataset.
    pub exploration: Option<Exploration>,
    /// The exploration job whose answer this panel waits for.
    pub job: Option<JobId>,
    /// Why the dataset could not be opened.
    pub error: Option<String>,
    /// Filters and sort.
    pub filter: Filter,
    /// Page shown.
    pub page: usize,
    /// The sample last loaded into the inputs.
    pub selected: Option<usize>,
    thumbs: HashMap<usize, TextureHandle>,
}

impl Browser {
    /// The end of an exploration job: the newest one's result replaces the exploration.
    pub fn on_end(&mut self, job: JobId, outcome: Outcome) {
        if self.job != Some(job) {
            return;
        }
        self.job = None;
        match outcome {
            Outcome::Explored(e) => self.set(*e),
            Outcome::Failed { message } => self.error = Some(message),
            _ => {}
        }
    }

    /// Replace the exploration.
    pub fn set(&mut self, e: Exploration) {
        if self
            .exploration
            .as_ref()
            .is_none_or(|old| old.dataset != e.dataset || old.samples.len() != e.samples.len())
        {
            self.filter.pair = None;
            self.filter.class = None;
            self.page = 0;
            self.selected = None;
        }
        self.thumbs.clear();
        self.exploration = Some(e);
    }

    fn thumb(&mut self, ctx: &egui::Context, i: usize) -> Option<TextureHandle> {
        if let Some(t) = self.thumbs.get(&i) {
            return Some(t.clone());
        }
        let e = self.exploration.as_ref()?;
        let s = e.samples.get(i)?;
        let size = e.thumb_size;
        let tex = widgets::rgb_texture(
            ctx,
            &format!("thumb{i}"),
            size,
            size,
            s.thumb.as_ref()?,
            false,
        )?;
        self.thumbs.insert(i, tex.clone());
        Some(tex)
    }
}

impl Browser {
    /// Draw the panel.
    pub fn ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>) {
        let Some(e) = &self.exploration else {
            self.pending_ui(ui, &ctx.settings.dataset);
            return;
        };
        let classes = e.classes.clone();
        let has_model = e.samples.iter().any(|s| s.outcome.is_some());
        let note = e.note.clone();
        let title = format!("{} · {} samples", e.dataset, e.samples.len());
        ui.heading(title);
        if let Some(note) = note {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!("No predictions: {note}"),
            );
        }
        let before = self.filter.clone();
        filter_bar_ui(ui, &mut self.filter, &classes, has_model);
        if self.filter != before {
            self.page = 0;
        }
        let Some(e) = &self.exploration else {
            return;
        };
        let shown = self.filter.apply(e);
        let wrong = shown
            .iter()
            .filter(|&&i| {
                e.samples[i]
                    .outcome
                    .as_ref()
                    .is_some_and(|o| o.predicted != e.samples[i].label)
            })
            .count();
        let pages = shown.len().div_ceil(PAGE).max(1);
        self.page = self.page.min(pages - 1);
        ui.horizontal(|ui| {
            ui.label(format!(
                "{} samples match · {wrong} misclassified",
                shown.len()
            ));
            if ui
                .add_enabled(self.page > 0, egui::Button::new("< Previous"))
                .clicked()
            {
                self.page -= 1;
            }
            ui.label(format!("page {}/{pages}", self.page + 1));
            if ui
                .add_enabled(self.page + 1 < pages, egui::Button::new("Next >"))
                .clicked()
            {
                self.page += 1;
            }
        });
        ui.separator();
        let page: Vec<usize> = shown
            .iter()
            .skip(self.page * PAGE)
            .take(PAGE)
            .copied()
            .collect();
        let mut action = None;
        egui::ScrollArea::vertical()
            .id_salt("dataset_scroll")
            .show(ui, |ui| {
                // Explicit rows: cards have a fixed width, so the column count follows the panel.
                let columns = ((ui.available_width() + 6.0) / 172.0).floor().max(1.0) as usize;
                for row in page.chunks(columns) {
                    ui.horizontal(|ui| {
                        for &i in row {
                            if let Some(a) = self.sample_card_ui(ui, i, &classes) {
                                action = Some(a);
                            }
                        }
                    });
                }
            });
        match action {
            Some((i, Purpose::Play)) => ctx.request(Request::Sample(i, Purpose::Play)),
            Some((i, _)) => {
                ctx.request(Request::Sample(i, Purpose::Sample));
                ctx.settings.tab = Tab::Predict;
            }
            None => {}
        }
    }

    /// Shown while there is no explored dataset: progress, or why it failed.
    pub fn pending_ui(&self, ui: &mut egui::Ui, dataset: &str) {
        match &self.error {
            Some(err) if self.job.is_none() => {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!("The dataset {} could not be opened: {err}", dataset),
                );
                ui.label("Choose another one in the Dataset menu at the top.");
            }
            _ => {
                ui.horizontal(|ui| {
                    crate::app::widgets::quiet_spinner(ui);
                    ui.label(format!("Loading {dataset}…"));
                });
            }
        }
    }
}

impl FusionApp {
    /// Shown while there is no explored dataset: progress, or why it failed.
    pub(crate) fn dataset_pending_ui(&self, ui: &mut egui::Ui) {
        self.browser.pending_ui(ui, &self.settings.dataset);
    }
}
