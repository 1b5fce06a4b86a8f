//! The multimodal network: three encoders joined by a chosen fusion method (candle only; no
//! egui, no worker). [`FusionModel::forward`] returns logits, embeddings, the modality weights
//! and each encoder's attention map.

pub mod checkpoint;
mod config;
pub mod device;
mod encoders;
mod fusion;
pub mod kernels;
pub mod layers;
pub mod onnx_export;
mod params;
pub mod pretrained;

use candle_core::{D, DType, Device, Result, Tensor};

pub use config::{ConfigError, FusionKind, ModelConfig, TextEncoderKind, WeightKind};
pub use encoders::Encoded;
pub use params::ParamStore;
pub use pretrained::{Backbone, Backbones};

/// One mini-batch on the model's device. Absent inputs are zeros and `present` is 0 for them.
#[derive(Clone, Debug)]
pub struct Batch {
    /// `B × 3 × S × S`.
    pub image: Tensor,
    /// `B × L` u32 ids (0 = padding), `L ≥ 1`.
    pub text_ids: Tensor,
    /// `B × L` 0/1.
    pub text_mask: Tensor,
    /// `B × mels × frames`.
    pub audio: Tensor,
    /// `B × 3` 0/1 in [`crate::data::Modality`] order (image, text, audio).
    pub present: Tensor,
    /// `B` u32 class indices, when known.
    pub labels: Option<Tensor>,
    /// Per modality, the frozen backbone's tokens when the model uses one (`None` otherwise).
    pub pretrained: [Option<Tokens>; 3],
}

/// A batch of backbone tokens: `values` `B × N × C`, `mask` `B × N` (0/1; 0 for padding).
#[derive(Clone, Debug)]
pub struct Tokens {
    /// The token vectors.
    pub values: Tensor,
    /// Which tokens are real.
    pub mask: Tensor,
}

/// Everything the network computes for a batch.
#[derive(Clone, Debug)]
pub struct ModelOutput {
    /// Class scores `B × K` (pass through softmax for probabilities).
    pub logits: Tensor,
    /// Per-modality embeddings, `B × D` each (zero where absent): the encoder's pooled tokens,
    /// or for `crossmodal` (which reads the tokens, not the pools) the tokens weighted by [CLS]'s
    /// attention over them.
    pub embeddings: [Tensor; 3],
    /// The fused representation `B × F`.
    pub fused: Tensor,
    /// Modality weights `B × 3` (rows sum to 1 over present modalities, 0 where absent), when
    /// computed.
    pub weights: Option<Tensor>,
    /// Where each encoder looked, `B × N_m` (image positions, words, audio frames).
    pub attention: [Tensor; 3],
}

/// The whole network.
#[derive(Clone, Debug)]
pub struct FusionModel {
    config: ModelConfig,
    image: Encoder<encoders::ImageEncoder>,
    text: Encoder<encoders::TextEncoder>,
    audio: Encoder<encoders::AudioEncoder>,
    fusion: fusion::Fusion,
}

/// A modality's encoder: trained from scratch, or a projection of a frozen backbone's tokens.
#[derive(Clone, Debug)]
enum Encoder<T> {
    Scratch(T),
    Pretrained(encoders::ProjectedEncoder),
}

impl<T> Encoder<T> {
    fn new(
        config: &ModelConfig,
        m: usize,
        vb: candle_nn::VarBuilder<'_>,
        scratch: impl FnOnce(&ModelConfig, candle_nn::VarBuilder<'_>) -> Result<T>,
    ) -> Result<Self> {
        match config.backbones.get(m) {
            Some(b) => Ok(Self::Pretrained(encoders::ProjectedEncoder::new(
                b.token_dim(),
                config.embed_dim,
                vb,
            )?)),
            None => Ok(Self::Scratch(scratch(config, vb)?)),
        }
    }
}

/// Runs a projected encoder on the batch's backbone tokens for modality `m`, masked by `present`.
fn project_tokens(
    encoder: &encoders::ProjectedEncoder,
    batch: &Batch,
    m: usize,
) -> Result<Encoded> {
    let tokens = batch.pretrained[m].as_ref().ok_or_else(|| {
        candle_core::Error::Msg(format!(
            "the model uses a pretrained {} backbone but the batch has no backbone tokens",
            crate::data::Modality::ALL[m].name()
        ))
    })?;
    let mask = tokens.mask.broadcast_mul(&batch.present.narrow(1, m, 1)?)?;
    encoder.forward(&tokens.values, &mask)
}

/// Shapley values φ of the three modalities for one sample. `values[s]` is the value of the
/// coalition whose bit m is set when modality m is in it. They add up to `values[7] − values[0]`
/// (efficiency).
pub fn shapley_values(values: &[f32; 8]) -> [f32; 3] {
    let mut phi = [0f32; 3];
    for (m, slot) in phi.iter_mut().enumerate() {
        for s in 0..8usize {
            if s & (1 << m) != 0 {
                continue;
            }
            let size = s.count_ones();
            // |S|!(n−|S|−1)!/n! for n = 3: sizes 0, 1, 2 → 1/3, 1/6, 1/3.
            let w = match size {
                0 | 2 => 1.0 / 3.0,
                _ => 1.0 / 6.0,
            };
            *slot += w * (values[s | (1 << m)] - values[s]);
        }
    }
    phi
}

/// Shapley weights: `|φ_m| / Σ|φ|`, or uniform over the present modalities when every φ is 0.
/// `values[s]` is the value of the coalition whose bit m is set when modality m is in it.
pub fn shapley_weights(values: &[f32; 8], present: [bool; 3]) -> [f32; 3] {
    let phi = shapley_values(values);
    let mut out = [0f32; 3];
    let total: f32 = phi
        .iter()
        .zip(present)
        .filter(|(_, p)| *p)
        .map(|(v, _)| v.abs())
        .sum();
    let count = present.iter().filter(|&&p| p).count().max(1) as f32;
    for m in 0..3 {
        if present[m] {
            out[m] = if total > 1e-12 {
                phi[m].abs() / total
            } else {
                1.0 / count
            };
        }
    }
    out
}

impl FusionModel {
    /// Create the network's parameters in `store` (or reuse those already there).
    pub fn new(config: &ModelConfig, store: &ParamStore, device: &Device) -> Result<Self> {
        config
            .validate()
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let vb = store.builder(device);
        Ok(Self {
            config: config.clone(),
            image: Encoder::new(config, 0, vb.pp("image"), encoders::ImageEncoder::new)?,
            text: Encoder::new(config, 1, vb.pp("text"), encoders::TextEncoder::new)?,
            audio: Encoder::new(config, 2, vb.pp("audio"), encoders::AudioEncoder::new)?,
            fusion: fusion::Fusion::new(config, vb.pp("fusion"))?,
        })
    }

    /// The architecture.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Run the encoders. An encoder whose modality is absent from the whole batch is skipped
    /// (its outputs are zeros), which saves most of the time on datasets without text, say.
    pub fn encode(&self, batch: &Batch) -> Result<[Encoded; 3]> {
        let present = batch.present.to_vec2::<f32>()?;
        let any = |m: usize| present.iter().any(|row| row[m] > 0.0);
        let column = |m: usize| batch.present.narrow(1, m, 1)?.squeeze(1);
        let b = present.len();
        let d = self.config.embed_dim;
        let dev = batch.present.device();
        let empty = |n: usize| -> Result<Encoded> {
            Ok(Encoded {
                tokens: Tensor::zeros((b, n, d), DType::F32, dev)?,
                mask: Tensor::zeros((b, n), DType::F32, dev)?,
                embedding: Tensor::zeros((b, d), DType::F32, dev)?,
                attention: Tensor::zeros((b, n), DType::F32, dev)?,
            })
        };
        let side = self.config.image_size / 4;
        let scratch_tokens = [side * side, batch.text_ids.dim(1)?, self.config.frames / 4];
        let mut out = Vec::with_capacity(3);
        for (m, (pretrained, scratch)) in batch.pretrained.iter().zip(scratch_tokens).enumerate() {
            let tokens = match pretrained {
                Some(t) => t.mask.dim(1)?,
                None => scratch,
            };
            if !any(m) {
                out.push(empty(tokens)?);
                continue;
            }
            out.push(match m {
                0 => match &self.image {
                    Encoder::Scratch(e) => e.forward(&batch.image, &column(0)?)?,
                    Encoder::Pretrained(e) => project_tokens(e, batch, 0)?,
                },
                1 => match &self.text {
                    Encoder::Scratch(e) => {
                        let mask = batch
                            .text_mask
                            .broadcast_mul(&batch.present.narrow(1, 1, 1)?)?;
                        e.forward(&batch.text_ids, &mask)?
                    }
                    Encoder::Pretrained(e) => project_tokens(e, batch, 1)?,
                },
                _ => match &self.audio {
                    Encoder::Scratch(e) => e.forward(&batch.audio, &column(2)?)?,
                    Encoder::Pretrained(e) => project_tokens(e, batch, 2)?,
                },
            });
        }
        let [image, text, audio]: [Encoded; 3] = out
            .try_into()
            .map_err(|_| candle_core::Error::Msg("three encodings".into()))?;
        Ok([image, text, audio])
    }

    /// Full forward pass. With `explain`, methods without native weights get Shapley weights
    /// (eight extra fusion passes on the same encodings; the encoders run once).
    pub fn forward(&self, batch: &Batch, explain: bool) -> Result<ModelOutput> {
        let enc = self.encode(batch)?;
        self.forward_encoded(&enc, &batch.present, explain)
    }

    /// The fusion part of [`FusionModel::forward`], on encodings from [`FusionModel::encode`].
    pub fn forward_encoded(
        &self,
        enc: &[Encoded; 3],
        present: &Tensor,
        explain: bool,
    ) -> Result<ModelOutput> {
        let fused = self.fusion.forward(enc, present)?;
        let weights = match (fused.weights.clone(), explain) {
            (Some(w), _) => Some(w),
            (None, true) => Some(self.shapley(enc, present, &fused.logits)?),
            (None, false) => None,
        };
        let (attention, embeddings) = match fused.token_attention {
            // Cross-modal fusion never trains the encoders' pools: pool with what it attended to.
            Some(maps) => {
                let pooled = |m: usize| -> Result<Tensor> {
                    enc[m]
                        .tokens
                        .broadcast_mul(&maps[m].unsqueeze(D::Minus1)?)?
                        .sum(1)
                };
                let embeddings = [pooled(0)?, pooled(1)?, pooled(2)?];
                (maps, embeddings)
            }
            None => (
                [
                    enc[0].attention.clone(),
                    enc[1].attention.clone(),
                    enc[2].attention.clone(),
                ],
                [
                    enc[0].embedding.clone(),
                    enc[1].embedding.clone(),
                    enc[2].embedding.clone(),
                ],
            ),
        };
        Ok(ModelOutput {
            logits: fused.logits,
            embeddings,
            fused: fused.fused,
            weights,
            attention,
        })
    }

    /// Logits with only the modalities in `keep` (a further mask on `present`), reusing encodings.
    pub fn fuse_masked(
        &self,
        enc: &[Encoded; 3],
        present: &Tensor,
        keep: [bool; 3],
    ) -> Result<Tensor> {
        let keep = Tensor::new(
            &[keep.map(|k| if k { 1f32 } else { 0.0 })],
            present.device(),
        )?;
        let mask = present.broadcast_mul(&keep)?;
        let masked: Vec<Encoded> = enc
            .iter()
            .enumerate()
            .map(|(m, e)| {
                let col = mask.narrow(1, m, 1)?;
                Ok(Encoded {
                    tokens: e.tokens.clone(),
                    mask: e.mask.clone(),
                    embedding: e.embedding.broadcast_mul(&col)?,
                    attention: e.attention.clone(),
                })
            })
            .collect::<Result<_>>()?;
        let masked: [Encoded; 3] = [masked[0].clone(), masked[1].clone(), masked[2].clone()];
        Ok(self.fusion.forward(&masked, &mask)?.logits)
    }

    /// Shapley weights `B × 3` of each sample's predicted class (eight fusion passes over the
    /// coalitions of modalities, reusing the encodings); see [`shapley_weights`].
    pub fn shapley(&self, enc: &[Encoded; 3], present: &Tensor, logits: &Tensor) -> Result<Tensor> {
        let predicted = logits.argmax(D::Minus1)?.to_vec1::<u32>()?;
        let presence = present.to_vec2::<f32>()?;
        let mut values = vec![[0f32; 8]; predicted.len()];
        for s in 0..8usize {
            let keep = [s & 1 != 0, s & 2 != 0, s & 4 != 0];
            let probs = candle_nn::ops::softmax(&self.fuse_masked(enc, present, keep)?, D::Minus1)?
                .to_vec2::<f32>()?;
            for ((row, &p), value) in probs.iter().zip(&predicted).zip(values.iter_mut()) {
                value[s] = row.get(p as usize).copied().unwrap_or(0.0);
            }
        }
        let rows: Vec<f32> = values
            .iter()
            .zip(&presence)
            .flat_map(|(v, p)| shapley_weights(v, [p[0] > 0.0, p[1] > 0.0, p[2] > 0.0]))
            .collect();
        Tensor::from_vec(rows, (predicted.len(), 3), present.device())
    }
}
