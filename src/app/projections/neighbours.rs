//! The projections panel's neighbour list: the samples nearest to the clicked one in the
//! embedding shown, with their classes and distances.

use super::ProjectionView;
use crate::app::panel::PanelCtx;
use crate::viz::knn::Metric;
use crate::worker::SPACES;

impl ProjectionView {
    /// The neighbours list (a side panel); returns a neighbour the user chose to load.
    pub(super) fn neighbours_ui(
        &mut self,
        ui: &mut egui::Ui,
        ctx: &mut PanelCtx<'_>,
    ) -> Option<usize> {
        let (Some(selected), Some(e)) = (self.selected, ctx.exploration) else {
            return None;
        };
        let mut chosen = None;
        let mut again = false;
        egui::Panel::right("neighbours_panel")
            .resizable(false)
            .default_size(250.0)
            .show(ui, |ui| {
                let name = |k: usize| e.classes.get(k).cloned().unwrap_or_default();
                let Some(sample) = e.samples.get(selected) else {
                    return;
                };
                ui.strong(format!("Nearest to {}", sample.id));
                ui.small(format!(
                    "true class {} · in the {} embedding",
                    name(sample.label),
                    SPACES[self.space]
                ));
                ui.horizontal(|ui| {
                    for m in [Metric::Euclidean, Metric::Cosine] {
                        again |= ui.selectable_value(&mut self.metric, m, m.name()).changed();
                    }
                });
                ui.horizontal(|ui| {
                    let l = ui.label("Neighbours");
                    again |= ui
                        .add(egui::DragValue::new(&mut self.k).range(1..=50))
                        .labelled_by(l.id)
                        .changed();
                });
                match &self.neighbours {
                    Some((space, s, list)) if *s == selected && *space == self.space => {
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
                        crate::app::widgets::quiet_spinner(ui);
                    }
                }
            });
        if again {
            self.select_point(selected, ctx);
        }
        chosen
    }
}
