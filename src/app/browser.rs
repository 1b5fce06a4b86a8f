//! The dataset panel: every sample with the model's answer, filters and sorting, to find what is
//! misclassified and why. Selecting a sample loads it into the inputs.

use std::collections::HashMap;

use egui::{Color32, RichText, TextureHandle};

use super::widgets::{self, MODALITY_COLOURS, class_colour};
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

impl FusionApp {
    pub(crate) fn dataset_ui(&mut self, ui: &mut egui::Ui) {
        let Some(e) = &self.browser.exploration else {
            self.dataset_pending_ui(ui);
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
        let before = self.browser.filter.clone();
        let f = &mut self.browser.filter;
        ui.horizontal_wrapped(|ui| {
            ui.label("Split");
            egui::ComboBox::from_id_salt("filter_split")
                .selected_text(f.split.map_or("all", Split::name))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut f.split, None, "all");
                    for s in Split::ALL {
                        ui.selectable_value(&mut f.split, Some(s), s.name());
                    }
                });
            ui.label("Class");
            egui::ComboBox::from_id_salt("filter_class")
                .selected_text(
                    f.class
                        .and_then(|c| classes.get(c))
                        .map_or("all", String::as_str),
                )
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut f.class, None, "all");
                    for (c, name) in classes.iter().enumerate() {
                        ui.selectable_value(&mut f.class, Some(c), name);
                    }
                });
            ui.label("Missing");
            egui::ComboBox::from_id_salt("filter_missing")
                .selected_text(f.missing.map_or("any", |m| Modality::ALL[m].name()))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut f.missing, None, "any");
                    for m in Modality::ALL {
                        ui.selectable_value(&mut f.missing, Some(m.index()), m.name());
                    }
                });
            ui.add_enabled(
                has_model,
                egui::Checkbox::new(&mut f.wrong_only, "Misclassified only"),
            );
            ui.label("Sort");
            egui::ComboBox::from_id_salt("filter_sort")
                .selected_text(f.sort.name())
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut f.sort, Sort::Dataset, Sort::Dataset.name());
                    if has_model {
                        for s in [
                            Sort::ConfidenceLow,
                            Sort::ConfidenceHigh,
                            Sort::Weight(0),
                            Sort::Weight(1),
                            Sort::Weight(2),
                        ] {
                            ui.selectable_value(&mut f.sort, s, s.name());
                        }
                    }
                });
            let label = ui.label("Search");
            ui.add(
                egui::TextEdit::singleline(&mut f.query)
                    .desired_width(100.0)
                    .hint_text("id or words"),
            )
            .labelled_by(label.id);
            if let Some((t, p)) = f.pair {
                let text = format!(
                    "only {} predicted as {} (x)",
                    classes.get(t).map_or("?", String::as_str),
                    classes.get(p).map_or("?", String::as_str)
                );
                if ui
                    .button(text)
                    .on_hover_text("confusion-matrix cell; click to remove")
                    .clicked()
                {
                    f.pair = None;
                }
            }
        });
        if self.browser.filter != before {
            self.browser.page = 0;
        }
        let Some(e) = &self.browser.exploration else {
            return;
        };
        let shown = self.browser.filter.apply(e);
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
        self.browser.page = self.browser.page.min(pages - 1);
        ui.horizontal(|ui| {
            ui.label(format!(
                "{} samples match · {wrong} misclassified",
                shown.len()
            ));
            if ui
                .add_enabled(self.browser.page > 0, egui::Button::new("< Previous"))
                .clicked()
            {
                self.browser.page -= 1;
            }
            ui.label(format!("page {}/{pages}", self.browser.page + 1));
            if ui
                .add_enabled(self.browser.page + 1 < pages, egui::Button::new("Next >"))
                .clicked()
            {
                self.browser.page += 1;
            }
        });
        ui.separator();
        let page: Vec<usize> = shown
            .iter()
            .skip(self.browser.page * PAGE)
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
            Some((i, Purpose::Play)) => self.request_sample(i, Purpose::Play),
            Some((i, _)) => {
                self.request_sample(i, Purpose::Sample);
                self.settings.tab = Tab::Predict;
            }
            None => {}
        }
    }

    /// Shown while there is no explored dataset: progress, or why it failed.
    pub(crate) fn dataset_pending_ui(&self, ui: &mut egui::Ui) {
        match &self.browser.error {
            Some(err) if self.browser.job.is_none() => {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!(
                        "The dataset {} could not be opened: {err}",
                        self.settings.dataset
                    ),
                );
                ui.label("Choose another one in the Dataset menu at the top.");
            }
            _ => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(format!("Loading {}…", self.settings.dataset));
                });
            }
        }
    }

    fn sample_card_ui(
        &mut self,
        ui: &mut egui::Ui,
        i: usize,
        classes: &[String],
    ) -> Option<(usize, Purpose)> {
        let ctx = ui.ctx().clone();
        let thumb = self.browser.thumb(&ctx, i);
        let selected = self.browser.selected == Some(i);
        let e = self.browser.exploration.as_ref()?;
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
