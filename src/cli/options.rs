//! The training options `train` and `compare` share, including the encoder choice per modality.

use anyhow::bail;
use clap::Args;

use crate::data::Modality;
use crate::engine::TrainConfig;
use crate::model::device::DeviceChoice;
use crate::model::{Backbone, Backbones, FusionKind, TextEncoderKind};

/// Training settings shared by `train` and `compare`.
#[derive(Debug, Args, Clone)]
pub struct TrainOptions {
    /// Passes over the training split.
    #[arg(long, default_value_t = 15, allow_negative_numbers = true)]
    pub epochs: usize,
    /// Samples per step.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Peak learning rate (AdamW; linear warm-up then cosine decay).
    #[arg(long, default_value_t = 3e-3, allow_negative_numbers = true)]
    pub lr: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 1e-2, allow_negative_numbers = true)]
    pub weight_decay: f64,
    /// Clip the gradient norm to this (0 = off).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub clip: f64,
    /// Stop after this many epochs without a better validation loss (0 = never).
    #[arg(long, default_value_t = 5)]
    pub patience: usize,
    /// Seed of initialisation, shuffling and dropout.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Probability of hiding each modality of a training sample (at least one stays).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub modality_dropout: f64,
    /// Text encoder: gru or transformer (from scratch), or pretrained / minilm-l6-v2 (frozen).
    #[arg(long, default_value = "gru")]
    pub text_encoder: TextEncoderChoice,
    /// Image encoder: scratch (a small CNN), or pretrained / efficientnet-lite0 (frozen).
    #[arg(long, default_value = "scratch")]
    pub image_encoder: EncoderSource,
    /// Audio encoder: scratch (a log-mel CNN), or pretrained / speech-embedding (frozen).
    #[arg(long, default_value = "scratch")]
    pub audio_encoder: EncoderSource,
    /// `pretrained`: every modality on its frozen backbone (overrides the three above);
    /// `scratch`: none.
    #[arg(long)]
    pub encoders: Option<EncoderSource>,
    /// Embedding width.
    #[arg(long, default_value_t = 64)]
    pub embed_dim: usize,
    /// Where to run: auto, cpu, cuda or metal.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// Print JSON instead of tables and progress.
    #[arg(long)]
    pub json: bool,
}

/// `--image-encoder`, `--audio-encoder`, `--encoders`: from scratch, the modality's pretrained
/// backbone, or a backbone by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncoderSource {
    /// Trained from scratch.
    Scratch,
    /// The modality's frozen backbone.
    Pretrained,
    /// A frozen backbone by name (must be the modality's).
    Named(Backbone),
}

impl std::str::FromStr for EncoderSource {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_lowercase().as_str() {
            "scratch" => Ok(Self::Scratch),
            "pretrained" => Ok(Self::Pretrained),
            other => other.parse().map(Self::Named).map_err(|_| {
                format!("unknown encoder '{other}'; choose scratch, pretrained or a backbone: minilm-l6-v2, efficientnet-lite0, speech-embedding")
            }),
        }
    }
}

/// `--text-encoder`: a from-scratch body, or the pretrained backbone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextEncoderChoice {
    /// GRU or transformer, trained from scratch.
    Scratch(TextEncoderKind),
    /// MiniLM, frozen.
    Pretrained,
}

impl std::str::FromStr for TextEncoderChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_lowercase();
        if s == "pretrained" || s == Backbone::MiniLm.name() {
            return Ok(Self::Pretrained);
        }
        s.parse().map(Self::Scratch).map_err(|_| {
            format!("unknown text encoder '{s}'; choose gru or transformer (from scratch), or pretrained ({})", Backbone::MiniLm)
        })
    }
}

/// The backbone an [`EncoderSource`] gives for a modality.
fn encoder_choice(
    source: EncoderSource,
    modality: Modality,
    flag: &str,
) -> anyhow::Result<Option<Backbone>> {
    let backbone = Backbone::for_modality(modality);
    match source {
        EncoderSource::Scratch => Ok(None),
        EncoderSource::Pretrained => Ok(Some(backbone)),
        EncoderSource::Named(b) if b == backbone => Ok(Some(b)),
        EncoderSource::Named(b) => bail!(
            "--{flag} {b}: that backbone encodes {}, not {}; use {backbone}",
            b.spec().modality.name(),
            modality.name()
        ),
    }
}

impl TrainOptions {
    /// The encoder choices: the text body when trained from scratch, and the backbones.
    fn encoders(&self) -> anyhow::Result<(TextEncoderKind, Backbones)> {
        match self.encoders {
            Some(EncoderSource::Pretrained) => return Ok((TextEncoderKind::Gru, Backbones::all())),
            Some(EncoderSource::Scratch) => {
                return Ok((TextEncoderKind::Gru, Backbones::default()));
            }
            Some(EncoderSource::Named(b)) => {
                bail!("--encoders {b}: expected scratch or pretrained")
            }
            None => {}
        }
        let (text_body, text) = match self.text_encoder {
            TextEncoderChoice::Scratch(kind) => (kind, None),
            TextEncoderChoice::Pretrained => (TextEncoderKind::Gru, Some(Backbone::MiniLm)),
        };
        let backbones = Backbones {
            image: encoder_choice(self.image_encoder, Modality::Image, "image-encoder")?,
            text,
            audio: encoder_choice(self.audio_encoder, Modality::Audio, "audio-encoder")?,
        };
        Ok((text_body, backbones))
    }

    pub(super) fn config(&self, fusion: FusionKind) -> anyhow::Result<TrainConfig> {
        let (text_encoder, backbones) = self.encoders()?;
        Ok(TrainConfig {
            fusion,
            text_encoder,
            backbones,
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.lr,
            weight_decay: self.weight_decay,
            clip_norm: self.clip,
            patience: self.patience,
            seed: self.seed,
            modality_dropout: self.modality_dropout,
            embed_dim: self.embed_dim,
            device: self.device,
            ..TrainConfig::default()
        })
    }
}
