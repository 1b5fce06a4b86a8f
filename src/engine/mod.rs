//! Training and evaluation on top of [`crate::model`] and [`crate::data`]: batches, the training
//! loop, metrics, per-sample results and single predictions. No threads here (see
//! [`crate::worker`]) and no egui.

pub mod claims;
pub mod contribution;
mod eval;
pub mod extract;
pub mod metrics;
pub mod robustness;
mod train;

use candle_core::{Device, Tensor};
use rayon::prelude::*;

pub use eval::{
    AudioInput, Evaluation, ImageInput, Prediction, RawInput, SampleResult, evaluate, predict,
    prepare_input,
};
pub use metrics::{ClassMetrics, Metrics};
pub use train::step;
pub use train::{
    EpochReport, Progress, StopReason, TrainObserver, TrainOutcome, split_indices, train,
};

use crate::data::text::Vocab;
use crate::data::{Dataset, FeatureConfig, Sample};
use crate::model::device::DeviceChoice;
use crate::model::{
    Batch, FusionKind, ModelConfig, TextEncoderKind, Tokens, checkpoint::ModelCard,
};

/// What can go wrong while training or evaluating.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Settings out of range; the message names the setting.
    #[error("{0}")]
    Settings(String),
    /// The architecture the settings give for a dataset does not hold together.
    #[error(transparent)]
    Architecture(#[from] crate::model::ConfigError),
    /// The dataset cannot be used as asked.
    #[error("{0}")]
    Data(String),
    /// A model and a dataset (or input) do not fit together.
    #[error("{0}")]
    Incompatible(String),
    /// A tensor operation failed.
    #[error("model computation failed: {0}")]
    Model(#[from] candle_core::Error),
}

/// Training settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Fusion method.
    pub fusion: FusionKind,
    /// Text encoder body.
    pub text_encoder: TextEncoderKind,
    /// Passes over the training split.
    pub epochs: usize,
    /// Samples per step.
    pub batch_size: usize,
    /// Peak learning rate (AdamW).
    pub learning_rate: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Fraction of all steps spent warming the learning rate up linearly (then cosine decay).
    pub warmup: f64,
    /// Gradient norm clipping threshold (0 = off).
    pub clip_norm: f64,
    /// Stop after this many epochs without a better validation loss (0 = never).
    pub patience: usize,
    /// Seed of initialisation, shuffling and dropout.
    pub seed: u64,
    /// Probability of hiding each present modality of a training sample (at least one stays).
    pub modality_dropout: f64,
    /// Width of embeddings.
    pub embed_dim: usize,
    /// Where to run.
    pub device: DeviceChoice,
    /// Per modality, a frozen pretrained backbone instead of the from-scratch encoder.
    pub backbones: crate::model::Backbones,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            fusion: FusionKind::Attention,
            text_encoder: TextEncoderKind::Gru,
            epochs: 15,
            batch_size: 32,
            learning_rate: 3e-3,
            weight_decay: 1e-2,
            warmup: 0.05,
            clip_norm: 1.0,
            patience: 5,
            seed: 42,
            modality_dropout: 0.0,
            embed_dim: 64,
            device: DeviceChoice::Auto,
            backbones: crate::model::Backbones::default(),
        }
    }
}

impl TrainConfig {
    /// Check ranges; the message names the setting and its range.
    pub fn validate(&self) -> Result<(), EngineError> {
        let bad = |msg: &str| Err(EngineError::Settings(msg.to_owned()));
        if !(1..=10_000).contains(&self.epochs) {
            return bad("epochs must be between 1 and 10000");
        }
        if !(1..=4096).contains(&self.batch_size) {
            return bad("batch size must be between 1 and 4096");
        }
        if !(self.learning_rate.is_finite()
            && self.learning_rate > 0.0
            && self.learning_rate <= 1000.0)
        {
            return bad("learning rate must be above 0 and at most 1000");
        }
        if !(self.weight_decay.is_finite() && (0.0..=1.0).contains(&self.weight_decay)) {
            return bad("weight decay must be between 0 and 1");
        }
        if !(0.0..=0.5).contains(&self.warmup) {
            return bad("warm-up must be a fraction between 0 and 0.5");
        }
        if !(self.clip_norm.is_finite() && self.clip_norm >= 0.0) {
            return bad("gradient clipping must be 0 (off) or positive");
        }
        if !(0.0..=0.9).contains(&self.modality_dropout) {
            return bad("modality dropout must be between 0 and 0.9");
        }
        if !(8..=512).contains(&self.embed_dim) || !self.embed_dim.is_multiple_of(4) {
            return bad("embedding width must be a multiple of 4 between 8 and 512");
        }
        Ok(())
    }

    /// The architecture for a dataset with these classes and vocabulary.
    pub fn model_config(
        &self,
        classes: usize,
        vocab: usize,
        features: &FeatureConfig,
    ) -> ModelConfig {
        let mut cfg = ModelConfig::new(self.fusion, classes, vocab);
        cfg.text_encoder = self.text_encoder;
        cfg.embed_dim = self.embed_dim;
        cfg.hidden = self.embed_dim;
        cfg.image_size = features.image.size as usize;
        cfg.mel_bins = features.audio.n_mels;
        cfg.frames = features.audio.frames();
        cfg.max_tokens = features.text.max_len.max(1);
        cfg.backbones = self.backbones;
        cfg
    }
}

/// Does this dataset fit this model? The message says what differs and what to do.
pub fn check_compatible(card: &ModelCard, dataset: &Dataset) -> Result<(), EngineError> {
    if card.classes.len() != dataset.classes.len() {
        return Err(EngineError::Incompatible(format!(
            "model '{}' was trained for {} classes ({}), dataset {} has {} ({}); evaluate it on data with the same classes, or train a new model on this dataset",
            card.name,
            card.classes.len(),
            preview(&card.classes),
            dataset.name,
            dataset.classes.len(),
            preview(&dataset.classes)
        )));
    }
    if card.classes != dataset.classes {
        return Err(EngineError::Incompatible(format!(
            "model '{}' has classes {} but dataset {} has {}; the labels would not mean the same thing",
            card.name,
            preview(&card.classes),
            dataset.name,
            preview(&dataset.classes)
        )));
    }
    let (m, d) = (&card.features, &dataset.features);
    if m.image.size != d.image.size
        || m.audio.n_mels != d.audio.n_mels
        || m.audio.frames() != d.audio.frames()
    {
        return Err(EngineError::Incompatible(format!(
            "model '{}' expects {}×{} images and {}×{} log-mels, the dataset was prepared as {}×{} and {}×{}",
            card.name,
            m.image.size,
            m.image.size,
            m.audio.n_mels,
            m.audio.frames(),
            d.image.size,
            d.image.size,
            d.audio.n_mels,
            d.audio.frames()
        )));
    }
    Ok(())
}

fn preview(names: &[String]) -> String {
    let mut s: Vec<&str> = names.iter().take(4).map(String::as_str).collect();
    if names.len() > 4 {
        s.push("…");
    }
    s.join(", ")
}

/// Turns samples into [`Batch`]es for one architecture.
pub struct Batcher<'a> {
    /// Architecture (input sizes).
    pub config: &'a ModelConfig,
    /// The model's vocabulary (texts are re-encoded with it).
    pub vocab: &'a Vocab,
    /// Target device.
    pub device: &'a Device,
}

impl Batcher<'_> {
    /// Build a batch. `presence` overrides which modalities each sample shows (masking, dropout).
    pub fn batch(
        &self,
        samples: &[&Sample],
        presence: Option<&[[bool; 3]]>,
    ) -> Result<Batch, EngineError> {
        let cfg = self.config;
        let b = samples.len();
        let image_len = 3 * cfg.image_size * cfg.image_size;
        let audio_len = cfg.mel_bins * cfg.frames;
        let mut image = vec![0f32; b * image_len];
        let mut audio = vec![0f32; b * audio_len];
        let mut present = vec![0f32; b * 3];
        let mut ids_rows = Vec::with_capacity(b);
        let mut labels = Vec::with_capacity(b);
        for (i, s) in samples.iter().enumerate() {
            let mut show = s.presence().0;
            if let Some(p) = presence {
                for m in 0..3 {
                    show[m] &= p[i][m];
                }
            }
            if let (true, Some(px)) = (show[0], &s.image) {
                if px.len() != image_len {
                    return Err(EngineError::Incompatible(format!(
                        "sample {}: image has {} values, the model expects {image_len} (3×{}×{})",
                        s.id,
                        px.len(),
                        cfg.image_size,
                        cfg.image_size
                    )));
                }
                image[i * image_len..(i + 1) * image_len].copy_from_slice(px);
                present[i * 3] = 1.0;
            }
            let mut ids = Vec::new();
            if let (true, Some(text)) = (show[1], &s.text) {
                ids = self.vocab.encode(&text.words, cfg.max_tokens);
                // A text backbone reads the raw sentence, so unknown words still count as text.
                if !ids.is_empty() || cfg.backbones.text.is_some() {
                    present[i * 3 + 1] = 1.0;
                }
            }
            ids_rows.push(ids);
            if let (true, Some(mel)) = (show[2], &s.audio) {
                if mel.len() != audio_len {
                    return Err(EngineError::Incompatible(format!(
                        "sample {}: log-mel has {} values, the model expects {audio_len} ({}×{})",
                        s.id,
                        mel.len(),
                        cfg.mel_bins,
                        cfg.frames
                    )));
                }
                audio[i * audio_len..(i + 1) * audio_len].copy_from_slice(mel);
                present[i * 3 + 2] = 1.0;
            }
            labels.push(s.label as u32);
        }
        let len = ids_rows
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
            .clamp(1, cfg.max_tokens);
        let mut ids = vec![0u32; b * len];
        let mut mask = vec![0f32; b * len];
        for (i, row) in ids_rows.iter().enumerate() {
            for (j, &id) in row.iter().take(len).enumerate() {
                ids[i * len + j] = id;
                mask[i * len + j] = 1.0;
            }
        }
        let dev = self.device;
        let mut pretrained = [None, None, None];
        for (m, slot) in pretrained.iter_mut().enumerate() {
            if let Some(backbone) = cfg.backbones.get(m) {
                *slot = Some(backbone_tokens(samples, &present, m, backbone, dev)?);
            }
        }
        let s = cfg.image_size;
        Ok(Batch {
            image: Tensor::from_vec(image, (b, 3, s, s), dev)?,
            text_ids: Tensor::from_vec(ids, (b, len), dev)?,
            text_mask: Tensor::from_vec(mask, (b, len), dev)?,
            audio: Tensor::from_vec(audio, (b, cfg.mel_bins, cfg.frames), dev)?,
            present: Tensor::from_vec(present, (b, 3), dev)?,
            labels: Some(Tensor::from_vec(labels, b, dev)?),
            pretrained,
        })
    }
}

/// The backbone tokens of modality `m` for a batch, padded to the longest with a 0 mask; rows
/// whose modality is hidden (`present` 0) are all padding.
fn backbone_tokens(
    samples: &[&Sample],
    present: &[f32],
    m: usize,
    backbone: crate::model::Backbone,
    dev: &Device,
) -> Result<Tokens, EngineError> {
    let cols = backbone.token_dim();
    let mut rows = vec![None; samples.len()];
    for (i, s) in samples.iter().enumerate() {
        if present[i * 3 + m] == 0.0 {
            continue;
        }
        let Some(tokens) = s.backbone.get(m) else {
            return Err(EngineError::Incompatible(format!(
                "sample {}: no {backbone} tokens; the model uses that backbone, so its features must be extracted first",
                s.id
            )));
        };
        if tokens.cols() != cols {
            return Err(EngineError::Incompatible(format!(
                "sample {}: {backbone} tokens are {} wide, the model expects {cols}",
                s.id,
                tokens.cols()
            )));
        }
        rows[i] = Some(tokens);
    }
    let len = rows.iter().flatten().map(|t| t.rows()).max().unwrap_or(1);
    let b = samples.len();
    let mut values = vec![0f32; b * len * cols];
    let mut mask = vec![0f32; b * len];
    // In parallel: large token maps are read from the cache here.
    values
        .par_chunks_mut(len * cols)
        .zip(&rows)
        .try_for_each(|(out, tokens)| match tokens {
            Some(t) => t.write_f32(out),
            None => Ok(()),
        })
        .map_err(|e| EngineError::Data(e.to_string()))?;
    for (i, tokens) in rows.iter().enumerate() {
        if let Some(t) = tokens {
            mask[i * len..i * len + t.rows()].fill(1.0);
        }
    }
    Ok(Tokens {
        values: Tensor::from_vec(values, (b, len, cols), dev)?,
        mask: Tensor::from_vec(mask, (b, len), dev)?,
    })
}

/// Hide each present modality with probability `p`, keeping at least one.
pub(crate) fn dropout_presence(
    samples: &[&Sample],
    p: f64,
    rng: &mut impl rand::Rng,
) -> Vec<[bool; 3]> {
    samples
        .iter()
        .map(|s| {
            let have = s.presence().0;
            let mut keep = have;
            if p > 0.0 && s.presence().count() > 1 {
                for m in 0..3 {
                    if have[m] && rng.random_bool(p) {
                        keep[m] = false;
                    }
                }
                if !keep.iter().any(|&k| k) {
                    let present: Vec<usize> = (0..3).filter(|&m| have[m]).collect();
                    keep[present[rng.random_range(0..present.len())]] = true;
                }
            }
            keep
        })
        .collect()
}
