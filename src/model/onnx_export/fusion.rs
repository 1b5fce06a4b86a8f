//! The fusion methods of [`crate::model`] as ONNX nodes. Each reads the embeddings `z_m`
//! (`B × D`) and the presence mask (`B × 3`); `B` is 1, or 8 for the Shapley coalitions.

use super::Result;
use super::encoders::Encoding;
use super::layers::Net;
use crate::model::{FusionKind, ModelConfig};

/// Names used for per-modality sub-layers, as in [`crate::model`]'s fusion.
const NAMES: [&str; 3] = ["image", "text", "audio"];

/// What a fusion method gives back.
pub struct Fused {
    /// Class scores `B × K` (log-probabilities for `late`).
    pub logits: String,
    /// Native modality weights `B × 3`, when the method has them.
    pub weights: Option<String>,
    /// `crossmodal` only: [CLS]'s attention over each modality's tokens.
    pub maps: Option<[String; 3]>,
}

impl Fused {
    fn plain(logits: String) -> Self {
        Self {
            logits,
            weights: None,
            maps: None,
        }
    }
}

/// Borrowed names, for ops that take a list.
fn refs(values: &[String]) -> Vec<&str> {
    values.iter().map(String::as_str).collect()
}

impl Net<'_> {
    /// Column `m` of a `B × 3` value (`B × 1`).
    fn column(&mut self, x: &str, m: usize) -> String {
        let m = m as i64;
        self.g.slice(x, &[m], &[m + 1], &[1])
    }

    /// The fusion method of `cfg` on embeddings `z` and `present`; `enc` (batch 1) is read by
    /// `crossmodal` only.
    pub fn fusion(
        &mut self,
        cfg: &ModelConfig,
        z: &[String; 3],
        present: &str,
        enc: &[Encoding; 3],
    ) -> Result<Fused> {
        let head = |net: &mut Self, fused: &str| net.linear(fused, "fusion.head");
        Ok(match cfg.fusion {
            FusionKind::Early => {
                let joined = self.g.concat(&[&z[0], &z[1], &z[2], present], 1);
                let h = self.linear_relu(&joined, "fusion.hidden")?;
                Fused::plain(head(self, &h)?)
            }
            FusionKind::Late => self.late(z, present)?,
            FusionKind::Gated => {
                let (fused, weights) = self.gated(cfg, z, present)?;
                Fused {
                    logits: head(self, &fused)?,
                    weights: Some(weights),
                    maps: None,
                }
            }
            FusionKind::Attention => {
                let rows: Vec<String> = z.iter().map(|z| self.g.unsqueeze(z, &[1])).collect();
                let stacked = self.g.concat(&[&rows[0], &rows[1], &rows[2]], 1); // B × 3 × D
                let key = self.linear(&stacked, "fusion.key")?;
                let key = self.g.unary("Tanh", &key);
                let e = self.linear(&key, "fusion.score")?;
                let e = self.g.squeeze(&e, &[2]);
                let alpha = self.masked_softmax(&e, present);
                let a = self.g.unsqueeze(&alpha, &[2]);
                let weighted = self.g.mul(&stacked, &a);
                let h = self.g.reduce_sum(&weighted, &[1], false);
                let h = self.linear_relu(&h, "fusion.hidden")?;
                Fused {
                    logits: head(self, &h)?,
                    weights: Some(alpha),
                    maps: None,
                }
            }
            FusionKind::Tensor => {
                let mut outer: Option<String> = None;
                for (m, zm) in z.iter().enumerate() {
                    let p = self.linear(zm, &format!("fusion.project_{}", NAMES[m]))?;
                    let p = if cfg.tensor_linear {
                        p
                    } else {
                        self.g.unary("Relu", &p)
                    };
                    let col = self.column(present, m);
                    let p = self.g.mul(&p, &col);
                    let p = self.g.append_constant(&p, 1.0);
                    outer = Some(match outer {
                        None => p,
                        Some(acc) => {
                            let width = (cfg.tensor_dim + 1).pow(m as u32 + 1) as i64;
                            let a = self.g.unsqueeze(&acc, &[2]);
                            let c = self.g.unsqueeze(&p, &[1]);
                            let product = self.g.mul(&a, &c);
                            self.g.reshape(&product, &[-1, width])
                        }
                    });
                }
                let outer = outer.unwrap_or_default();
                let h = self.linear_relu(&outer, "fusion.hidden")?;
                Fused::plain(head(self, &h)?)
            }
            FusionKind::LowRank => {
                let mut product: Option<String> = None;
                for (m, zm) in z.iter().enumerate() {
                    let zm = self.g.append_constant(zm, 1.0);
                    let f = self.linear(&zm, &format!("fusion.factor_{}", NAMES[m]))?;
                    let f = self
                        .g
                        .reshape(&f, &[-1, cfg.rank as i64, cfg.hidden as i64]);
                    product = Some(match product {
                        None => f,
                        Some(acc) => self.g.mul(&acc, &f),
                    });
                }
                let summed = self.g.reduce_sum(&product.unwrap_or_default(), &[1], false);
                let bias = self.param("fusion.bias")?;
                let h = self.g.add(&summed, &bias);
                let h = self.g.unary("Relu", &h);
                Fused::plain(head(self, &h)?)
            }
            FusionKind::CrossModal => self.cross_modal(cfg, present, enc)?,
        })
    }

    /// Late fusion: `log(Σ_m α_m softmax(head_m(z_m)) + 10⁻⁷)`, `α` the masked softmax of the
    /// learnt modality logits.
    fn late(&mut self, z: &[String; 3], present: &str) -> Result<Fused> {
        let scores = self.param("fusion.modality_logits")?;
        let scores = self.g.reshape(&scores, &[1, 3]);
        let alpha = self.masked_softmax(&scores, present);
        let mut mix: Option<String> = None;
        for (m, zm) in z.iter().enumerate() {
            let logits = self.linear(zm, &format!("fusion.head_{}", NAMES[m]))?;
            let p = self.g.softmax(&logits, -1);
            let a = self.column(&alpha, m);
            let term = self.g.mul(&p, &a);
            mix = Some(match mix {
                None => term,
                Some(acc) => self.g.add(&acc, &term),
            });
        }
        let eps = self.g.scalar(1e-7);
        let mix = self.g.add(&mix.unwrap_or_default(), &eps);
        Ok(Fused {
            logits: self.g.unary("Log", &mix),
            weights: Some(alpha),
            maps: None,
        })
    }

    /// Gated fusion → (fused `B × H`, gates averaged over units `B × 3`).
    fn gated(
        &mut self,
        cfg: &ModelConfig,
        z: &[String; 3],
        present: &str,
    ) -> Result<(String, String)> {
        let mut rows = Vec::with_capacity(3);
        for (m, zm) in z.iter().enumerate() {
            let h = self.linear(zm, &format!("fusion.transform_{}", NAMES[m]))?;
            let h = self.g.unary("Tanh", &h);
            rows.push(self.g.unsqueeze(&h, &[1]));
        }
        let h = self.g.concat(&[&rows[0], &rows[1], &rows[2]], 1); // B × 3 × H
        let joined = self.g.concat(&[&z[0], &z[1], &z[2]], 1);
        let logits = self.linear(&joined, "fusion.gate")?;
        let logits = self.g.reshape(&logits, &[-1, 3, cfg.hidden as i64]);
        let logits = self.g.transpose(&logits, &[0, 2, 1]); // B × H × 3
        let mask = self.g.unsqueeze(present, &[1]);
        let gates = self.masked_softmax(&logits, &mask);
        let ht = self.g.transpose(&h, &[0, 2, 1]);
        let gated = self.g.mul(&ht, &gates);
        let fused = self.g.reduce_sum(&gated, &[2], false);
        let weights = self.g.reduce_mean(&gates, &[1], false);
        Ok((fused, weights))
    }

    /// Cross-modal fusion: a transformer over [CLS] and every modality's tokens (batch 1).
    fn cross_modal(
        &mut self,
        cfg: &ModelConfig,
        present: &str,
        enc: &[Encoding; 3],
    ) -> Result<Fused> {
        let d = cfg.embed_dim;
        let kinds = self.weight("fusion.modality_embedding")?;
        let mut tokens = vec![self.param("fusion.cls")?];
        let mut masks = vec![self.g.floats("cls_mask", &[1, 1], &[1.0])];
        for (m, e) in enc.iter().enumerate() {
            let t = self.linear(&e.tokens, &format!("fusion.project_{}", NAMES[m]))?;
            let kind = self.g.tensor(
                &format!("fusion.modality_embedding_{m}"),
                &kinds.narrow(0, m, 1)?,
            )?;
            tokens.push(self.g.add(&t, &kind));
            let col = self.column(present, m);
            masks.push(self.g.mul(&e.mask, &col));
        }
        let mut x = self.g.concat(&refs(&tokens), 1);
        let mask = self.g.concat(&refs(&masks), 1);
        let mut last = None;
        for i in 0..cfg.layers {
            let (y, attn) =
                self.transformer_layer(&x, &mask, &format!("fusion.layer{i}"), d, cfg.heads)?;
            x = y;
            last = Some(attn);
        }
        let attn = last.unwrap_or_default();
        // The [CLS] row, averaged over heads: 1 × N.
        let row = self.g.pick(&attn, 0, 2);
        let row = self.g.reduce_mean(&row, &[1], false);
        let side = cfg.image_size / 4;
        let image = (side * side) as i64;
        let audio = (cfg.frames / 4) as i64;
        let spans = [(1, 1 + image), (1 + image, -audio), (-audio, i64::MAX)];
        let eps = self.g.scalar(1e-12);
        let mut maps = Vec::with_capacity(3);
        let mut totals = Vec::with_capacity(3);
        for (start, end) in spans {
            let part = self.g.slice(&row, &[start], &[end], &[1]);
            let total = self.g.reduce_sum(&part, &[1], true);
            let denominator = self.g.add(&total, &eps);
            maps.push(self.g.div(&part, &denominator));
            totals.push(total);
        }
        let totals = self.g.concat(&refs(&totals), 1);
        let sum = self.g.reduce_sum(&totals, &[1], true);
        let sum = self.g.add(&sum, &eps);
        let weights = self.g.div(&totals, &sum);
        let cls = self.g.pick(&x, 0, 1);
        let [image_map, text_map, audio_map]: [String; 3] = maps
            .try_into()
            .unwrap_or_else(|_| [String::new(), String::new(), String::new()]);
        Ok(Fused {
            logits: self.linear(&cls, "fusion.head")?,
            weights: Some(weights),
            maps: Some([image_map, text_map, audio_map]),
        })
    }
}
