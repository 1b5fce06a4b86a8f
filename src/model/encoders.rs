//! The three encoders. Each turns its input into a token sequence, pools it with attention and
//! returns the embedding together with the pooling weights ("where it looked").

use std::collections::HashMap;

use candle_core::{D, Module as _, Result, Tensor};
use candle_nn::{Embedding, Linear, VarBuilder, embedding, linear};

use super::kernels::dense_relu;
use super::layers::{
    AttentionPool, Conv3x3, GruDirection, TransformerLayer, max_pool, patchify_chw,
};
use super::{ModelConfig, TextEncoderKind};

/// What an encoder gives back.
#[derive(Clone, Debug)]
pub struct Encoded {
    /// Tokens before pooling, `B × N × D`.
    pub tokens: Tensor,
    /// Which tokens are real, `B × N` (0 for padding and for absent inputs).
    pub mask: Tensor,
    /// Pooled embedding, `B × D` (zero where the modality is absent).
    pub embedding: Tensor,
    /// Pooling weights, `B × N` (rows sum to 1, or are all zero when absent).
    pub attention: Tensor,
}

fn pooled(pool: &AttentionPool, tokens: Tensor, mask: Tensor) -> Result<Encoded> {
    let (embedding, attention) = pool.forward(&tokens, &mask)?;
    Ok(Encoded {
        tokens,
        mask,
        embedding,
        attention,
    })
}

/// Image: 2 × 2 patch convolution → 3 × 3 convolution → 2 × 2 max-pool → 3 × 3 convolution
/// (ReLU after each) → an `S/4 × S/4` map of `D`-wide tokens → attention pooling.
#[derive(Clone, Debug)]
pub struct ImageEncoder {
    patch: Linear,
    conv2: Conv3x3,
    conv3: Conv3x3,
    pool: AttentionPool,
}

impl ImageEncoder {
    /// Build from the model configuration.
    pub fn new(cfg: &ModelConfig, vb: VarBuilder<'_>) -> Result<Self> {
        let [c1, c2] = cfg.image_channels;
        Ok(Self {
            patch: linear(3 * 4, c1, vb.pp("patch"))?,
            conv2: Conv3x3::new(c1, c2, vb.pp("conv2"))?,
            conv3: Conv3x3::new(c2, cfg.embed_dim, vb.pp("conv3"))?,
            pool: AttentionPool::new(cfg.embed_dim, cfg.embed_dim / 2, vb.pp("pool"))?,
        })
    }

    /// `image`: `B × 3 × S × S`, `present`: `B` (0/1).
    pub fn forward(&self, image: &Tensor, present: &Tensor) -> Result<Encoded> {
        let x = dense_relu(&self.patch, &patchify_chw(image, 2)?)?;
        let x = max_pool(&self.conv2.forward_relu(&x)?, 2, 2)?;
        let x = self.conv3.forward_relu(&x)?;
        let (b, h, w, d) = x.dims4()?;
        let tokens = x.reshape((b, h * w, d))?;
        let mask = present.unsqueeze(1)?.repeat((1, h * w))?;
        pooled(&self.pool, tokens, mask)
    }
}

/// Audio: per-clip standardised log-mel → 4 × 4 patch convolution → 3 × 3 convolution →
/// max-pool over mel → 3 × 3 convolution → one `D`-wide token per 40 ms frame → attention pooling.
#[derive(Clone, Debug)]
pub struct AudioEncoder {
    patch: Linear,
    conv2: Conv3x3,
    conv3: Conv3x3,
    frame: Linear,
    pool: AttentionPool,
    frames: usize,
}

impl AudioEncoder {
    /// Build from the model configuration.
    pub fn new(cfg: &ModelConfig, vb: VarBuilder<'_>) -> Result<Self> {
        let [c1, c2, c3] = cfg.audio_channels;
        let mels_out = cfg.mel_bins / 8;
        Ok(Self {
            patch: linear(16, c1, vb.pp("patch"))?,
            conv2: Conv3x3::new(c1, c2, vb.pp("conv2"))?,
            conv3: Conv3x3::new(c2, c3, vb.pp("conv3"))?,
            frame: linear(c3 * mels_out, cfg.embed_dim, vb.pp("frame"))?,
            pool: AttentionPool::new(cfg.embed_dim, cfg.embed_dim / 2, vb.pp("pool"))?,
            frames: cfg.frames / 4 * 4,
        })
    }

    /// `audio`: `B × mels × frames`, `present`: `B` (0/1).
    pub fn forward(&self, audio: &Tensor, present: &Tensor) -> Result<Encoded> {
        let (b, mels, _) = audio.dims3()?;
        let x = audio.narrow(2, 0, self.frames)?;
        // Standardise each clip so loudness and the silence floor do not matter.
        let mean = x.mean_keepdim(1)?.mean_keepdim(2)?;
        let centred = x.broadcast_sub(&mean)?;
        let std = (centred.sqr()?.mean_keepdim(1)?.mean_keepdim(2)? + 1e-4)?.sqrt()?;
        let x = centred.broadcast_div(&std)?.unsqueeze(1)?; // B × 1 × mels × frames
        let x = dense_relu(&self.patch, &patchify_chw(&x, 4)?)?; // B × mels/4 × frames/4 × c1
        let x = max_pool(&self.conv2.forward_relu(&x)?, 2, 1)?;
        let x = self.conv3.forward_relu(&x)?; // B × mels/8 × T × c3
        let (_, m, t, c) = x.dims4()?;
        let frames = x.permute((0, 2, 1, 3))?.reshape((b, t, m * c))?;
        let tokens = dense_relu(&self.frame, &frames)?;
        debug_assert_eq!(m * 8, mels);
        let mask = present.unsqueeze(1)?.repeat((1, t))?;
        pooled(&self.pool, tokens, mask)
    }
}

#[derive(Clone)]
enum TextBody {
    Gru(GruDirection, GruDirection),
    Transformer(Embedding, TransformerLayer),
}

/// Text: word embedding → bidirectional GRU or a one-layer transformer → attention pooling.
#[derive(Clone)]
pub struct TextEncoder {
    embed: Embedding,
    body: TextBody,
    pool: AttentionPool,
}

impl std::fmt::Debug for TextEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TextEncoder")
    }
}

impl TextEncoder {
    /// Build from the model configuration.
    pub fn new(cfg: &ModelConfig, vb: VarBuilder<'_>) -> Result<Self> {
        let d = cfg.embed_dim;
        let body = match cfg.text_encoder {
            TextEncoderKind::Gru => TextBody::Gru(
                GruDirection::new(d, d / 2, vb.pp("gru_forward"))?,
                GruDirection::new(d, d / 2, vb.pp("gru_backward"))?,
            ),
            TextEncoderKind::Transformer => TextBody::Transformer(
                embedding(cfg.max_tokens, d, vb.pp("position"))?,
                TransformerLayer::new(d, cfg.heads, vb.pp("layer"))?,
            ),
        };
        Ok(Self {
            embed: embedding(cfg.vocab_size.max(2), d, vb.pp("embed"))?,
            body,
            pool: AttentionPool::new(d, d / 2, vb.pp("pool"))?,
        })
    }

    /// `ids`: `B × L` (u32, 0 = padding), `mask`: `B × L` (0/1, already zero when absent).
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Encoded> {
        let x = self.embed.forward(ids)?;
        let tokens = match &self.body {
            TextBody::Gru(fwd, bwd) => Tensor::cat(
                &[fwd.forward(&x, mask, false)?, bwd.forward(&x, mask, true)?],
                D::Minus1,
            )?,
            TextBody::Transformer(position, layer) => {
                let len = ids.dim(1)?;
                let positions = Tensor::arange(0u32, len as u32, ids.device())?;
                let x = x.broadcast_add(&position.forward(&positions)?)?;
                layer.forward(&x, mask)?.0
            }
        };
        pooled(&self.pool, tokens, mask.clone())
    }
}

/// A frozen backbone's tokens (`B × N × C`, each already layer-normalised when it was extracted)
/// → a trainable linear projection to `D` with ReLU → the same attention pooling as the
/// from-scratch encoders, so every view keeps working.
#[derive(Clone, Debug)]
pub struct ProjectedEncoder {
    project: Linear,
    pool: AttentionPool,
}

impl ProjectedEncoder {
    /// A projection from `inputs`-wide backbone tokens to `dim`.
    pub fn new(inputs: usize, dim: usize, vb: VarBuilder<'_>) -> Result<Self> {
        Ok(Self {
            project: linear(inputs, dim, vb.pp("project"))?,
            pool: AttentionPool::new(dim, dim / 2, vb.pp("pool"))?,
        })
    }

    /// `tokens`: `B × N × C`, `mask`: `B × N` (0/1, already zero when absent).
    pub fn forward(&self, tokens: &Tensor, mask: &Tensor) -> Result<Encoded> {
        let tokens = dense_relu(&self.project, tokens)?;
        pooled(&self.pool, tokens, mask.clone())
    }

    /// Weights saved with a layer norm's scale and shift before the projection (`<prefix>norm.weight`
    /// γ, `<prefix>norm.bias` β) folded into it, which then computes the same:
    /// `W (γ ⊙ x̂ + β) + b = (W diag γ) x̂ + (W β + b)`. Other tensors are left alone.
    pub fn fold_legacy_norm(tensors: &mut HashMap<String, Tensor>) -> Result<()> {
        let prefixes: Vec<String> = tensors
            .keys()
            .filter_map(|k| k.strip_suffix("norm.weight"))
            .filter(|p| tensors.contains_key(&format!("{p}project.weight")))
            .map(str::to_owned)
            .collect();
        for p in prefixes {
            let (Some(gamma), Some(beta)) = (
                tensors.remove(&format!("{p}norm.weight")),
                tensors.remove(&format!("{p}norm.bias")),
            ) else {
                candle_core::bail!("{p}norm.weight without {p}norm.bias");
            };
            let (wk, bk) = (format!("{p}project.weight"), format!("{p}project.bias"));
            let (Some(w), Some(b)) = (tensors.get(&wk), tensors.get(&bk)) else {
                candle_core::bail!("{p}norm without {p}project.bias");
            };
            let shift = w.matmul(&beta.unsqueeze(1)?)?.squeeze(1)?;
            let folded = (w.broadcast_mul(&gamma.unsqueeze(0)?)?, (b + shift)?);
            tensors.insert(wk, folded.0);
            tensors.insert(bk, folded.1);
        }
        Ok(())
    }
}
