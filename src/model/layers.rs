//! Building blocks shared by the encoders and fusion methods.
//!
//! Convolutions are written as patch extraction + one matrix multiply on channel-last maps
//! (`B × H × W × C`): candle's CPU conv2d backward is several times slower than its matmul.

use candle_core::{D, Module as _, Result, Tensor};
use candle_nn::{Linear, VarBuilder, linear, linear_no_bias};

/// Softmax over the last axis that gives exactly zero to positions where `mask` is 0.
/// A row whose mask is all zero comes out all zero (no NaN).
pub fn masked_softmax(scores: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let penalty = ((mask - 1.0)? * 1e4)?;
    let weights = candle_nn::ops::softmax(&scores.broadcast_add(&penalty)?, D::Minus1)?;
    weights.broadcast_mul(mask)
}

/// Non-overlapping `k × k` patches of a channel-first image `B × C × H × W`, as a
/// channel-last map `B × H/k × W/k × (C·k·k)` (patch values ordered channel, row, column).
pub fn patchify_chw(x: &Tensor, k: usize) -> Result<Tensor> {
    let (b, c, h, w) = x.dims4()?;
    x.reshape((b, c, h / k, k, w / k, k))?
        .permute((0, 2, 4, 1, 3, 5))?
        .reshape((b, h / k, w / k, c * k * k))
}

/// A 3 × 3, stride-1, zero-padded convolution on a channel-last map, as im2col + matmul
/// ([`super::kernels`]).
/// Weight layout: `out × (9·in)`, ordered kernel row, kernel column, input channel.
#[derive(Clone, Debug)]
pub struct Conv3x3 {
    proj: Linear,
}

impl Conv3x3 {
    /// `inputs` → `outputs` channels.
    pub fn new(inputs: usize, outputs: usize, vb: VarBuilder<'_>) -> Result<Self> {
        Ok(Self {
            proj: linear(9 * inputs, outputs, vb)?,
        })
    }

    /// `B × H × W × C` → `B × H × W × out`, then ReLU, as one node.
    pub fn forward_relu(&self, x: &Tensor) -> Result<Tensor> {
        super::kernels::conv_relu(x, &self.proj, super::kernels::Window::SAME_3X3)
    }

    /// `B × H × W × C` → `B × H × W × out`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, h, w, _) = x.dims4()?;
        let cols = super::kernels::im2col3x3(x)?;
        let out = super::kernels::dense(&self.proj, &cols)?;
        out.reshape((b, h, w, ()))
    }
}

/// Max pooling on a channel-last map (`fy`, `fx` are the factors along H and W).
pub use super::kernels::max_pool;

/// Additive attention pooling: `α = softmax(vᵀ tanh(W x))` over the unmasked positions,
/// output `Σ α_t x_t`. The weights α are the "where it looked" map.
#[derive(Clone, Debug)]
pub struct AttentionPool {
    key: Linear,
    score: Linear,
}

impl AttentionPool {
    /// Pool `dim`-wide tokens with a `hidden`-wide scorer.
    pub fn new(dim: usize, hidden: usize, vb: VarBuilder<'_>) -> Result<Self> {
        Ok(Self {
            key: linear(dim, hidden, vb.pp("key"))?,
            score: linear_no_bias(hidden, 1, vb.pp("score"))?,
        })
    }

    /// `tokens`: `B × N × D`, `mask`: `B × N` (0/1) → (`B × D`, weights `B × N`).
    pub fn forward(&self, tokens: &Tensor, mask: &Tensor) -> Result<(Tensor, Tensor)> {
        let scores = self
            .score
            .forward(&super::kernels::tanh(&super::kernels::dense(
                &self.key, tokens,
            )?)?)?
            .squeeze(D::Minus1)?;
        let weights = masked_softmax(&scores, mask)?;
        let pooled = tokens
            .broadcast_mul(&weights.unsqueeze(D::Minus1)?)?
            .sum(1)?;
        Ok((pooled, weights))
    }
}

/// Layer normalisation with a trainable scale (`weight`, from 1) and shift (`bias`, from 0),
/// differentiable through [`super::kernels::layer_norm`].
#[derive(Clone, Debug)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
}

impl LayerNorm {
    /// Over `dim`-wide rows.
    pub fn new(dim: usize, vb: VarBuilder<'_>) -> Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints(dim, "weight", candle_nn::init::ONE)?,
            bias: vb.get_with_hints(dim, "bias", candle_nn::init::ZERO)?,
        })
    }

    /// Normalises the last dimension of `x`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        super::kernels::layer_norm(x, &self.weight, &self.bias, 1e-5)
    }
}

/// A pre-norm transformer encoder layer with a key-padding mask; returns its attention.
#[derive(Clone, Debug)]
pub struct TransformerLayer {
    norm1: LayerNorm,
    qkv: Linear,
    out: Linear,
    norm2: LayerNorm,
    ff1: Linear,
    ff2: Linear,
    heads: usize,
}

impl TransformerLayer {
    /// `dim`-wide tokens, `heads` heads, a `4·dim` feed-forward.
    pub fn new(dim: usize, heads: usize, vb: VarBuilder<'_>) -> Result<Self> {
        if heads == 0 || !dim.is_multiple_of(heads) {
            candle_core::bail!("width {dim} is not divisible into {heads} attention heads");
        }
        Ok(Self {
            norm1: LayerNorm::new(dim, vb.pp("norm1"))?,
            qkv: linear(dim, 3 * dim, vb.pp("qkv"))?,
            out: linear(dim, dim, vb.pp("out"))?,
            norm2: LayerNorm::new(dim, vb.pp("norm2"))?,
            ff1: linear(dim, 2 * dim, vb.pp("ff1"))?,
            ff2: linear(2 * dim, dim, vb.pp("ff2"))?,
            heads,
        })
    }

    /// `x`: `B × N × D`, `mask`: `B × N` (keys with 0 are ignored) →
    /// (`B × N × D`, attention `B × heads × N × N`).
    pub fn forward(&self, x: &Tensor, mask: &Tensor) -> Result<(Tensor, Tensor)> {
        let (b, n, d) = x.dims3()?;
        let hd = d / self.heads;
        let qkv = self
            .qkv
            .forward(&self.norm1.forward(x)?)?
            .reshape((b, n, 3, self.heads, hd))?
            .permute((2, 0, 3, 1, 4))?;
        let q = qkv.get(0)?.contiguous()?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        let scores = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?;
        let key_mask = mask.reshape((b, 1, 1, n))?;
        let attn = masked_softmax(&scores, &key_mask)?;
        let mixed = attn.matmul(&v)?.transpose(1, 2)?.reshape((b, n, d))?;
        let x = (x + self.out.forward(&mixed)?)?;
        let ff = self
            .ff2
            .forward(&self.ff1.forward(&self.norm2.forward(&x)?)?.gelu()?)?;
        Ok(((x + ff)?, attn))
    }
}

/// One direction of a GRU (PyTorch gate order r, z, n), with masked steps that keep the state.
#[derive(Clone, Debug)]
pub struct GruDirection {
    input: Linear,
    hidden: Linear,
    size: usize,
}

impl GruDirection {
    /// `inputs` → `size` state.
    pub fn new(inputs: usize, size: usize, vb: VarBuilder<'_>) -> Result<Self> {
        Ok(Self {
            input: linear(inputs, 3 * size, vb.pp("input"))?,
            hidden: linear(size, 3 * size, vb.pp("hidden"))?,
            size,
        })
    }

    /// `x`: `B × T × E`, `mask`: `B × T` → states `B × T × size`, read left to right or,
    /// with `reverse`, right to left. Padding steps leave the state unchanged.
    pub fn forward(&self, x: &Tensor, mask: &Tensor, reverse: bool) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let gates_in = self.input.forward(x)?; // one matmul for every step
        let h_size = self.size;
        let mut h = Tensor::zeros((b, h_size), x.dtype(), x.device())?;
        let mut states = vec![None; t];
        let steps: Vec<usize> = if reverse {
            (0..t).rev().collect()
        } else {
            (0..t).collect()
        };
        for step in steps {
            let gi = gates_in.narrow(1, step, 1)?.squeeze(1)?;
            let gh = self.hidden.forward(&h)?;
            let r =
                candle_nn::ops::sigmoid(&(gi.narrow(1, 0, h_size)? + gh.narrow(1, 0, h_size)?)?)?;
            let z = candle_nn::ops::sigmoid(
                &(gi.narrow(1, h_size, h_size)? + gh.narrow(1, h_size, h_size)?)?,
            )?;
            let n = super::kernels::tanh(
                &(gi.narrow(1, 2 * h_size, h_size)? + (r * gh.narrow(1, 2 * h_size, h_size)?)?)?,
            )?;
            let candidate = ((n.clone() - (&z * &n)?)? + (&z * &h)?)?;
            let m = mask.narrow(1, step, 1)?;
            h = (h.broadcast_mul(&(1.0 - &m)?)? + candidate.broadcast_mul(&m)?)?;
            states[step] = Some(h.clone());
        }
        let states: Vec<Tensor> = states.into_iter().flatten().collect();
        Tensor::stack(&states, 1)
    }
}
