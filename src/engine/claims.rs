//! What the app tells a learner will happen — "late fusion stays near chance on xor", "the image
//! weight ends up the smallest on noisy-image" — written down once as data: the sentence shown,
//! the set-up it is about (dataset spec, fusion method, any setting the app changes) and the
//! measured quantity with the relation it must satisfy. The Learn panel and the lessons show the
//! sentences from here; `tests/claims.rs` trains every set-up with the app's own settings on
//! three seeds and checks each relation.

use crate::data::synthetic::Preset;
use crate::model::{FusionKind, WeightKind};

use super::{Evaluation, TrainConfig};

/// The seeds each claim is checked on: the app's default seed and the next two.
pub const SEEDS: [u64; 3] = [42, 43, 44];

/// The modality names, in the order of the weights and one-modality accuracies.
const MODALITIES: [&str; 3] = ["image", "text", "audio"];

/// What is measured, on the validation split (the split Training shows during training).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Expect {
    /// Validation accuracy at least this.
    AccuracyAtLeast(f32),
    /// Validation accuracy at most this.
    AccuracyAtMost(f32),
    /// Accuracy with only one modality given, for each of these modalities, at least this.
    AloneAtLeast(&'static [usize], f32),
    /// Accuracy with only one modality given, for each of these modalities, at most this.
    AloneAtMost(&'static [usize], f32),
    /// This modality gets the largest mean weight by Shapley values (Analysis > Modality
    /// contribution) and, for a method with weights of its own, by those too.
    TrustedMost(usize),
}

/// Every modality.
const EACH: &[usize] = &[0, 1, 2];
const IMAGE: usize = 0;
const TEXT: usize = 1;
const AUDIO: usize = 2;

/// What a trained model showed on the validation split.
#[derive(Clone, Debug)]
pub struct Observation {
    /// The validation evaluation.
    pub val: Evaluation,
    /// Mean Shapley weights (image, text, audio) of the validation samples.
    pub shapley: [f32; 3],
}

/// One claim: a sentence, the set-up it is about, and what must hold.
#[derive(Clone, Copy, Debug)]
pub struct Claim {
    /// Stable name (lesson files refer to claims by it).
    pub id: &'static str,
    /// The sentence the app shows.
    pub sentence: &'static str,
    /// The dataset spec, as the app loads it.
    pub dataset: &'static str,
    /// The fusion method.
    pub fusion: FusionKind,
    /// Epochs, when the set-up changes the app's default (a lesson's own).
    pub epochs: Option<usize>,
    /// The lesson file (in `assets/lessons`) whose set-up this is; `None` for the Learn panel's
    /// "Try it" set-ups (the preset at its default size, the app's default settings).
    pub lesson: Option<&'static str>,
    /// What must hold.
    pub expect: Expect,
}

/// A claim's outcome on one trained model.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// The number compared (accuracy, the extreme one-modality accuracy, or the modality's weight).
    pub value: f32,
    /// What `value` is, with the numbers it was compared with.
    pub detail: String,
    /// Whether the claim holds.
    pub holds: bool,
}

impl Claim {
    /// The training settings the app uses for this set-up with `seed`: its defaults, the method
    /// (what "Try it" and the lessons set), and the claim's own epochs if any.
    pub fn config(&self, seed: u64) -> TrainConfig {
        let mut cfg = TrainConfig {
            fusion: self.fusion,
            seed,
            ..TrainConfig::default()
        };
        if let Some(e) = self.epochs {
            cfg.epochs = e;
        }
        cfg
    }

    /// Checks the claim on what a model showed.
    pub fn measure(&self, obs: &Observation) -> Measured {
        let m = &obs.val.metrics;
        match self.expect {
            Expect::AccuracyAtLeast(t) => Measured {
                value: m.accuracy,
                detail: format!("val acc {:.3} (≥ {t})", m.accuracy),
                holds: m.accuracy >= t,
            },
            Expect::AccuracyAtMost(t) => Measured {
                value: m.accuracy,
                detail: format!("val acc {:.3} (≤ {t})", m.accuracy),
                holds: m.accuracy <= t,
            },
            Expect::AloneAtLeast(which, t) => alone(m, which, t, true),
            Expect::AloneAtMost(which, t) => alone(m, which, t, false),
            Expect::TrustedMost(modality) => {
                let largest = |w: &[f32; 3]| (0..3).all(|i| i == modality || w[i] < w[modality]);
                let shapley = obs.shapley;
                let native = (obs.val.weight_kind == WeightKind::Native).then_some(m.mean_weights);
                let native_text = native.map_or(String::new(), |w| {
                    format!(
                        "; own image {:.2}, text {:.2}, audio {:.2}",
                        w[0], w[1], w[2]
                    )
                });
                Measured {
                    value: shapley[modality],
                    detail: format!(
                        "Shapley image {:.2}, text {:.2}, audio {:.2}{native_text}",
                        shapley[0], shapley[1], shapley[2]
                    ),
                    holds: largest(&shapley) && native.is_none_or(|w| largest(&w)),
                }
            }
        }
    }

    /// The synthetic preset the claim's dataset is, if it is one.
    pub fn preset(&self) -> Option<Preset> {
        match self.dataset.parse::<crate::data::DatasetSpec>() {
            Ok(crate::data::DatasetSpec::Synthetic(c)) => Some(c.preset),
            _ => None,
        }
    }
}

/// Checks one-modality accuracies of `which` against `t` (`at_least`, else at most).
fn alone(m: &super::Metrics, which: &[usize], t: f32, at_least: bool) -> Measured {
    let values: Vec<(usize, Option<f32>)> =
        which.iter().map(|&i| (i, m.modality_only[i])).collect();
    let text = values
        .iter()
        .map(|(i, a)| match a {
            Some(a) => format!("{} {a:.3}", MODALITIES[*i]),
            None => format!("{} -", MODALITIES[*i]),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let ok = |v: f32| if at_least { v >= t } else { v <= t };
    let present = values.iter().filter_map(|a| a.1);
    let worst = if at_least {
        present.fold(f32::INFINITY, f32::min)
    } else {
        present.fold(f32::NEG_INFINITY, f32::max)
    };
    Measured {
        value: worst,
        detail: format!("alone: {text} ({} {t})", if at_least { "≥" } else { "≤" }),
        holds: values.iter().all(|a| a.1.is_some_and(ok)),
    }
}

/// Every claim the app makes.
pub const ALL: &[Claim] = &[
    Claim {
        id: "late-xor",
        sentence: "Late fusion on xor: validation accuracy stays near chance (at most 0.65).",
        dataset: "synthetic:xor",
        fusion: FusionKind::Late,
        epochs: None,
        lesson: None,
        expect: Expect::AccuracyAtMost(0.65),
    },
    Claim {
        id: "early-xor-alone",
        sentence: "Early fusion on xor: given one modality only, accuracy stays near chance (at most 0.65 for each).",
        dataset: "synthetic:xor",
        fusion: FusionKind::Early,
        epochs: None,
        lesson: None,
        expect: Expect::AloneAtMost(EACH, 0.65),
    },
    Claim {
        id: "tensor-xor",
        sentence: "Tensor fusion on xor: validation accuracy rises to at least 0.9.",
        dataset: "synthetic:xor",
        fusion: FusionKind::Tensor,
        epochs: None,
        lesson: None,
        expect: Expect::AccuracyAtLeast(0.9),
    },
    Claim {
        id: "tensor-xor-alone",
        sentence: "Tensor fusion on xor: given one modality only, accuracy stays near chance (at most 0.65 for each).",
        dataset: "synthetic:xor",
        fusion: FusionKind::Tensor,
        epochs: None,
        lesson: None,
        expect: Expect::AloneAtMost(EACH, 0.65),
    },
    Claim {
        id: "lowrank-xor",
        sentence: "Low-rank fusion on xor: validation accuracy rises to at least 0.9.",
        dataset: "synthetic:xor",
        fusion: FusionKind::LowRank,
        epochs: None,
        lesson: None,
        expect: Expect::AccuracyAtLeast(0.9),
    },
    Claim {
        id: "gated-noisy-image-sound",
        sentence: "Gated fusion on noisy-image trusts the sound most: it gets the largest weight, averaged over the validation samples, by the gates and by Shapley values (Analysis > Modality contribution). Single samples vary.",
        dataset: "synthetic:noisy-image",
        fusion: FusionKind::Gated,
        epochs: None,
        lesson: None,
        expect: Expect::TrustedMost(AUDIO),
    },
    Claim {
        id: "attention-missing-alone",
        sentence: "Attention fusion on missing: the text alone or the sound alone still gives at least 0.9 accuracy, so hiding the picture rarely changes the answer.",
        dataset: "synthetic:missing",
        fusion: FusionKind::Attention,
        epochs: None,
        lesson: None,
        expect: Expect::AloneAtLeast(&[TEXT, AUDIO], 0.9),
    },
    Claim {
        id: "crossmodal-complementary",
        sentence: "Cross-modal transformer on complementary: validation accuracy reaches at least 0.6, far above the 0.25 any one modality allows.",
        dataset: "synthetic:complementary",
        fusion: FusionKind::CrossModal,
        epochs: None,
        lesson: None,
        expect: Expect::AccuracyAtLeast(0.6),
    },
    Claim {
        id: "redundant-audio",
        sentence: "On redundant, attention fusion (the default) comes to lean on the sound: the sound alone keeps at least 0.9 accuracy.",
        dataset: "synthetic:redundant",
        fusion: FusionKind::Attention,
        epochs: None,
        lesson: None,
        expect: Expect::AloneAtLeast(&[AUDIO], 0.9),
    },
    Claim {
        id: "redundant-image",
        sentence: "On redundant, attention fusion (the default) gives the picture alone at most 0.5 accuracy, although the picture could tell the class by itself: attention locks onto one modality early.",
        dataset: "synthetic:redundant",
        fusion: FusionKind::Attention,
        epochs: None,
        lesson: None,
        expect: Expect::AloneAtMost(&[IMAGE], 0.5),
    },
    Claim {
        id: "complementary-alone",
        sentence: "On complementary (attention fusion, the default), each modality alone stays at most 0.4.",
        dataset: "synthetic:complementary",
        fusion: FusionKind::Attention,
        epochs: None,
        lesson: None,
        expect: Expect::AloneAtMost(EACH, 0.4),
    },
    Claim {
        id: "complementary-all",
        sentence: "On complementary (attention fusion, the default), all three together reach at least 0.6.",
        dataset: "synthetic:complementary",
        fusion: FusionKind::Attention,
        epochs: None,
        lesson: None,
        expect: Expect::AccuracyAtLeast(0.6),
    },
    Claim {
        id: "noisy-image-sound",
        sentence: "On noisy-image, attention fusion (the default) trusts the sound most: the largest weight by its own α and by Shapley values.",
        dataset: "synthetic:noisy-image",
        fusion: FusionKind::Attention,
        epochs: None,
        lesson: None,
        expect: Expect::TrustedMost(AUDIO),
    },
    Claim {
        id: "lesson2-late",
        sentence: "With the lesson's settings, late fusion stays near chance (validation accuracy at most 0.65).",
        dataset: "synthetic:xor?samples=800",
        fusion: FusionKind::Late,
        epochs: Some(15),
        lesson: Some("2-xor-late-fails.fusionlab.json"),
        expect: Expect::AccuracyAtMost(0.65),
    },
    Claim {
        id: "lesson2-tensor",
        sentence: "With the lesson's settings, tensor fusion reaches at least 0.85 validation accuracy.",
        dataset: "synthetic:xor?samples=800",
        fusion: FusionKind::Tensor,
        epochs: Some(15),
        lesson: Some("2-xor-late-fails.fusionlab.json"),
        expect: Expect::AccuracyAtLeast(0.85),
    },
    Claim {
        id: "lesson3-gated-sound",
        sentence: "With the lesson's settings, gated fusion trusts the sound most: the largest weight by its gates and by Shapley values, averaged over the validation samples.",
        dataset: "synthetic:noisy-image",
        fusion: FusionKind::Gated,
        epochs: Some(12),
        lesson: Some("3-noisy-image-trust.fusionlab.json"),
        expect: Expect::TrustedMost(AUDIO),
    },
];

/// The claim named `id`.
pub fn find(id: &str) -> Option<&'static Claim> {
    ALL.iter().find(|c| c.id == id)
}

/// The claims about the method `fusion` on its default-size preset datasets (the Learn panel's
/// method section).
pub fn about_method(fusion: FusionKind) -> impl Iterator<Item = &'static Claim> {
    ALL.iter()
        .filter(move |c| c.fusion == fusion && c.lesson.is_none())
}

/// The claims about the default-size preset `preset` (the Learn panel's dataset section).
pub fn about_preset(preset: Preset) -> impl Iterator<Item = &'static Claim> {
    ALL.iter()
        .filter(move |c| c.preset() == Some(preset) && c.lesson.is_none())
}
