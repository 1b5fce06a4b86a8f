//! The projections panel: PCA (computed with the exploration) and t-SNE (on request, streamed
//! from the worker) of the image, text, audio and fused embeddings. Hover a point to see the
//! sample, click it to load it; the current input is a star on the PCA view.

use egui::{Color32, Pos2};
use egui_plot::{Legend, MarkerShape, Plot, PlotPoint, PlotTransform, Points};

use crate::viz::knn::Metric;

use super::widgets::{class_colour, clock};
use super::{FusionApp, Purpose};
use crate::viz::tsne::TsneConfig;
use crate::worker::{Job, JobId, Outcome, SPACES, Update};

/// How the points are laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Method {
    /// Principal components.
    #[default]
    Pca,
    /// t-SNE.
    Tsne,
}

/// How the points are coloured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ColourBy {
    /// True class.
    #[default]
    Class,
    /// Predicted class.
    Predicted,
    /// Right or wrong.
    Correct,
}

/// A t-SNE layout (running or done; the job table says which).
#[derive(Clone, Debug)]
pub struct TsneLayout {
    /// The job that makes it.
    pub job: JobId,
    /// Embedding space.
    pub space: usize,
    /// Layout.
    pub points: Vec<[f32; 2]>,
    /// Sample of each point.
    pub samples: Vec<usize>,
    /// Iterations done / in all.
    pub iteration: (usize, usize),
    /// KL divergence.
    pub kl: f32,
    /// When it started (for the ETA).
    pub started: Option<std::time::Instant>,
}

/// State of the projections panel.
#[derive(Default)]
pub struct ProjectionView {
    /// Space shown: 0 image, 1 text, 2 audio, 3 fused.
    pub space: usize,
    /// PCA or t-SNE.
    pub method: Method,
    /// Colouring.
    pub colour: ColourBy,
    /// t-SNE settings.
    pub tsne_config: TsneConfig,
    /// Latest t-SNE layout.
    pub tsne: Option<TsneLayout>,
    /// The plot's last screen transform (to find the point under the pointer).
    pub transform: Option<PlotTransform>,
    /// The sample under the pointer.
    pub hovered: Option<usize>,
    /// Where the plot was drawn last frame (for its PNG).
    pub plot_rect: Option<egui::Rect>,
    /// The sample last clicked, whose neighbours are listed.
    pub selected: Option<usize>,
    /// Its nearest neighbours: (space, sample, `(neighbour, distance)` nearest first).
    pub neighbours: Option<Neighbours>,
    /// Distance for neighbours.
    pub metric: Metric,
    /// How many neighbours to list.
    pub k: usize,
    /// The latest neighbours job.
    pub neighbours_job: Option<JobId>,
}

impl ProjectionView {
    /// A t-SNE update: the layout so far, when it is the current layout's job.
    pub fn on_update(&mut self, job: JobId, update: &Update) {
        if let (
            Some(t),
            Update::TsneProgress {
                iteration,
                total,
                kl,
                points,
                samples,
            },
        ) = (&mut self.tsne, update)
            && t.job == job
        {
            t.points.clone_from(points);
            t.samples.clone_from(samples);
            t.iteration = (*iteration, *total);
            t.kl = *kl;
        }
    }

    /// The end of a t-SNE or neighbours job.
    pub fn on_end(&mut self, job: JobId, outcome: &Outcome) {
        match outcome {
            Outcome::Tsne {
                space,
                points,
                samples,
                kl,
            } => {
                if let Some(t) = &mut self.tsne
                    && t.job == job
                {
                    t.space = *space;
                    t.points.clone_from(points);
                    t.samples.clone_from(samples);
                    t.kl = *kl;
                    t.iteration.0 = t.iteration.1;
                }
            }
            Outcome::Neighbours {
                space,
                sample,
                neighbours,
            } if self.neighbours_job == Some(job) => {
                self.neighbours = Some((*space, *sample, neighbours.clone()));
            }
            _ => {}
        }
    }
}

/// Nearest neighbours: (space, sample, `(neighbour, distance)` nearest first).
pub type Neighbours = (usize, usize, Vec<(usize, f32)>);

/// Most points drawn at once; larger layouts are thinned evenly (every n-th point) so the plot
/// stays smooth. Hovering and clicking work on the drawn points.
pub const MAX_DRAWN: usize = 20_000;

/// The points of `layout` to draw: all of them, or every n-th when there are more than
/// [`MAX_DRAWN`] (the selected sample and its neighbours are always kept).
pub fn decimate(layout: &[(usize, [f32; 2])], keep: &[usize]) -> Vec<(usize, [f32; 2])> {
    if layout.len() <= MAX_DRAWN {
        return layout.to_vec();
    }
    let step = layout.len().div_ceil(MAX_DRAWN);
    layout
        .iter()
        .enumerate()
        .filter(|(i, (s, _))| i % step == 0 || keep.contains(s))
        .map(|(_, p)| *p)
        .collect()
}

impl ProjectionView {
    /// `(sample, [x, y])` of the layout shown.
    pub fn layout(
        &self,
        app_exploration: Option<&crate::worker::Exploration>,
    ) -> Vec<(usize, [f32; 2])> {
        match self.method {
            Method::Pca => app_exploration
                .and_then(|e| e.projections.get(self.space))
                .map(|p| p.points.clone())
                .unwrap_or_default(),
            Method::Tsne => self
                .tsne
                .as_ref()
                .filter(|t| t.space == self.space)
                .map(|t| {
                    t.samples
                        .iter()
                        .copied()
                        .zip(t.points.iter().copied())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Where a sample is drawn on screen (for tests and keyboard users).
    pub fn screen_position(&self, layout: &[(usize, [f32; 2])], sample: usize) -> Option<Pos2> {
        let t = self.transform.as_ref()?;
        let (_, p) = layout.iter().find(|(s, _)| *s == sample)?;
        Some(t.position_from_point(&PlotPoint::new(p[0], p[1])))
    }
}

/// A tiny scree chart: the share of variance of each principal component.
fn spectrum_bars(ui: &mut egui::Ui, spectrum: &[f32]) {
    if spectrum.is_empty() {
        return;
    }
    let (w, h) = (9.0, 28.0);
    let (rect, response) = ui.allocate_exact_size(
        egui::vec2(w * spectrum.len() as f32, h),
        egui::Sense::hover(),
    );
    let painter = ui.painter_at(rect);
    let top = spectrum[0].max(1e-6);
    for (i, v) in spectrum.iter().enumerate() {
        let height = h * (v / top).clamp(0.0, 1.0);
        let x = rect.left() + i as f32 * w;
        let bar = egui::Rect::from_min_max(
            egui::pos2(x + 1.0, rect.bottom() - height),
            egui::pos2(x + w - 1.0, rect.bottom()),
        );
        let colour = if i < 2 {
            ui.visuals().selection.bg_fill
        } else {
            ui.visuals().weak_text_color()
        };
        painter.rect_filled(bar, 1.0, colour);
    }
    let text: Vec<String> = spectrum
        .iter()
        .enumerate()
        .map(|(i, v)| format!("PC{}: {:.1}%", i + 1, v * 100.0))
        .collect();
    response.on_hover_text(format!(
        "Variance explained per component (the two drawn are highlighted):\n{}",
        text.join("\n")
    ));
}

/// The sample nearest to a screen position, within `radius` pixels.
fn nearest(
    layout: &[(usize, [f32; 2])],
    t: &PlotTransform,
    pos: Pos2,
    radius: f32,
) -> Option<usize> {
    layout
        .iter()
        .map(|(s, p)| {
            (
                *s,
                t.position_from_point(&PlotPoint::new(p[0], p[1]))
                    .distance(pos),
            )
        })
        .filter(|(_, d)| *d <= radius)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(s, _)| s)
}

impl FusionApp {
    pub(crate) fn projections_ui(&mut self, ui: &mut egui::Ui) {
        let Some(e) = self.browser.exploration.as_ref() else {
            self.dataset_pending_ui(ui);
            return;
        };
        if e.projections.is_empty() {
            ui.label(format!(
                "No projections: {}",
                e.note.clone().unwrap_or_else(|| "no model".into())
            ));
            return;
        }
        let classes = e.classes.clone();
        let view = &mut self.projections;
        let jobs = &mut self.jobs;
        ui.horizontal_wrapped(|ui| {
            ui.label("Embedding");
            egui::ComboBox::from_id_salt("proj_space")
                .selected_text(SPACES[view.space])
                .show_ui(ui, |ui| {
                    for (i, name) in SPACES.iter().enumerate() {
                        ui.selectable_value(&mut view.space, i, *name);
                    }
                });
            ui.separator();
            ui.selectable_value(&mut view.method, Method::Pca, "PCA");
            ui.selectable_value(&mut view.method, Method::Tsne, "t-SNE");
            ui.separator();
            ui.label("Colour by");
            egui::ComboBox::from_id_salt("proj_colour")
                .selected_text(match view.colour {
                    ColourBy::Class => "true class",
                    ColourBy::Predicted => "predicted class",
                    ColourBy::Correct => "right / wrong",
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut view.colour, ColourBy::Class, "true class");
                    ui.selectable_value(&mut view.colour, ColourBy::Predicted, "predicted class");
                    ui.selectable_value(&mut view.colour, ColourBy::Correct, "right / wrong");
                });
        });
        let mut export = false;
        let plot_rect = view.plot_rect;
        ui.horizontal(|ui| {
            export = ui
                .button("Export embeddings")
                .on_hover_text("TensorBoard projector files (vectors.tsv, metadata.tsv) and the 2-D coordinates shown (coordinates.csv), in a new folder in the export folder")
                .clicked();
        });
        let mut command = None;
        match view.method {
            Method::Pca => {
                if let Some(pca) = e.projections.get(view.space).and_then(|p| p.pca.as_ref()) {
                    ui.horizontal(|ui| {
                        ui.small(format!(
                            "PCA of the {} embeddings: component 1 explains {:.0}% of the variance, component 2 {:.0}% (together {:.0}%). The star is the current input.",
                            SPACES[view.space],
                            pca.explained[0] * 100.0,
                            pca.explained[1] * 100.0,
                            (pca.explained[0] + pca.explained[1]) * 100.0
                        ));
                        spectrum_bars(ui, &pca.spectrum);
                    });
                }
            }
            Method::Tsne => {
                ui.horizontal_wrapped(|ui| {
                    let running = view.tsne.as_ref().is_some_and(|t| jobs.is_running(t.job));
                    ui.add_enabled_ui(!running, |ui| {
                        let l = ui.label("Perplexity");
                        ui.add(
                            egui::DragValue::new(&mut view.tsne_config.perplexity)
                                .range(2.0..=100.0),
                        )
                        .labelled_by(l.id);
                        let l = ui.label("Iterations");
                        ui.add(
                            egui::DragValue::new(&mut view.tsne_config.iterations).range(50..=5000),
                        )
                        .labelled_by(l.id);
                        let l = ui.label("Theta");
                        ui.add(
                            egui::DragValue::new(&mut view.tsne_config.theta)
                                .range(0.0..=1.0)
                                .speed(0.01),
                        )
                        .labelled_by(l.id)
                        .on_hover_text("Barnes-Hut accuracy: 0 is exact (slow beyond a few thousand points), 0.5 is the usual trade-off, 1 is fastest and roughest.");
                        let l = ui.label("Learning rate");
                        ui.add(
                            egui::DragValue::new(&mut view.tsne_config.learning_rate)
                                .range(1.0..=2000.0),
                        )
                        .labelled_by(l.id);
                    });
                    if running {
                        if ui.button("Stop t-SNE").clicked()
                            && let Some(t) = &view.tsne
                        {
                            jobs.cancel(t.job);
                        }
                    } else if ui.button("Run t-SNE").clicked() {
                        command = Some((view.space, view.tsne_config.clone()));
                    }
                });
                match &view.tsne {
                    Some(t) if t.space == view.space => {
                        let (done, total) = t.iteration;
                        if jobs.is_running(t.job) {
                            let eta = t
                                .started
                                .map_or(0.0, |s| super::widgets::eta_seconds(s, done, total));
                            ui.add(
                                egui::ProgressBar::new(done as f32 / total.max(1) as f32).text(
                                    format!(
                                        "t-SNE iteration {done}/{total} · KL {:.3} · {} left",
                                        t.kl,
                                        clock(eta)
                                    ),
                                ),
                            );
                        } else {
                            ui.small(format!(
                                "t-SNE of {} {} embeddings (Barnes-Hut; up to {} points) · KL {:.3}",
                                t.samples.len(),
                                SPACES[t.space],
                                crate::worker::TSNE_MAX_POINTS,
                                t.kl
                            ));
                        }
                    }
                    _ => {
                        ui.small("Press Run t-SNE: it runs in the background and the points move as it converges.");
                    }
                }
            }
        }
        if let Some((space, config)) = command {
            self.start_tsne(space, config);
        }
        let clicked_neighbour = self.neighbours_ui(ui);
        let Some(e) = self.browser.exploration.as_ref() else {
            return;
        };
        let full = self.projections.layout(Some(e));
        let keep: Vec<usize> = self
            .projections
            .neighbours
            .iter()
            .flat_map(|(_, s, n)| std::iter::once(*s).chain(n.iter().map(|(j, _)| *j)))
            .collect();
        let layout = decimate(&full, &keep);
        if layout.len() < full.len() {
            ui.small(format!(
                "{} points: drawing every {}th ({} shown) to keep the plot smooth",
                full.len(),
                full.len().div_ceil(MAX_DRAWN),
                layout.len()
            ));
        }
        let view = &self.projections;
        // Group points by colour so the legend names them.
        let key_of = |s: usize| -> (usize, String) {
            let sample = &e.samples[s];
            let predicted = sample.outcome.as_ref().map(|o| o.predicted);
            match view.colour {
                ColourBy::Class => (
                    sample.label,
                    classes.get(sample.label).cloned().unwrap_or_default(),
                ),
                ColourBy::Predicted => {
                    let p = predicted.unwrap_or(0);
                    (
                        p,
                        format!("predicted {}", classes.get(p).cloned().unwrap_or_default()),
                    )
                }
                ColourBy::Correct => {
                    if predicted == Some(sample.label) {
                        (4, "right".into())
                    } else {
                        (2, "wrong".into())
                    }
                }
            }
        };
        let mut groups: std::collections::BTreeMap<(usize, String), Vec<[f64; 2]>> =
            Default::default();
        for (s, p) in &layout {
            groups
                .entry(key_of(*s))
                .or_default()
                .push([f64::from(p[0]), f64::from(p[1])]);
        }
        let star = (view.method == Method::Pca)
            .then(|| {
                let p = self.predict.current.as_ref()?;
                let v = if view.space == 3 {
                    &p.fused
                } else {
                    &p.embeddings[view.space]
                };
                let pca = e.projections.get(view.space)?.pca.as_ref()?;
                (!v.is_empty()).then(|| pca.project(v))
            })
            .flatten();
        let hovered = view.hovered;
        let ring: Vec<[f64; 2]> = view
            .neighbours
            .iter()
            .filter(|(space, _, _)| *space == view.space)
            .flat_map(|(_, _, n)| n.iter())
            .filter_map(|(j, _)| layout.iter().find(|(s, _)| s == j))
            .map(|(_, p)| [f64::from(p[0]), f64::from(p[1])])
            .collect();
        let selected_point = view
            .selected
            .and_then(|sel| layout.iter().find(|(s, _)| *s == sel))
            .map(|(_, p)| [f64::from(p[0]), f64::from(p[1])]);
        let response = Plot::new("projection_plot")
            .legend(Legend::default())
            .data_aspect(1.0)
            .height(ui.available_height().max(200.0) - 60.0)
            .show(ui, |plot| {
                for ((colour, name), pts) in groups {
                    let c = if view.colour == ColourBy::Correct {
                        if colour == 4 {
                            Color32::from_rgb(80, 170, 90)
                        } else {
                            Color32::from_rgb(230, 70, 60)
                        }
                    } else {
                        class_colour(colour)
                    };
                    plot.points(
                        Points::new(name, pts)
                            .color(c)
                            .radius(2.5)
                            .shape(MarkerShape::Circle),
                    );
                }
                if let Some(h) = hovered
                    && let Some((_, p)) = layout.iter().find(|(s, _)| *s == h)
                {
                    plot.points(
                        Points::new("hovered", vec![[f64::from(p[0]), f64::from(p[1])]])
                            .radius(7.0)
                            .filled(false)
                            .color(Color32::WHITE),
                    );
                }
                if !ring.is_empty() {
                    plot.points(
                        Points::new("nearest neighbours", ring)
                            .radius(6.0)
                            .filled(false)
                            .color(Color32::from_rgb(255, 200, 40)),
                    );
                }
                if let Some(p) = selected_point {
                    plot.points(
                        Points::new("selected", vec![p])
                            .radius(9.0)
                            .filled(false)
                            .color(Color32::from_rgb(255, 120, 40)),
                    );
                }
                if let Some(s) = star {
                    plot.points(
                        Points::new("current input", vec![[f64::from(s[0]), f64::from(s[1])]])
                            .shape(MarkerShape::Asterisk)
                            .radius(10.0)
                            .color(Color32::YELLOW),
                    );
                }
            });
        let transform = response.transform;
        let r = response.response;
        self.projections.plot_rect = Some(r.rect);
        let pointer = r.hover_pos();
        let near = pointer.and_then(|pos| nearest(&layout, &transform, pos, 8.0));
        self.projections.transform = Some(transform);
        self.projections.hovered = near;
        if let Some(s) = near {
            let sample = &e.samples[s];
            let mut text = format!(
                "{} · true: {}",
                sample.id,
                classes.get(sample.label).cloned().unwrap_or_default()
            );
            if let Some(o) = &sample.outcome {
                text += &format!(
                    " · predicted: {} ({:.0}%)",
                    classes.get(o.predicted).cloned().unwrap_or_default(),
                    o.confidence * 100.0
                );
            }
            if let Some(t) = &sample.text {
                text += &format!("\n“{t}”");
            }
            text += "\nclick to load it into the inputs";
            r.clone().on_hover_text_at_pointer(text);
            if r.clicked() {
                self.request_sample(s, Purpose::Sample);
                self.select_point(s);
            }
        }
        if let Some(s) = clicked_neighbour {
            self.request_sample(s, Purpose::Sample);
            self.select_point(s);
        }
        if export {
            self.export_embeddings();
        }
        if let Some(rect) = plot_rect {
            self.exports
                .png_button(ui, "Save projection PNG", rect, "projection");
        }
    }

    /// Select a sample of the projection and ask for its nearest neighbours.
    pub fn select_point(&mut self, sample: usize) {
        if self.projections.k == 0 {
            self.projections.k = 10;
        }
        self.projections.selected = Some(sample);
        let view = &self.projections;
        let id = self.jobs.start(Job::Neighbours {
            space: view.space,
            sample,
            k: view.k.max(1),
            metric: view.metric,
        });
        self.projections.neighbours_job = Some(id);
    }

    /// The neighbours list (a side panel); returns a neighbour the user chose to load.
    fn neighbours_ui(&mut self, ui: &mut egui::Ui) -> Option<usize> {
        let (Some(selected), Some(e)) = (self.projections.selected, &self.browser.exploration)
        else {
            return None;
        };
        let mut chosen = None;
        let mut again = false;
        egui::Panel::right("neighbours_panel")
            .resizable(false)
            .default_size(250.0)
            .show(ui, |ui| {
                let view = &mut self.projections;
                let name = |k: usize| e.classes.get(k).cloned().unwrap_or_default();
                let Some(sample) = e.samples.get(selected) else {
                    return;
                };
                ui.strong(format!("Nearest to {}", sample.id));
                ui.small(format!(
                    "true class {} · in the {} embedding",
                    name(sample.label),
                    SPACES[view.space]
                ));
                ui.horizontal(|ui| {
                    for m in [Metric::Euclidean, Metric::Cosine] {
                        again |= ui.selectable_value(&mut view.metric, m, m.name()).changed();
                    }
                });
                ui.horizontal(|ui| {
                    let l = ui.label("Neighbours");
                    again |= ui
                        .add(egui::DragValue::new(&mut view.k).range(1..=50))
                        .labelled_by(l.id)
                        .changed();
                });
                match &view.neighbours {
                    Some((space, s, list)) if *s == selected && *space == view.space => {
                        egui::Grid::new("neighbours_grid")
                            .striped(true)
                            .show(ui, |ui| {
                                for h in ["sample", "class", "distance", ""] {
                                    ui.strong(h);
                                }
                                ui.end_row();
                                for (j, d) in list {
                                    let Some(n) = e.samples.get(*j) else { continue };
                                    ui.label(&n.id);
                                    let wrong =
                                        n.outcome.as_ref().is_some_and(|o| o.predicted != n.label);
                                    let class = if wrong {
                                        format!("{} (misread)", name(n.label))
                                    } else {
                                        name(n.label)
                                    };
                                    ui.label(class);
                                    ui.label(format!("{d:.3}"));
                                    if ui.small_button(format!("Use {}", n.id)).clicked() {
                                        chosen = Some(*j);
                                    }
                                    ui.end_row();
                                }
                            });
                        let same = list
                            .iter()
                            .filter(|(j, _)| {
                                e.samples.get(*j).is_some_and(|n| n.label == sample.label)
                            })
                            .count();
                        ui.small(format!("{same} of {} share its class", list.len()));
                    }
                    _ => {
                        ui.spinner();
                    }
                }
            });
        if again {
            self.select_point(selected);
        }
        chosen
    }

    /// Ask the worker for a t-SNE of a space.
    pub fn start_tsne(&mut self, space: usize, config: TsneConfig) {
        if let Some(old) = &self.projections.tsne {
            self.jobs.cancel(old.job);
        }
        let iterations = config.iterations;
        let job = self.jobs.start(Job::Tsne { space, config });
        self.projections.tsne = Some(TsneLayout {
            job,
            space,
            points: Vec::new(),
            samples: Vec::new(),
            iteration: (0, iterations),
            kl: f32::NAN,
            started: Some(std::time::Instant::now()),
        });
    }
}

impl FusionApp {
    /// One embedding space of the exploration, as shown (PCA or t-SNE): the worker writes the
    /// TensorBoard projector pair and the 2-D coordinates into a new folder.
    pub fn export_embeddings(&mut self) {
        let space = self.projections.space;
        let Some(exploration) = &self.browser.exploration else {
            self.exported(
                "embeddings",
                Err(crate::export::ExportError::Empty(
                    "the dataset has not been explored yet".into(),
                )),
            );
            return;
        };
        let name = |k: usize| exploration.classes.get(k).cloned().unwrap_or_default();
        let points: Vec<(usize, [f32; 2], String)> = self
            .projections
            .layout(Some(exploration))
            .into_iter()
            .map(|(i, xy)| {
                let predicted = exploration
                    .samples
                    .get(i)
                    .and_then(|s| s.outcome.as_ref())
                    .map(|o| name(o.predicted))
                    .unwrap_or_default();
                (i, xy, predicted)
            })
            .collect();
        if points.is_empty() {
            self.exported(
                "embeddings",
                Err(crate::export::ExportError::Empty(
                    "no points in this projection".into(),
                )),
            );
            return;
        }
        let stem = format!("embeddings-{}", SPACES[space.min(3)]);
        match self.export_path(&stem, "tensorboard") {
            Ok(dir) => {
                self.jobs
                    .start(Job::ExportEmbeddings { space, dir, points });
            }
            Err(e) => self.exported("embeddings", Err(e)),
        }
    }
}
