//! The Learn panel: how each fusion method joins the three modalities (an explanation, its
//! equation, a diagram and when it works), what each synthetic dataset is for, and "Try it"
//! buttons that set up a dataset and a method to watch the idea in action.
//!
//! Only characters that the default fonts can draw are used: the equations are monospace (Hack),
//! everything else proportional (Ubuntu-Light); circled operators are drawn with the painter.

use egui::RichText;

use crate::data::DatasetSpec;
use crate::data::synthetic::Preset;
use crate::engine::claims::{self, Claim};
use crate::model::FusionKind;

mod diagram;
mod texts;
use diagram::diagram;
pub use texts::{equation, guided_question, try_it, when_it_works};
use texts::{legend, title};

/// What a "Try it" button asks the app to set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TryIt {
    /// The synthetic dataset to load.
    pub preset: Preset,
    /// The fusion method to train on it.
    pub fusion: FusionKind,
}

/// State of the Learn panel.
#[derive(Clone, Debug)]
pub struct LearnView {
    /// The method being explained.
    pub method: FusionKind,
    /// The dataset being explained.
    pub preset: Preset,
    /// The app's dataset spec and method when the panel last followed them (see [`Self::follow`]).
    followed: Option<(String, FusionKind)>,
    /// The loaded dataset is not a built-in preset: its spec, said above the presets.
    own_dataset: Option<String>,
}

impl Default for LearnView {
    fn default() -> Self {
        Self {
            method: FusionKind::Attention,
            preset: Preset::Redundant,
            followed: None,
            own_dataset: None,
        }
    }
}

impl LearnView {
    /// Open on the app's dataset and method: when either changed since the last call, the panel
    /// shows the loaded preset (the default one for a dataset of your own) and the method set.
    /// Between changes the learner's own choices stay.
    pub fn follow(&mut self, dataset: &str, fusion: FusionKind) {
        let changed = self.followed.as_ref().map(|(d, f)| (d.as_str(), *f));
        if changed == Some((dataset, fusion)) {
            return;
        }
        if changed.is_none_or(|(_, f)| f != fusion) {
            self.method = fusion;
        }
        if changed.is_none_or(|(d, _)| d != dataset) {
            (self.preset, self.own_dataset) = match dataset.parse::<DatasetSpec>() {
                Ok(DatasetSpec::Synthetic(c)) => (c.preset, None),
                _ => (Preset::Redundant, Some(dataset.to_owned())),
            };
        }
        self.followed = Some((dataset.to_owned(), fusion));
    }

    /// Draw the panel. Returns the setup to apply when a "Try it" button was clicked.
    pub fn ui(&mut self, ui: &mut egui::Ui) -> Option<TryIt> {
        let mut chosen = None;
        egui::ScrollArea::vertical()
            .id_salt("learn_scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                ui.horizontal_wrapped(|ui| {
                    ui.label("Fusion method:");
                    for kind in FusionKind::ALL {
                        ui.selectable_value(&mut self.method, kind, kind.name())
                            .on_hover_text(kind.explanation());
                    }
                });
                ui.add_space(6.0);
                let method = self.method;
                ui.heading(title(method));
                ui.label(method.explanation());
                ui.add_space(4.0);
                egui::Frame::group(ui.style()).show(ui, |ui| {
                    ui.label(RichText::new(equation(method)).monospace().size(15.0));
                });
                ui.add_space(4.0);
                diagram(ui, method);
                ui.add_space(2.0);
                ui.label(RichText::new(legend(method)).size(12.5));
                ui.add_space(6.0);
                ui.label(when_it_works(method));
                ui.add_space(4.0);
                let (preset, watch) = try_it(method);
                if ui
                    .button(format!("Try it: {} with {}", preset.name(), method.name()))
                    .on_hover_text(watch)
                    .clicked()
                {
                    chosen = Some(TryIt {
                        preset,
                        fusion: method,
                    });
                }
                ui.label(RichText::new(format!("What to watch: {watch}")).italics());
                claims_ui(ui, &claims::about_method(method).collect::<Vec<_>>());

                ui.add_space(8.0);
                ui.separator();
                ui.heading("Datasets");
                if let Some(own) = &self.own_dataset {
                    ui.label(format!(
                        "The dataset loaded now ({own}) is your own, not a built-in one; these are the built-in Shapes & Sounds datasets."
                    ));
                }
                ui.horizontal_wrapped(|ui| {
                    ui.label("Synthetic dataset:");
                    for preset in Preset::ALL {
                        ui.selectable_value(&mut self.preset, preset, preset.name());
                    }
                });
                ui.add_space(4.0);
                let preset = self.preset;
                ui.label(preset.explanation());
                ui.add_space(4.0);
                let (question, look) = guided_question(preset);
                ui.label(RichText::new(question).strong());
                ui.label(look);
                claims_ui(ui, &claims::about_preset(preset).collect::<Vec<_>>());
                ui.add_space(4.0);
                if ui
                    .button(format!("Open {}", preset.name()))
                    .on_hover_text(format!(
                        "Load the {} dataset and set the fusion method to {}.",
                        preset.name(),
                        method.name()
                    ))
                    .clicked()
                {
                    chosen = Some(TryIt {
                        preset,
                        fusion: method,
                    });
                }
            });
        chosen
    }
}

/// What the app predicts will happen, from [`claims::ALL`]: each sentence is checked by the test
/// suite, training with the app's own settings on three seeds.
pub(crate) fn claims_ui(ui: &mut egui::Ui, claims: &[&Claim]) {
    if claims.is_empty() {
        return;
    }
    ui.add_space(2.0);
    ui.label(
        RichText::new(format!(
            "What to expect (checked by the test suite: the app's settings, seeds {}):",
            claims::SEEDS.map(|s| s.to_string()).join(", ")
        ))
        .strong(),
    )
    .on_hover_text(
        "Each sentence is trained and measured on the validation split by tests/claims.rs; \
         a sentence that stops being true fails the build.",
    );
    for claim in claims {
        ui.label(format!("• {}", claim.sentence));
    }
}
