//! "Shapes & Sounds": the built-in teaching dataset. Procedural and deterministic for a seed —
//! no files. Each class is defined by latent attributes rendered into each modality: an image of
//! a shape, a sentence from templates, and a synthesized sound. Presets decide which modality
//! carries which part of the class, so each one teaches a fusion lesson.

mod render;

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

pub use render::{Attributes, COLOURS, SHAPES};

use super::audio::MelSpectrogram;
use super::{
    Dataset, DatasetError, FeatureConfig, LoadObserver, Origin, Sample, SplitFractions, TextInput,
    image::normalize_chw, stratified_splits, text::tokenize,
};

/// The teaching scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// Every modality alone reveals the class.
    Redundant,
    /// Each modality reveals one part of the class; all three are needed.
    Complementary,
    /// The class is an interaction of image and audio attributes.
    Xor,
    /// Like redundant, but the image is heavily corrupted.
    NoisyImage,
    /// Like redundant, but each modality is absent in 30 % of samples.
    Missing,
}

impl Preset {
    /// All presets, in menu order.
    pub const ALL: [Self; 5] = [
        Self::Redundant,
        Self::Complementary,
        Self::Xor,
        Self::NoisyImage,
        Self::Missing,
    ];

    /// The name used in `synthetic:<name>`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Redundant => "redundant",
            Self::Complementary => "complementary",
            Self::Xor => "xor",
            Self::NoisyImage => "noisy-image",
            Self::Missing => "missing",
        }
    }

    /// Parse a preset name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// One paragraph for the app: what the data is and what it teaches.
    pub fn explanation(self) -> &'static str {
        match self {
            Self::Redundant => {
                "Redundant: the shape in the picture, the shape named in the sentence and the pitch \
                 of the sound each identify the class on their own: any single modality is enough. \
                 Watch how the model spreads its reliance across modalities and what it loses when \
                 one is masked."
            }
            Self::Complementary => {
                "Complementary: the class has three parts — the shape (circle or cross) is only in \
                 the picture, the speed (slow or quick) only in the sentence, and the pitch (low or \
                 high) only in the sound. Each modality alone can do no better than 1 in 4; a model \
                 must combine all three, and masking any one modality halves the best possible \
                 accuracy."
            }
            Self::Xor => {
                "XOR: the class depends on how the picture's shape and the sound's pitch relate \
                 (for two classes: do they match or not). Neither modality alone says anything, and \
                 adding up per-modality evidence (late fusion) cannot work; a method must model the \
                 interaction. The sentence is a distraction."
            }
            Self::NoisyImage => {
                "Noisy image: as in redundant, every modality names the class, but the picture is \
                 buried in heavy noise. Compare the modality weights: does the model learn by itself \
                 to lean little on the picture?"
            }
            Self::Missing => {
                "Missing: as in redundant, but each modality is absent in 30 % of samples (every \
                 sample keeps at least one). Fusion methods must cope with holes; compare how \
                 accuracy and modality weights change when inputs disappear."
            }
        }
    }

    /// Default number of classes and the allowed range.
    pub fn classes_range(self) -> (usize, std::ops::RangeInclusive<usize>) {
        match self {
            Self::Complementary => (8, 8..=8),
            Self::Xor => (2, 2..=4),
            _ => (4, 2..=SHAPES.len()),
        }
    }
}

/// Knobs of the synthetic generator.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SyntheticConfig {
    /// Scenario.
    pub preset: Preset,
    /// Number of samples over all splits.
    pub samples: usize,
    /// Number of classes (within the preset's range).
    pub classes: usize,
    /// Per-modality noise 0–1, indexed by [`super::Modality::index`].
    pub noise: [f32; 3],
    /// Per-modality probability of being absent, 0–1.
    pub missing: [f32; 3],
    /// Seed: the same knobs and seed give the same data.
    pub seed: u64,
    /// Train / val / test fractions (stratified by class).
    pub split: SplitFractions,
}

impl SyntheticConfig {
    /// The preset's defaults.
    pub fn new(preset: Preset) -> Self {
        let (classes, _) = preset.classes_range();
        let noise = match preset {
            Preset::NoisyImage => [0.9, 0.2, 0.2],
            _ => [0.2; 3],
        };
        let missing = match preset {
            Preset::Missing => [0.3; 3],
            _ => [0.0; 3],
        };
        Self {
            preset,
            samples: 1200,
            classes,
            noise,
            missing,
            seed: 42,
            split: SplitFractions {
                train: 0.7,
                val: 0.15,
                test: 0.15,
            },
        }
    }

    /// Check every knob's range; the error says which knob and what is allowed.
    pub fn validate(&self) -> Result<(), SyntheticError> {
        let (_, range) = self.preset.classes_range();
        if !range.contains(&self.classes) {
            return Err(SyntheticError::Classes {
                classes: self.classes,
                preset: self.preset,
                allowed: range,
            });
        }
        if !(self.classes..=1_000_000).contains(&self.samples) {
            return Err(SyntheticError::Samples {
                samples: self.samples,
                classes: self.classes,
            });
        }
        for (&modality, (&noise, &missing)) in super::Modality::ALL
            .iter()
            .zip(self.noise.iter().zip(&self.missing))
        {
            if !(0.0..=1.0).contains(&noise) {
                return Err(SyntheticError::Noise { modality, noise });
            }
            if !(0.0..=1.0).contains(&missing) {
                return Err(SyntheticError::Missing { modality, missing });
            }
        }
        let s = self.split;
        if [s.train, s.val, s.test]
            .iter()
            .any(|f| !(0.0..=1.0).contains(f))
            || s.train <= 0.0
        {
            return Err(SyntheticError::Split);
        }
        Ok(())
    }

    /// Class names for these knobs.
    pub fn class_names(&self) -> Vec<String> {
        render::class_names(self.preset, self.classes)
    }

    /// The `synthetic:` spec that reproduces this configuration.
    pub fn spec(&self) -> String {
        let d = Self::new(self.preset);
        let mut knobs = Vec::new();
        let mut knob = |name: &str, value: String, default: String| {
            if value != default {
                knobs.push(format!("{name}={value}"));
            }
        };
        knob("samples", self.samples.to_string(), d.samples.to_string());
        knob("classes", self.classes.to_string(), d.classes.to_string());
        knob("seed", self.seed.to_string(), d.seed.to_string());
        for m in super::Modality::ALL {
            let i = m.index();
            knob(
                &format!("{}_noise", m.name()),
                self.noise[i].to_string(),
                d.noise[i].to_string(),
            );
            knob(
                &format!("{}_missing", m.name()),
                self.missing[i].to_string(),
                d.missing[i].to_string(),
            );
        }
        let s = self.split;
        knob(
            "split",
            format!("{},{},{}", s.train, s.val, s.test),
            format!("{},{},{}", d.split.train, d.split.val, d.split.test),
        );
        let query = if knobs.is_empty() {
            String::new()
        } else {
            format!("?{}", knobs.join("&"))
        };
        format!("synthetic:{}{query}", self.preset.name())
    }
}

/// One generated sample before preprocessing: what a viewer shows.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderedSample {
    /// Class index.
    pub label: usize,
    /// The latent attributes that produced it.
    pub attributes: Attributes,
    /// RGB pixels in 0..1, `3 × S × S` (CHW), or `None` when the image is missing.
    pub image: Option<Vec<f32>>,
    /// The sentence, or `None` when missing.
    pub text: Option<String>,
    /// Mono audio at the configured rate, or `None` when missing.
    pub audio: Option<Vec<f32>>,
}

/// The random stream of sample `index`: each sample is independent, so generation is parallel
/// and any one sample can be regenerated alone.
fn sample_rng(seed: u64, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index as u64);
    rng
}

/// Generate sample `index` of a configuration (deterministic).
pub fn render_sample(
    cfg: &SyntheticConfig,
    features: &FeatureConfig,
    index: usize,
) -> RenderedSample {
    let mut rng = sample_rng(cfg.seed, index);
    let label = index % cfg.classes.max(1);
    let attributes = render::attributes(cfg.preset, cfg.classes, label, &mut rng);
    let mut present: [bool; 3] = std::array::from_fn(|m| rng.random::<f32>() >= cfg.missing[m]);
    if !present.iter().any(|&p| p) {
        // Keep every sample usable: bring back one modality at random.
        present[rng.random_range(0..3)] = true;
    }
    let image = present[0].then(|| {
        render::image(
            &attributes,
            features.image.size as usize,
            cfg.noise[0],
            &mut rng,
        )
    });
    let text =
        present[1].then(|| render::sentence(cfg.preset, &attributes, cfg.noise[1], &mut rng));
    let audio =
        present[2].then(|| render::sound(&attributes, &features.audio, cfg.noise[2], &mut rng));
    RenderedSample {
        label,
        attributes,
        image,
        text,
        audio,
    }
}

/// A [`SyntheticConfig`] knob out of range (the first one found).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SyntheticError {
    /// The preset does not support this many classes.
    #[error("classes={classes} is not allowed for preset {}; use {}..={}", preset.name(), allowed.start(), allowed.end())]
    Classes {
        /// Classes asked for.
        classes: usize,
        /// The preset.
        preset: Preset,
        /// The class counts it supports.
        allowed: std::ops::RangeInclusive<usize>,
    },
    /// Fewer samples than classes, or more than a million.
    #[error("samples={samples} must be between the number of classes ({classes}) and 1000000")]
    Samples {
        /// Samples asked for.
        samples: usize,
        /// Classes asked for.
        classes: usize,
    },
    /// A modality's noise level is outside 0–1.
    #[error("{}_noise={noise} must be between 0 and 1", modality.name())]
    Noise {
        /// The modality.
        modality: super::Modality,
        /// The level given.
        noise: f32,
    },
    /// A modality's missing probability is outside 0–1.
    #[error("{}_missing={missing} must be between 0 and 1", modality.name())]
    Missing {
        /// The modality.
        modality: super::Modality,
        /// The probability given.
        missing: f32,
    },
    /// A split fraction is outside 0–1, or the training fraction is 0.
    #[error("split fractions must be between 0 and 1 and train must be > 0")]
    Split,
}

/// Generate a whole dataset: render, preprocess (in parallel), split, build the vocabulary.
pub fn generate(
    cfg: &SyntheticConfig,
    features: &FeatureConfig,
    observer: &dyn LoadObserver,
) -> Result<Dataset, DatasetError> {
    cfg.validate().map_err(|e| DatasetError::BadSpec {
        spec: cfg.spec(),
        reason: e.to_string(),
    })?;
    let mel = MelSpectrogram::new(&features.audio);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let samples: Vec<Option<Sample>> = (0..cfg.samples)
        .into_par_iter()
        .map(|index| {
            if observer.cancelled() {
                return None;
            }
            let r = render_sample(cfg, features, index);
            let image = r.image.map(|mut px| {
                normalize_chw(&mut px, &features.image);
                px
            });
            let text = r.text.and_then(|raw| {
                tokenize(&raw).map(|words| TextInput {
                    raw,
                    words,
                    ids: Vec::new(),
                })
            });
            let audio = r.audio.map(|wave| mel.compute(&wave));
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if n.is_multiple_of(64) || n == cfg.samples {
                observer.progress(n, cfg.samples);
            }
            Some(Sample {
                id: format!("syn_{index:05}"),
                label: r.label,
                split: super::Split::Train,
                image,
                text,
                audio,
                origin: Origin::Synthetic { index },
                backbone: Default::default(),
            })
        })
        .collect();
    let mut samples: Vec<Sample> = samples
        .into_iter()
        .collect::<Option<_>>()
        .ok_or(DatasetError::Cancelled)?;
    let labels: Vec<usize> = samples.iter().map(|s| s.label).collect();
    for (s, split) in samples
        .iter_mut()
        .zip(stratified_splits(&labels, cfg.split, cfg.seed))
    {
        s.split = split;
    }
    let mut dataset = Dataset {
        name: cfg.spec(),
        description: cfg.preset.explanation().to_owned(),
        classes: cfg.class_names(),
        samples,
        vocab: Default::default(),
        features: features.clone(),
        problems: Vec::new(),
    };
    dataset.build_vocab();
    Ok(dataset)
}
