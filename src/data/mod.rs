//! The data layer: files and built-in datasets → model-ready samples.
//!
//! A [`Sample`] holds any subset of image, text and audio plus a label; [`Sample::presence`]
//! says which are there. Missing modalities are normal everywhere. Features are computed once
//! when a [`Dataset`] is loaded and kept in memory, so training epochs never decode twice.

pub mod audio;
mod error;
pub mod folder;
pub mod image;
pub mod project;
pub mod spec;
pub mod synthetic;
pub mod text;
pub mod tokens;

use std::path::PathBuf;

use rand::SeedableRng as _;
use rand::seq::SliceRandom as _;

pub use error::{AudioError, DatasetError, ImageError, Problem, ProblemKind};
pub use spec::{DatasetSpec, LoadOptions, load_dataset};

/// The three input kinds, in the fixed order used by every array indexed by modality.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    /// A picture.
    Image,
    /// A sentence.
    Text,
    /// A sound clip.
    Audio,
}

impl Modality {
    /// All modalities, in index order.
    pub const ALL: [Self; 3] = [Self::Image, Self::Text, Self::Audio];

    /// Lower-case name, as used in CSV columns and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Text => "text",
            Self::Audio => "audio",
        }
    }

    /// Position in [`Modality::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Which modalities a sample has, indexed by [`Modality::index`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Presence(pub [bool; 3]);

impl Presence {
    /// Is this modality present?
    pub fn has(self, m: Modality) -> bool {
        self.0[m.index()]
    }
    /// Number of present modalities.
    pub fn count(self) -> usize {
        self.0.iter().filter(|&&p| p).count()
    }
    /// As 0/1 floats (a model's mask).
    pub fn mask(self) -> [f32; 3] {
        self.0.map(|p| if p { 1.0 } else { 0.0 })
    }
}

/// Which part of the data a sample belongs to.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Used to fit the model (and to build the vocabulary).
    Train,
    /// Used to choose hyper-parameters and stop early.
    Val,
    /// Held out for the final figures.
    Test,
}

impl Split {
    /// All splits in order.
    pub const ALL: [Self; 3] = [Self::Train, Self::Val, Self::Test];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Val => "val",
            Self::Test => "test",
        }
    }

    /// Parse the usual spellings (`train`, `val`/`valid`/`validation`/`dev`, `test`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_lowercase().as_str() {
            "train" | "training" => Some(Self::Train),
            "val" | "valid" | "validation" | "dev" => Some(Self::Val),
            "test" | "testing" => Some(Self::Test),
            _ => None,
        }
    }
}

/// A sentence: the raw text, its words and their vocabulary ids.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TextInput {
    /// As written.
    pub raw: String,
    /// Normalised words.
    pub words: Vec<String>,
    /// Ids in the dataset's vocabulary, truncated to the configured maximum length.
    pub ids: Vec<u32>,
}

/// Where a sample came from, so a viewer can show the original.
#[derive(Clone, Debug, PartialEq)]
pub enum Origin {
    /// Procedurally generated: preset and index regenerate it.
    Synthetic {
        /// Index in the generated set.
        index: usize,
    },
    /// From files on disk.
    Files {
        /// Image file, if any.
        image: Option<PathBuf>,
        /// Audio file, if any.
        audio: Option<PathBuf>,
    },
}

/// One example: any subset of the three modalities plus a label.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Stable identifier (the manifest's `id`, or the row/index).
    pub id: String,
    /// Index into [`Dataset::classes`].
    pub label: usize,
    /// Train, validation or test.
    pub split: Split,
    /// Normalised RGB image, `3 × S × S` (CHW), if present.
    pub image: Option<Vec<f32>>,
    /// Tokenised text, if present.
    pub text: Option<TextInput>,
    /// Log-mel spectrogram, `n_mels × frames` (mel-major), if present.
    pub audio: Option<Vec<f32>>,
    /// Where the sample came from.
    pub origin: Origin,
    /// Frozen-backbone tokens, once extracted for a model that uses pretrained encoders.
    pub backbone: tokens::BackboneTokens,
}

impl Sample {
    /// Which modalities this sample has.
    pub fn presence(&self) -> Presence {
        Presence([
            self.image.is_some(),
            self.text.is_some(),
            self.audio.is_some(),
        ])
    }

    /// Drops modality `m` (0 image, 1 text, 2 audio) and its backbone tokens.
    pub fn remove_modality(&mut self, m: usize) {
        match m {
            0 => self.image = None,
            1 => self.text = None,
            _ => self.audio = None,
        }
        if let Some(slot) = self.backbone.0.get_mut(m) {
            *slot = None;
        }
    }
}

/// All preprocessing settings together.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FeatureConfig {
    /// Image settings.
    pub image: image::ImageConfig,
    /// Audio settings.
    pub audio: audio::AudioConfig,
    /// Text settings.
    pub text: text::TextConfig,
}

/// A loaded dataset: preprocessed samples, class names, vocabulary and the problems found.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Short name (`avdigits`, `synthetic:redundant`).
    pub name: String,
    /// What it is and what it teaches (shown by the app), if known.
    pub description: String,
    /// Class names; a sample's `label` indexes this.
    pub classes: Vec<String>,
    /// Every usable sample.
    pub samples: Vec<Sample>,
    /// Word table built from the training split.
    pub vocab: text::Vocab,
    /// How the features were computed.
    pub features: FeatureConfig,
    /// Bad rows that were skipped.
    pub problems: Vec<Problem>,
}

impl Dataset {
    /// Samples of one split.
    pub fn split(&self, split: Split) -> impl Iterator<Item = &Sample> {
        self.samples.iter().filter(move |s| s.split == split)
    }

    /// Build the vocabulary from the training split and encode every text with it.
    pub fn build_vocab(&mut self) {
        let cfg = &self.features.text;
        self.vocab = text::Vocab::build(
            self.samples
                .iter()
                .filter(|s| s.split == Split::Train)
                .filter_map(|s| s.text.as_ref().map(|t| t.words.as_slice())),
            cfg.min_count,
        );
        for text in self.samples.iter_mut().filter_map(|s| s.text.as_mut()) {
            text.ids = self.vocab.encode(&text.words, cfg.max_len);
        }
    }

    /// Counts per split × class × modality, feature shapes and problems.
    pub fn summary(&self) -> Summary {
        let splits = Split::ALL
            .iter()
            .map(|&split| {
                let mut classes = vec![Counts::default(); self.classes.len()];
                for s in self.split(split) {
                    if let Some(c) = classes.get_mut(s.label) {
                        c.add(s.presence());
                    }
                }
                let mut total = Counts::default();
                for c in &classes {
                    total.merge(c);
                }
                SplitSummary {
                    split,
                    total,
                    classes,
                }
            })
            .collect();
        let f = &self.features;
        Summary {
            name: self.name.clone(),
            description: self.description.clone(),
            samples: self.samples.len(),
            classes: self.classes.clone(),
            splits,
            image_shape: f.image.shape(),
            audio_shape: f.audio.shape(),
            text_max_len: f.text.max_len,
            vocab_size: self.vocab.len(),
            problems: self.problems.clone(),
        }
    }
}

/// Sample and per-modality presence counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Samples.
    pub samples: usize,
    /// Samples with an image.
    pub image: usize,
    /// Samples with text.
    pub text: usize,
    /// Samples with audio.
    pub audio: usize,
}

impl Counts {
    fn add(&mut self, p: Presence) {
        self.samples += 1;
        self.image += usize::from(p.has(Modality::Image));
        self.text += usize::from(p.has(Modality::Text));
        self.audio += usize::from(p.has(Modality::Audio));
    }
    fn merge(&mut self, o: &Counts) {
        self.samples += o.samples;
        self.image += o.image;
        self.text += o.text;
        self.audio += o.audio;
    }
    /// Present count of one modality.
    pub fn present(&self, m: Modality) -> usize {
        match m {
            Modality::Image => self.image,
            Modality::Text => self.text,
            Modality::Audio => self.audio,
        }
    }
}

/// Counts of one split.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitSummary {
    /// Which split.
    pub split: Split,
    /// All classes together.
    pub total: Counts,
    /// Per class, in class order.
    pub classes: Vec<Counts>,
}

/// What `fusionlab data info` prints and the app shows.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Dataset name.
    pub name: String,
    /// Explanation.
    pub description: String,
    /// Total samples.
    pub samples: usize,
    /// Class names.
    pub classes: Vec<String>,
    /// Train, val, test.
    pub splits: Vec<SplitSummary>,
    /// `[3, S, S]`.
    pub image_shape: [usize; 3],
    /// `[n_mels, frames]`.
    pub audio_shape: [usize; 2],
    /// Maximum tokens per text.
    pub text_max_len: usize,
    /// Vocabulary size including `[PAD]` and `[UNK]`.
    pub vocab_size: usize,
    /// Bad rows skipped while loading.
    pub problems: Vec<Problem>,
}

impl Summary {
    /// Counts of one split.
    pub fn split(&self, split: Split) -> Option<&SplitSummary> {
        self.splits.iter().find(|s| s.split == split)
    }
}

/// Fractions of train / val / test used when the data does not say.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitFractions {
    /// Training fraction.
    pub train: f32,
    /// Validation fraction.
    pub val: f32,
    /// Test fraction.
    pub test: f32,
}

impl Default for SplitFractions {
    fn default() -> Self {
        Self {
            train: 0.8,
            val: 0.1,
            test: 0.1,
        }
    }
}

/// Assign splits per class (stratified), deterministically for a seed.
/// `labels[i]` is sample i's class; the result gives sample i's split.
pub fn stratified_splits(labels: &[usize], fractions: SplitFractions, seed: u64) -> Vec<Split> {
    let mut out = vec![Split::Train; labels.len()];
    let classes = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let total = (fractions.train + fractions.val + fractions.test).max(f32::EPSILON);
    for class in 0..classes {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        members.shuffle(&mut rng);
        let n = members.len() as f32;
        let n_val = (n * fractions.val / total).round() as usize;
        let n_test = (n * fractions.test / total).round() as usize;
        for (k, &i) in members.iter().enumerate() {
            out[i] = if k < n_val {
                Split::Val
            } else if k < n_val + n_test {
                Split::Test
            } else {
                Split::Train
            };
        }
    }
    out
}

/// Receives progress of long loads and can cancel them.
pub trait LoadObserver: Sync {
    /// `done` of `total` items processed.
    fn progress(&self, done: usize, total: usize);
    /// Return true to stop the load (it then fails with [`DatasetError::Cancelled`]).
    fn cancelled(&self) -> bool {
        false
    }
}

/// An observer that ignores progress and never cancels.
pub struct Quiet;

impl LoadObserver for Quiet {
    fn progress(&self, _done: usize, _total: usize) {}
}
