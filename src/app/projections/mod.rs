//! The projections panel: PCA (computed with the exploration) and t-SNE (on request, streamed
//! from the worker) of the image, text, audio and fused embeddings. Hover a point to see the
//! sample, click it to load it; the current input is a star on the PCA view.

mod controls;
mod neighbours;
mod plot;

use egui::Pos2;
use egui_plot::{PlotPoint, PlotTransform};

use crate::viz::knn::Metric;

use super::panel::{PanelCtx, Request};
use super::{FusionApp, Purpose};
use crate::engine::Prediction;
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
    pub fn on_update(&mut self, job: JobId, update: Update) {
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
            t.points = points;
            t.samples = samples;
            t.iteration = (iteration, total);
            t.kl = kl;
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

impl ProjectionView {
    /// Draw the panel; `current` is the current input's prediction (its star on the PCA view).
    pub fn ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>, current: Option<&Prediction>) {
        let Some(e) = ctx.exploration else {
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
        let export = self.toolbar_ui(ui);
        let plot_rect = self.plot_rect;
        self.method_ui(ui, ctx);
        let clicked_neighbour = self.neighbours_ui(ui, ctx);
        self.plot_ui(ui, ctx, e, &classes, current);
        if let Some(s) = clicked_neighbour {
            ctx.request(Request::Sample(s, Purpose::Sample));
            self.select_point(s, ctx);
        }
        if export {
            self.export_embeddings(ctx);
        }
        if let Some(rect) = plot_rect {
            ctx.png_button(ui, "Save projection PNG", rect, "projection");
        }
    }

    /// Select a sample of the projection and ask for its nearest neighbours.
    pub fn select_point(&mut self, sample: usize, ctx: &mut PanelCtx<'_>) {
        if self.k == 0 {
            self.k = 10;
        }
        self.selected = Some(sample);
        let id = ctx.jobs.start(Job::Neighbours {
            space: self.space,
            sample,
            k: self.k.max(1),
            metric: self.metric,
        });
        self.neighbours_job = Some(id);
    }

    /// Ask the worker for a t-SNE of a space.
    pub fn start_tsne(&mut self, space: usize, config: TsneConfig, ctx: &mut PanelCtx<'_>) {
        if let Some(old) = &self.tsne {
            ctx.jobs.cancel(old.job);
        }
        let iterations = config.iterations;
        let job = ctx.jobs.start(Job::Tsne { space, config });
        self.tsne = Some(TsneLayout {
            job,
            space,
            points: Vec::new(),
            samples: Vec::new(),
            iteration: (0, iterations),
            kl: f32::NAN,
            started: Some(std::time::Instant::now()),
        });
    }

    /// One embedding space of the exploration, as shown (PCA or t-SNE): the worker writes the
    /// TensorBoard projector pair and the 2-D coordinates into a new folder.
    pub fn export_embeddings(&self, ctx: &mut PanelCtx<'_>) {
        let space = self.space;
        let Some(exploration) = ctx.exploration else {
            ctx.exported(
                "embeddings",
                Err(crate::export::ExportError::Empty(
                    "the dataset has not been explored yet".into(),
                )),
            );
            return;
        };
        let name = |k: usize| exploration.classes.get(k).cloned().unwrap_or_default();
        let points: Vec<(usize, [f32; 2], String)> = self
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
            ctx.exported(
                "embeddings",
                Err(crate::export::ExportError::Empty(
                    "no points in this projection".into(),
                )),
            );
            return;
        }
        let stem = format!("embeddings-{}", SPACES[space.min(3)]);
        match ctx.export_path(&stem, "tensorboard") {
            Ok(dir) => {
                ctx.jobs.start(Job::ExportEmbeddings { space, dir, points });
            }
            Err(e) => ctx.exported("embeddings", Err(e)),
        }
    }
}

impl FusionApp {
    /// Select a sample of the projection and ask for its nearest neighbours.
    pub fn select_point(&mut self, sample: usize) {
        self.projections
            .select_point(sample, &mut crate::app::panel::panel_ctx!(self));
    }

    /// Ask the worker for a t-SNE of a space (replacing a layout still being made).
    pub fn start_tsne(&mut self, space: usize, config: TsneConfig) {
        self.projections
            .start_tsne(space, config, &mut crate::app::panel::panel_ctx!(self));
    }
}
