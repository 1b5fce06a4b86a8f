//! The projections panel's scatter plot: points coloured by class, prediction or correctness,
//! the hovered, selected and neighbouring points ringed, the current input as a star; hover
//! names a point, a click loads it.

use egui::{Color32, Pos2};
use egui_plot::{Legend, MarkerShape, PlotPoint, PlotTransform, Points};

use super::{ColourBy, MAX_DRAWN, Method, ProjectionView, decimate};
use crate::app::Purpose;
use crate::app::panel::{PanelCtx, Request};
use crate::app::widgets::{self, class_colour};
use crate::engine::Prediction;
use crate::worker::{Exploration, ExploredSample};

impl ProjectionView {
    /// Draw the plot of exploration `e` and handle hover and click.
    pub(super) fn plot_ui(
        &mut self,
        ui: &mut egui::Ui,
        ctx: &mut PanelCtx<'_>,
        e: &Exploration,
        classes: &[String],
        current: Option<&Prediction>,
    ) {
        let full = self.layout(Some(e));
        let keep: Vec<usize> = self
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
        // Group points by colour so the legend names them.
        let key_of = |s: usize| colour_key(self.colour, &e.samples[s], classes);
        let mut groups: std::collections::BTreeMap<(usize, String), Vec<[f64; 2]>> =
            Default::default();
        for (s, p) in &layout {
            groups
                .entry(key_of(*s))
                .or_default()
                .push([f64::from(p[0]), f64::from(p[1])]);
        }
        let star = self.star(e, current);
        let hovered = self.hovered;
        let ring: Vec<[f64; 2]> = self
            .neighbours
            .iter()
            .filter(|(space, _, _)| *space == self.space)
            .flat_map(|(_, _, n)| n.iter())
            .filter_map(|(j, _)| layout.iter().find(|(s, _)| s == j))
            .map(|(_, p)| [f64::from(p[0]), f64::from(p[1])])
            .collect();
        let selected_point = self
            .selected
            .and_then(|sel| layout.iter().find(|(s, _)| *s == sel))
            .map(|(_, p)| [f64::from(p[0]), f64::from(p[1])]);
        let response = widgets::plot("projection_plot")
            .legend(Legend::default())
            .data_aspect(1.0)
            .height(ui.available_height().max(200.0) - 60.0)
            .show(ui, |plot| {
                for ((colour, name), pts) in groups {
                    let c = if self.colour == ColourBy::Correct {
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
        self.plot_rect = Some(r.rect);
        let pointer = r.hover_pos();
        let near = pointer.and_then(|pos| nearest(&layout, &transform, pos, 8.0));
        self.transform = Some(transform);
        self.hovered = near;
        if let Some(s) = near {
            let text = hover_text(&e.samples[s], classes);
            r.clone().on_hover_text_at_pointer(text);
            if r.clicked() {
                ctx.request(Request::Sample(s, Purpose::Sample));
                self.select_point(s, ctx);
            }
        }
    }
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

impl ProjectionView {
    /// Where the current input falls on the PCA view (t-SNE cannot place new points).
    fn star(&self, e: &Exploration, current: Option<&Prediction>) -> Option<[f32; 2]> {
        if self.method != Method::Pca {
            return None;
        }
        let p = current?;
        let v = if self.space == 3 {
            &p.fused
        } else {
            &p.embeddings[self.space]
        };
        let pca = e.projections.get(self.space)?.pca.as_ref()?;
        (!v.is_empty()).then(|| pca.project(v))
    }
}

/// The colour group of a sample (index into the palette, legend name).
fn colour_key(colour: ColourBy, sample: &ExploredSample, classes: &[String]) -> (usize, String) {
    let predicted = sample.outcome.as_ref().map(|o| o.predicted);
    let name = |k: usize| classes.get(k).cloned().unwrap_or_default();
    match colour {
        ColourBy::Class => (sample.label, name(sample.label)),
        ColourBy::Predicted => {
            let p = predicted.unwrap_or(0);
            (p, format!("predicted {}", name(p)))
        }
        ColourBy::Correct if predicted == Some(sample.label) => (4, "right".into()),
        ColourBy::Correct => (2, "wrong".into()),
    }
}

/// What hovering a point says about its sample.
fn hover_text(sample: &ExploredSample, classes: &[String]) -> String {
    let name = |k: usize| classes.get(k).cloned().unwrap_or_default();
    let mut text = format!("{} · true: {}", sample.id, name(sample.label));
    if let Some(o) = &sample.outcome {
        text += &format!(
            " · predicted: {} ({:.0}%)",
            name(o.predicted),
            o.confidence * 100.0
        );
    }
    if let Some(t) = &sample.text {
        text += &format!("\n“{t}”");
    }
    text + "\nclick to load it into the inputs"
}
