//! The from-scratch encoders of [`crate::model`] as ONNX nodes. The CNNs run channel-first with
//! `Conv` and `MaxPool` on the weights of the channel-last im2col layers, rearranged; the GRU is
//! ONNX's bidirectional `GRU` with its gates reordered.

use candle_core::Tensor;

use super::Result;
use super::builder::{int, ints, string};
use super::layers::Net;
use crate::model::{ModelConfig, TextEncoderKind};

/// One encoder's values in the graph (batch 1).
pub struct Encoding {
    /// Tokens `1 × N × D`.
    pub tokens: String,
    /// Which tokens count, `1 × N` (0 when the modality is absent).
    pub mask: String,
    /// Pooled embedding `1 × D` (zero when absent).
    pub embedding: String,
    /// Pooling weights `1 × N` (zero when absent).
    pub attention: String,
}

/// Rows `[r; z; n]` of a GRU gate matrix or bias (PyTorch order, as saved) → `[z; r; n]` (ONNX).
fn zrn(t: &Tensor, size: usize) -> Result<Tensor> {
    Ok(Tensor::cat(
        &[
            t.narrow(0, size, size)?,
            t.narrow(0, 0, size)?,
            t.narrow(0, 2 * size, size)?,
        ],
        0,
    )?)
}

impl Net<'_> {
    /// A convolution with the bias `prefix.bias` and an ONNX-layout weight `out × in × kh × kw`.
    fn conv(
        &mut self,
        x: &str,
        prefix: &str,
        weight: &Tensor,
        stride: [i64; 2],
        pad: i64,
    ) -> Result<String> {
        let dims = weight.dims4()?;
        let w = self.g.tensor(&format!("{prefix}.conv_weight"), weight)?;
        let b = self.param(&format!("{prefix}.bias"))?;
        Ok(self.g.op(
            "Conv",
            &[x, &w, &b],
            vec![
                ints("kernel_shape", &[dims.2 as i64, dims.3 as i64]),
                ints("strides", &stride),
                ints("pads", &[pad, pad, pad, pad]),
            ],
        ))
    }

    /// A non-overlapping `k × k` patch layer ([`crate::model::layers::patchify_chw`] + a dense
    /// layer, patch values ordered channel, row, column) as a stride-`k` convolution, with ReLU.
    fn patch_conv(&mut self, x: &str, prefix: &str, channels: usize, k: usize) -> Result<String> {
        let w = self.weight(&format!("{prefix}.weight"))?;
        let out = w.dim(0)?;
        let w = w.reshape((out, channels, k, k))?;
        let y = self.conv(x, prefix, &w, [k as i64; 2], 0)?;
        Ok(self.g.unary("Relu", &y))
    }

    /// [`crate::model::layers::Conv3x3`] (weights ordered kernel row, kernel column, input
    /// channel) as a padded 3 × 3 convolution, with ReLU.
    fn conv3x3_relu(&mut self, x: &str, prefix: &str) -> Result<String> {
        let w = self.weight(&format!("{prefix}.weight"))?;
        let (out, cols) = w.dims2()?;
        let w = w
            .reshape((out, 3, 3, cols / 9))?
            .permute((0, 3, 1, 2))?
            .contiguous()?;
        let y = self.conv(x, prefix, &w, [1, 1], 1)?;
        Ok(self.g.unary("Relu", &y))
    }

    fn max_pool(&mut self, x: &str, fy: i64, fx: i64) -> String {
        self.g.op(
            "MaxPool",
            &[x],
            vec![ints("kernel_shape", &[fy, fx]), ints("strides", &[fy, fx])],
        )
    }

    /// `present` column `m` (`1 × 1`).
    pub fn present_column(&mut self, present: &str, m: usize) -> String {
        let m = m as i64;
        self.g.slice(present, &[m], &[m + 1], &[1])
    }

    /// The `1 × n` mask of a modality whose every token counts when it is present.
    fn full_mask(&mut self, column: &str, n: usize) -> String {
        let shape = self.g.int64s(&[1, n as i64]);
        self.g.op("Expand", &[column, &shape], Vec::new())
    }

    fn pooled(&mut self, tokens: String, mask: String, prefix: &str) -> Result<Encoding> {
        let (embedding, attention) = self.attention_pool(&tokens, &mask, prefix)?;
        Ok(Encoding {
            tokens,
            mask,
            embedding,
            attention,
        })
    }

    /// [`crate::model::encoders::ImageEncoder`]: `image` `1 × 3 × S × S`.
    pub fn image_encoder(
        &mut self,
        cfg: &ModelConfig,
        image: &str,
        present: &str,
    ) -> Result<Encoding> {
        let x = self.patch_conv(image, "image.patch", 3, 2)?;
        let x = self.conv3x3_relu(&x, "image.conv2")?;
        let x = self.max_pool(&x, 2, 2);
        let x = self.conv3x3_relu(&x, "image.conv3")?;
        let side = cfg.image_size / 4;
        let n = side * side;
        let x = self.g.reshape(&x, &[1, cfg.embed_dim as i64, n as i64]);
        let tokens = self.g.transpose(&x, &[0, 2, 1]);
        let column = self.present_column(present, 0);
        let mask = self.full_mask(&column, n);
        self.pooled(tokens, mask, "image.pool")
    }

    /// [`crate::model::encoders::AudioEncoder`]: `audio` `1 × mels × frames` (log-mel).
    pub fn audio_encoder(
        &mut self,
        cfg: &ModelConfig,
        audio: &str,
        present: &str,
    ) -> Result<Encoding> {
        let frames = cfg.frames / 4 * 4;
        let x = self.g.slice(audio, &[0], &[frames as i64], &[2]);
        // Standardise the clip.
        let mean = self.g.reduce_mean(&x, &[1, 2], true);
        let centred = self.g.sub(&x, &mean);
        let square = self.g.mul(&centred, &centred);
        let var = self.g.reduce_mean(&square, &[1, 2], true);
        let eps = self.g.scalar(1e-4);
        let var = self.g.add(&var, &eps);
        let std = self.g.unary("Sqrt", &var);
        let x = self.g.div(&centred, &std);
        let x = self.g.unsqueeze(&x, &[1]); // 1 × 1 × mels × frames
        let x = self.patch_conv(&x, "audio.patch", 1, 4)?;
        let x = self.conv3x3_relu(&x, "audio.conv2")?;
        let x = self.max_pool(&x, 2, 1);
        let x = self.conv3x3_relu(&x, "audio.conv3")?; // 1 × c3 × mels/8 × T
        let t = frames / 4;
        let width = cfg.audio_channels[2] * (cfg.mel_bins / 8);
        let x = self.g.transpose(&x, &[0, 3, 2, 1]); // 1 × T × mels/8 × c3
        let x = self.g.reshape(&x, &[1, t as i64, width as i64]);
        let tokens = self.linear_relu(&x, "audio.frame")?;
        let column = self.present_column(present, 2);
        let mask = self.full_mask(&column, t);
        self.pooled(tokens, mask, "audio.pool")
    }

    /// [`crate::model::encoders::TextEncoder`]: `ids` `1 × L` int64, `text_mask` `1 × L`
    /// (1 for the words, a prefix, then 0 for padding).
    pub fn text_encoder(
        &mut self,
        cfg: &ModelConfig,
        ids: &str,
        text_mask: &str,
        present: &str,
    ) -> Result<Encoding> {
        let table = self.param("text.embed.weight")?;
        let x = self.g.op("Gather", &[&table, ids], vec![int("axis", 0)]);
        let column = self.present_column(present, 1);
        let mask = self.g.mul(text_mask, &column);
        let tokens = match cfg.text_encoder {
            TextEncoderKind::Gru => self.bidirectional_gru(&x, &mask, cfg.embed_dim / 2)?,
            TextEncoderKind::Transformer => {
                let positions = self.param("text.position.weight")?;
                let shape = self.g.op("Shape", &[ids], Vec::new());
                let len = self.g.slice(&shape, &[1], &[2], &[0]);
                let (zero, axis) = (self.g.int64s(&[0]), self.g.int64s(&[0]));
                let used = self
                    .g
                    .op("Slice", &[&positions, &zero, &len, &axis], Vec::new());
                let x = self.g.add(&x, &used);
                let dim = cfg.embed_dim;
                self.transformer_layer(&x, &mask, "text.layer", dim, cfg.heads)?
                    .0
            }
        };
        self.pooled(tokens, mask, "text.pool")
    }

    /// [`crate::model::layers::GruDirection`] both ways, concatenated: `x` `1 × L × E` → `1 × L × 2H`.
    /// The mask is a prefix, so the steps it skips are those past its sum, which ONNX's
    /// `sequence_lens` skips (at least 1: a fully masked text is ignored downstream anyway).
    fn bidirectional_gru(&mut self, x: &str, mask: &str, size: usize) -> Result<String> {
        let part = |net: &Self, dir: &str, which: &str, what: &str| -> Result<Tensor> {
            zrn(net.weight(&format!("text.gru_{dir}.{which}.{what}"))?, size)
        };
        let mut w = Vec::new();
        let mut r = Vec::new();
        let mut b = Vec::new();
        for dir in ["forward", "backward"] {
            w.push(part(self, dir, "input", "weight")?);
            r.push(part(self, dir, "hidden", "weight")?);
            b.push(Tensor::cat(
                &[
                    part(self, dir, "input", "bias")?,
                    part(self, dir, "hidden", "bias")?,
                ],
                0,
            )?);
        }
        let w = self.g.tensor("text.gru.W", &Tensor::stack(&w, 0)?)?;
        let r = self.g.tensor("text.gru.R", &Tensor::stack(&r, 0)?)?;
        let b = self.g.tensor("text.gru.B", &Tensor::stack(&b, 0)?)?;
        let lengths = self.g.reduce_sum(mask, &[1], false);
        let one = self.g.scalar(1.0);
        let lengths = self.g.op("Max", &[&lengths, &one], Vec::new());
        let lengths = self.g.op(
            "Cast",
            &[&lengths],
            vec![int("to", i64::from(super::proto::INT32))],
        );
        let steps = self.g.transpose(x, &[1, 0, 2]); // L × 1 × E
        let y = self.g.op(
            "GRU",
            &[&steps, &w, &r, &b, &lengths],
            vec![
                int("hidden_size", size as i64),
                string("direction", "bidirectional"),
                int("linear_before_reset", 1),
            ],
        ); // L × 2 × 1 × H
        let y = self.g.transpose(&y, &[2, 0, 1, 3]); // 1 × L × 2 × H
        Ok(self.g.reshape(&y, &[1, -1, 2 * size as i64]))
    }
}
