//! The fusion methods. Each takes the three encodings and a presence mask and returns logits, a
//! fused embedding and, where the method has them, native per-modality weights.

use candle_core::{D, Module as _, Result, Tensor};
use candle_nn::{Linear, VarBuilder, linear, linear_no_bias};

use super::encoders::Encoded;
use super::layers::{TransformerLayer, masked_softmax};
use super::{FusionKind, ModelConfig};

/// What a fusion method gives back.
#[derive(Clone, Debug)]
pub struct Fused {
    /// Class scores, `B × K` (log-probabilities for `late`).
    pub logits: Tensor,
    /// The fused representation, `B × F`.
    pub fused: Tensor,
    /// Native modality weights `B × 3` (rows sum to 1 over present modalities), if the method has them.
    pub weights: Option<Tensor>,
    /// `crossmodal` only: the [CLS] token's attention over each modality's tokens, renormalised
    /// within the modality (`B × N_m`).
    pub token_attention: Option<[Tensor; 3]>,
}

#[derive(Clone)]
enum Method {
    Early {
        hidden: Linear,
    },
    Late {
        heads: [Linear; 3],
        weights: Tensor,
    },
    Gated {
        transforms: [Linear; 3],
        gate: Linear,
    },
    Attention {
        key: Linear,
        score: Linear,
        hidden: Linear,
    },
    Tensor {
        project: [Linear; 3],
        /// No ReLU after the projections.
        linear: bool,
        hidden: Linear,
    },
    LowRank {
        factors: [Linear; 3],
        bias: Tensor,
        rank: usize,
    },
    CrossModal {
        project: [Linear; 3],
        kinds: Tensor,
        cls: Tensor,
        layers: Vec<TransformerLayer>,
    },
}

/// One fusion method plus its classifier head.
#[derive(Clone)]
pub struct Fusion {
    method: Method,
    head: Option<Linear>,
}

impl std::fmt::Debug for Fusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fusion")
    }
}

fn three<T>(mut make: impl FnMut(usize) -> Result<T>) -> Result<[T; 3]> {
    Ok([make(0)?, make(1)?, make(2)?])
}

/// Names used for per-modality sub-layers (and so in the safetensors keys).
const NAMES: [&str; 3] = ["image", "text", "audio"];

impl Fusion {
    /// Build the method chosen in `cfg`.
    pub fn new(cfg: &ModelConfig, vb: VarBuilder<'_>) -> Result<Self> {
        let d = cfg.embed_dim;
        let h = cfg.hidden;
        let k = cfg.classes;
        let method = match cfg.fusion {
            FusionKind::Early => Method::Early {
                hidden: linear(3 * d + 3, h, vb.pp("hidden"))?,
            },
            FusionKind::Late => Method::Late {
                heads: three(|m| linear(d, k, vb.pp(format!("head_{}", NAMES[m]))))?,
                weights: vb.get_with_hints(3, "modality_logits", candle_nn::init::ZERO)?,
            },
            FusionKind::Gated => Method::Gated {
                transforms: three(|m| linear(d, h, vb.pp(format!("transform_{}", NAMES[m]))))?,
                gate: linear(3 * d, 3 * h, vb.pp("gate"))?,
            },
            FusionKind::Attention => Method::Attention {
                key: linear(d, d / 2, vb.pp("key"))?,
                score: linear_no_bias(d / 2, 1, vb.pp("score"))?,
                hidden: linear(d, h, vb.pp("hidden"))?,
            },
            FusionKind::Tensor => {
                let t = cfg.tensor_dim;
                Method::Tensor {
                    project: three(|m| linear(d, t, vb.pp(format!("project_{}", NAMES[m]))))?,
                    linear: cfg.tensor_linear,
                    hidden: linear((t + 1).pow(3), h, vb.pp("hidden"))?,
                }
            }
            FusionKind::LowRank => Method::LowRank {
                factors: three(|m| {
                    linear(d + 1, cfg.rank * h, vb.pp(format!("factor_{}", NAMES[m])))
                })?,
                bias: vb.get_with_hints(h, "bias", candle_nn::init::ZERO)?,
                rank: cfg.rank,
            },
            FusionKind::CrossModal => Method::CrossModal {
                project: three(|m| linear(d, d, vb.pp(format!("project_{}", NAMES[m]))))?,
                kinds: vb.get_with_hints(
                    (3, d),
                    "modality_embedding",
                    candle_nn::init::Init::Randn {
                        mean: 0.0,
                        stdev: 0.02,
                    },
                )?,
                cls: vb.get_with_hints(
                    (1, 1, d),
                    "cls",
                    candle_nn::init::Init::Randn {
                        mean: 0.0,
                        stdev: 0.02,
                    },
                )?,
                layers: (0..cfg.layers)
                    .map(|i| TransformerLayer::new(d, cfg.heads, vb.pp(format!("layer{i}"))))
                    .collect::<Result<_>>()?,
            },
        };
        let head = match cfg.fusion {
            FusionKind::Late => None,
            FusionKind::CrossModal => Some(linear(d, k, vb.pp("head"))?),
            _ => Some(linear(h, k, vb.pp("head"))?),
        };
        Ok(Self { method, head })
    }

    /// Fuse. `present` is `B × 3` (0/1); encodings of absent modalities must already be zero.
    pub fn forward(&self, enc: &[Encoded; 3], present: &Tensor) -> Result<Fused> {
        let z: Vec<Tensor> = enc.iter().map(|e| e.embedding.clone()).collect();
        let (fused, weights, token_attention) = match &self.method {
            Method::Early { hidden } => {
                let mut parts = z.clone();
                parts.push(present.clone());
                (
                    hidden.forward(&Tensor::cat(&parts, 1)?)?.relu()?,
                    None,
                    None,
                )
            }
            // Late fusion mixes per-modality class distributions: no head after it.
            Method::Late { heads, weights } => return late(heads, weights, &z, present),
            Method::Gated { transforms, gate } => {
                let (fused, weights) = gated(transforms, gate, &z, present)?;
                (fused, Some(weights), None)
            }
            Method::Attention { key, score, hidden } => {
                let stacked = Tensor::stack(&z, 1)?; // B × 3 × D
                let e = score.forward(&key.forward(&stacked)?.tanh()?)?.squeeze(2)?;
                let alpha = masked_softmax(&e, present)?;
                let h = stacked.broadcast_mul(&alpha.unsqueeze(2)?)?.sum(1)?;
                (hidden.forward(&h)?.relu()?, Some(alpha), None)
            }
            Method::Tensor {
                project,
                linear,
                hidden,
            } => (
                tensor_product(project, *linear, hidden, &z, present)?,
                None,
                None,
            ),
            Method::LowRank {
                factors,
                bias,
                rank,
            } => (low_rank(factors, bias, *rank, &z, present)?, None, None),
            Method::CrossModal {
                project,
                kinds,
                cls,
                layers,
            } => {
                let (fused, weights, maps) =
                    cross_modal(project, kinds, cls, layers, enc, present)?;
                (fused, Some(weights), Some(maps))
            }
        };
        let logits = match &self.head {
            Some(head) => head.forward(&fused)?,
            None => candle_core::bail!("fusion method without a classifier head"),
        };
        Ok(Fused {
            logits,
            fused,
            weights,
            token_attention,
        })
    }
}

/// Late fusion: a learnt mixture (weights `alpha` over the present modalities) of the
/// per-modality class distributions; the logits are the mixture's log-probabilities.
fn late(heads: &[Linear; 3], weights: &Tensor, z: &[Tensor], present: &Tensor) -> Result<Fused> {
    let (b, _) = present.dims2()?;
    let alpha = masked_softmax(&weights.unsqueeze(0)?.repeat((b, 1))?, present)?;
    // Mixture of the per-modality class distributions.
    let mut mix: Option<Tensor> = None;
    for (m, head) in heads.iter().enumerate() {
        let p = candle_nn::ops::softmax(&head.forward(&z[m])?, D::Minus1)?;
        let term = p.broadcast_mul(&alpha.narrow(1, m, 1)?)?;
        mix = Some(match mix {
            Some(acc) => (acc + term)?,
            None => term,
        });
    }
    let stacked = Tensor::stack(z, 1)?;
    let fused = stacked.broadcast_mul(&alpha.unsqueeze(2)?)?.sum(1)?;
    let mix = mix.ok_or_else(|| candle_core::Error::Msg("no modality".into()))?;
    let logits = (mix + 1e-7)?.log()?;
    Ok(Fused {
        logits,
        fused,
        weights: Some(alpha),
        token_attention: None,
    })
}

/// Gated fusion: per hidden unit, a softmax gate over the present modalities' transforms.
/// Returns the fused `B × H` and the gates averaged over units (`B × 3`).
fn gated(
    transforms: &[Linear; 3],
    gate: &Linear,
    z: &[Tensor],
    present: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let (b, _) = present.dims2()?;
    let h: Vec<Tensor> = transforms
        .iter()
        .zip(z)
        .map(|(t, z)| t.forward(z)?.tanh())
        .collect::<Result<_>>()?;
    let h = Tensor::stack(&h, 1)?; // B × 3 × H
    let width = h.dim(2)?;
    let logits = gate.forward(&Tensor::cat(z, 1)?)?.reshape((b, 3, width))?;
    // Per-unit softmax over the present modalities.
    let g = masked_softmax(&logits.transpose(1, 2)?, &present.unsqueeze(1)?)?; // B × H × 3
    let fused = (h.transpose(1, 2)? * &g)?.sum(2)?;
    Ok((fused, g.mean(1)?))
}

/// Tensor fusion: the outer product of the projected `[z_m; 1]` of the three modalities
/// (projections linear, or ReLU for models saved before [`ModelConfig::tensor_linear`]).
fn tensor_product(
    project: &[Linear; 3],
    linear: bool,
    hidden: &Linear,
    z: &[Tensor],
    present: &Tensor,
) -> Result<Tensor> {
    let (b, _) = present.dims2()?;
    let ones = Tensor::ones((b, 1), present.dtype(), present.device())?;
    let mut outer: Option<Tensor> = None;
    for (m, p) in project.iter().enumerate() {
        let zm = p.forward(&z[m])?;
        let zm = if linear { zm } else { zm.relu()? };
        let zm = zm.broadcast_mul(&present.narrow(1, m, 1)?)?;
        let zm = Tensor::cat(&[zm, ones.clone()], 1)?; // [z; 1]
        outer = Some(match outer {
            None => zm,
            Some(acc) => {
                let (b, a) = acc.dims2()?;
                let c = zm.dim(1)?;
                acc.unsqueeze(2)?
                    .broadcast_mul(&zm.unsqueeze(1)?)?
                    .reshape((b, a * c))?
            }
        });
    }
    let outer = outer.ok_or_else(|| candle_core::Error::Msg("no modality".into()))?;
    hidden.forward(&outer)?.relu()
}

/// Low-rank fusion: the product over modalities of rank-`rank` factors of `[z_m; 1]`, summed
/// over the rank.
fn low_rank(
    factors: &[Linear; 3],
    bias: &Tensor,
    rank: usize,
    z: &[Tensor],
    present: &Tensor,
) -> Result<Tensor> {
    let (b, _) = present.dims2()?;
    let ones = Tensor::ones((b, 1), present.dtype(), present.device())?;
    let mut product: Option<Tensor> = None;
    for (m, f) in factors.iter().enumerate() {
        let zm = Tensor::cat(&[z[m].clone(), ones.clone()], 1)?;
        let fm = f.forward(&zm)?.reshape((b, rank, ()))?;
        product = Some(match product {
            None => fm,
            Some(acc) => (acc * fm)?,
        });
    }
    let product = product.ok_or_else(|| candle_core::Error::Msg("no modality".into()))?;
    product.sum(1)?.broadcast_add(bias)?.relu()
}

/// Cross-modal fusion: a transformer over [CLS] and every modality's tokens. Returns the [CLS]
/// output (`B × D`), the share of [CLS]'s last-layer attention that went to each modality
/// (`B × 3`) and, per modality, that attention over its tokens renormalised within it.
fn cross_modal(
    project: &[Linear; 3],
    kinds: &Tensor,
    cls: &Tensor,
    layers: &[TransformerLayer],
    enc: &[Encoded; 3],
    present: &Tensor,
) -> Result<(Tensor, Tensor, [Tensor; 3])> {
    let (b, _) = present.dims2()?;
    let d = cls.dim(2)?;
    let mut tokens = vec![cls.broadcast_as((b, 1, d))?.contiguous()?];
    let mut masks = vec![Tensor::ones((b, 1), present.dtype(), present.device())?];
    let mut lengths = Vec::with_capacity(3);
    for (m, p) in project.iter().enumerate() {
        let t = p
            .forward(&enc[m].tokens)?
            .broadcast_add(&kinds.narrow(0, m, 1)?.unsqueeze(0)?)?;
        lengths.push(t.dim(1)?);
        tokens.push(t);
        masks.push(enc[m].mask.broadcast_mul(&present.narrow(1, m, 1)?)?);
    }
    let mut x = Tensor::cat(&tokens, 1)?;
    let mask = Tensor::cat(&masks, 1)?;
    let mut last = None;
    for layer in layers {
        let (y, attn) = layer.forward(&x, &mask)?;
        x = y;
        last = Some(attn);
    }
    let attn = last.ok_or_else(|| candle_core::Error::Msg("no layer".into()))?;
    // The [CLS] row, averaged over heads, without [CLS] itself.
    let row = attn.narrow(2, 0, 1)?.squeeze(2)?.mean(1)?; // B × N
    let mut per_modality = Vec::with_capacity(3);
    let mut maps = Vec::with_capacity(3);
    let mut start = 1;
    for len in lengths {
        let part = row.narrow(1, start, len)?;
        let total = part.sum_keepdim(1)?;
        maps.push(part.broadcast_div(&(&total + 1e-12)?)?);
        per_modality.push(total);
        start += len;
    }
    let totals = Tensor::cat(&per_modality, 1)?;
    let weights = totals.broadcast_div(&(totals.sum_keepdim(1)? + 1e-12)?)?;
    let maps = [maps[0].clone(), maps[1].clone(), maps[2].clone()];
    Ok((x.narrow(1, 0, 1)?.squeeze(1)?, weights, maps))
}
