//! The architecture's description: the fusion method, the text encoder body, the sizes of every
//! part ([`ModelConfig`]) and what is wrong when they do not fit together ([`ConfigError`]).

use std::fmt;
use std::str::FromStr;

use super::pretrained;

/// How the modalities are joined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FusionKind {
    /// Concatenate the embeddings (zeros + presence flags for absent ones), then an MLP.
    Early,
    /// One classifier per modality; their class distributions mixed with learned weights.
    Late,
    /// Gated multimodal unit for three modalities: a softmax gate per hidden unit.
    Gated,
    /// Attention over modalities: `α = softmax(wᵀ tanh(W z_m))` over the present ones.
    Attention,
    /// Tensor fusion: the outer product of `[z_m; 1]`.
    Tensor,
    /// Low-rank multimodal fusion: a rank-r factorisation of the tensor fusion weights.
    #[serde(rename = "lowrank")]
    LowRank,
    /// A transformer over all tokens of all modalities with a [CLS] token.
    #[serde(rename = "crossmodal")]
    CrossModal,
}

impl FusionKind {
    /// Every method, in teaching order.
    pub const ALL: [Self; 7] = [
        Self::Early,
        Self::Late,
        Self::Gated,
        Self::Attention,
        Self::Tensor,
        Self::LowRank,
        Self::CrossModal,
    ];

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Early => "early",
            Self::Late => "late",
            Self::Gated => "gated",
            Self::Attention => "attention",
            Self::Tensor => "tensor",
            Self::LowRank => "lowrank",
            Self::CrossModal => "crossmodal",
        }
    }

    /// Whether the method has its own per-sample modality weights (else Shapley values are used).
    pub fn weight_kind(self) -> WeightKind {
        match self {
            Self::Early | Self::Tensor | Self::LowRank => WeightKind::Shapley,
            _ => WeightKind::Native,
        }
    }

    /// One sentence for people learning what the method does.
    pub fn explanation(self) -> &'static str {
        match self {
            Self::Early => {
                "Concatenates the three embeddings (zeros plus a presence flag for a missing one) and lets an MLP find any interaction."
            }
            Self::Late => {
                "Each modality votes with its own classifier; the votes are mixed with one learned weight per modality, so interactions between modalities cannot be learned."
            }
            Self::Gated => {
                "A gate per hidden unit decides, for each sample, how much of each modality flows through."
            }
            Self::Attention => {
                "Scores each modality's embedding and takes a softmax-weighted average: the weights say directly how much each modality counted."
            }
            Self::Tensor => {
                "Multiplies [z; 1] of the modalities together (outer product), so every cross-modal interaction gets its own weight."
            }
            Self::LowRank => {
                "Tensor fusion with its huge weight tensor factorised into a few rank-one pieces: interactions at a fraction of the cost."
            }
            Self::CrossModal => {
                "A transformer in which every image patch, word and audio frame can attend to every other; a [CLS] token gathers the answer."
            }
        }
    }
}

impl fmt::Display for FusionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FusionKind {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let s = s.trim().to_lowercase();
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s || (s == "low-rank" && *k == Self::LowRank))
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown fusion method '{s}'; choose one of {}",
                    names.join(", ")
                )
            })
    }
}

/// Where modality weights come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightKind {
    /// Read off the method itself (attention, gates, late weights, [CLS] attention).
    Native,
    /// Exact Shapley values over the modalities, computed by masking (normalised |φ|).
    Shapley,
}

impl WeightKind {
    /// `native` or `shapley`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Shapley => "shapley",
        }
    }
}

/// The text encoder body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextEncoderKind {
    /// Bidirectional GRU.
    Gru,
    /// One transformer encoder layer with learned positions.
    Transformer,
}

impl TextEncoderKind {
    /// The name used on the command line and in menus.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gru => "gru",
            Self::Transformer => "transformer",
        }
    }
}

impl FromStr for TextEncoderKind {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.trim().to_lowercase().as_str() {
            "gru" => Ok(Self::Gru),
            "transformer" => Ok(Self::Transformer),
            other => Err(format!(
                "unknown text encoder '{other}'; choose gru or transformer"
            )),
        }
    }
}

/// Everything needed to rebuild the network's graph.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Fusion method.
    pub fusion: FusionKind,
    /// Text encoder body.
    pub text_encoder: TextEncoderKind,
    /// Number of classes.
    pub classes: usize,
    /// Vocabulary size (ids ≥ this are invalid).
    pub vocab_size: usize,
    /// Width of every modality embedding and token.
    pub embed_dim: usize,
    /// Width of the fused hidden layer.
    pub hidden: usize,
    /// Image side (pixels); must be a multiple of 4.
    pub image_size: usize,
    /// Image CNN widths before the last (embedding-wide) convolution.
    pub image_channels: [usize; 2],
    /// Log-mel bands; must be a multiple of 8.
    pub mel_bins: usize,
    /// Log-mel frames per clip (the model uses the first multiple of 4).
    pub frames: usize,
    /// Audio CNN widths.
    pub audio_channels: [usize; 3],
    /// Maximum text length in tokens.
    pub max_tokens: usize,
    /// Attention heads (text transformer and cross-modal transformer).
    pub heads: usize,
    /// Cross-modal transformer layers.
    pub layers: usize,
    /// Per-modality width inside tensor fusion (the product has `(t+1)³` entries).
    pub tensor_dim: usize,
    /// Tensor fusion's per-modality projections are linear, as in the original tensor fusion
    /// network. Models saved before this field existed used ReLU projections (`false`), which
    /// stalled at chance on xor at the default learning rate.
    #[serde(default)]
    pub tensor_linear: bool,
    /// Rank of low-rank fusion.
    pub rank: usize,
    /// Per modality, the frozen pretrained backbone used instead of the from-scratch encoder.
    #[serde(default, skip_serializing_if = "pretrained::Backbones::is_scratch")]
    pub backbones: pretrained::Backbones,
}

impl ModelConfig {
    /// Defaults for a dataset with `classes` classes and `vocab_size` words.
    pub fn new(fusion: FusionKind, classes: usize, vocab_size: usize) -> Self {
        Self {
            fusion,
            text_encoder: TextEncoderKind::Gru,
            classes,
            vocab_size,
            embed_dim: 64,
            hidden: 64,
            image_size: 32,
            image_channels: [16, 32],
            mel_bins: 64,
            frames: 98,
            audio_channels: [16, 32, 32],
            max_tokens: 32,
            heads: 4,
            layers: 1,
            tensor_dim: 8,
            tensor_linear: true,
            rank: 4,
            backbones: pretrained::Backbones::default(),
        }
    }

    /// Check the sizes fit together; the error names the field.
    pub fn validate(&self) -> std::result::Result<(), ConfigError> {
        if self.classes < 2 {
            return Err(ConfigError::Classes(self.classes));
        }
        if !(self.image_size >= 4 && self.image_size.is_multiple_of(4)) {
            return Err(ConfigError::ImageSize(self.image_size));
        }
        if !(self.mel_bins >= 8 && self.mel_bins.is_multiple_of(8)) {
            return Err(ConfigError::MelBins(self.mel_bins));
        }
        if self.frames < 4 {
            return Err(ConfigError::Frames(self.frames));
        }
        if !(self.embed_dim >= 4
            && self.embed_dim.is_multiple_of(2)
            && self.embed_dim.is_multiple_of(self.heads.max(1)))
        {
            return Err(ConfigError::EmbedDim {
                embed_dim: self.embed_dim,
                heads: self.heads,
            });
        }
        if self.max_tokens == 0 {
            return Err(ConfigError::NoTokens);
        }
        if self.hidden == 0 || self.tensor_dim == 0 || self.rank == 0 || self.layers == 0 {
            return Err(ConfigError::ZeroWidth);
        }
        Ok(())
    }
}

/// Why a [`ModelConfig`] does not hold together (the first failed check); the message names the
/// field and what it needs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Fewer than two classes.
    #[error("classes is {0}, need at least 2")]
    Classes(usize),
    /// `image_size` is not a positive multiple of 4.
    #[error("image_size is {0}, need a multiple of 4")]
    ImageSize(usize),
    /// `mel_bins` is not a positive multiple of 8.
    #[error("mel_bins is {0}, need a multiple of 8")]
    MelBins(usize),
    /// Fewer than 4 log-mel frames.
    #[error("frames is {0}, need at least 4")]
    Frames(usize),
    /// `embed_dim` is too small, odd, or not divisible by the number of heads.
    #[error("embed_dim is {embed_dim}, need an even width divisible by heads ({heads})")]
    EmbedDim {
        /// The embedding width.
        embed_dim: usize,
        /// The number of attention heads.
        heads: usize,
    },
    /// `max_tokens` is 0.
    #[error("max_tokens is 0")]
    NoTokens,
    /// One of `hidden`, `tensor_dim`, `rank` or `layers` is 0.
    #[error("hidden, tensor_dim, rank and layers must be at least 1")]
    ZeroWidth,
}
