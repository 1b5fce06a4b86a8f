//! The building blocks of [`crate::model::layers`] as ONNX nodes: dense layers, the masked
//! softmax, attention pooling, layer norm, GELU and the pre-norm transformer layer.

use std::collections::BTreeMap;

use candle_core::Tensor;

use super::builder::{Graph, float, int};
use super::{OnnxExportError, Result};

/// The graph under construction together with the weights it reads, by safetensors name.
pub struct Net<'a> {
    /// The graph.
    pub g: Graph,
    weights: &'a BTreeMap<String, Tensor>,
}

impl<'a> Net<'a> {
    /// An empty graph over `weights`.
    pub fn new(weights: &'a BTreeMap<String, Tensor>) -> Self {
        Self {
            g: Graph::default(),
            weights,
        }
    }

    /// The weight tensor `name`.
    pub fn weight(&self, name: &str) -> Result<&'a Tensor> {
        self.weights
            .get(name)
            .ok_or_else(|| OnnxExportError::MissingTensor(name.to_owned()))
    }

    /// The weight tensor `name` as an initializer, unchanged.
    pub fn param(&mut self, name: &str) -> Result<String> {
        let t = self.weight(name)?;
        Ok(self.g.tensor(name, t)?)
    }

    /// `x Wᵀ + b` for the candle `Linear` saved under `prefix` (`prefix.weight` `out × in`,
    /// `prefix.bias` when it has one), on the last axis of `x`.
    pub fn linear(&mut self, x: &str, prefix: &str) -> Result<String> {
        let weight = self.weight(&format!("{prefix}.weight"))?;
        let wt = self
            .g
            .tensor(&format!("{prefix}.weight_t"), &weight.t()?.contiguous()?)?;
        let product = self.g.matmul(x, &wt);
        let bias_name = format!("{prefix}.bias");
        if self.weights.contains_key(&bias_name) {
            let bias = self.param(&bias_name)?;
            Ok(self.g.add(&product, &bias))
        } else {
            Ok(product)
        }
    }

    /// `relu(linear(x))`.
    pub fn linear_relu(&mut self, x: &str, prefix: &str) -> Result<String> {
        let y = self.linear(x, prefix)?;
        Ok(self.g.unary("Relu", &y))
    }

    /// [`crate::model::layers::masked_softmax`]: softmax over the last axis of
    /// `scores + (mask − 1)·10⁴`, times `mask` (broadcasting), so masked positions get exactly 0.
    pub fn masked_softmax(&mut self, scores: &str, mask: &str) -> String {
        let one = self.g.scalar(1.0);
        let big = self.g.scalar(1e4);
        let shifted = self.g.sub(mask, &one);
        let penalty = self.g.mul(&shifted, &big);
        let sum = self.g.add(scores, &penalty);
        let weights = self.g.softmax(&sum, -1);
        self.g.mul(&weights, mask)
    }

    /// [`crate::model::layers::AttentionPool`]: `tokens` `B × N × D`, `mask` `B × N` (or
    /// `B × 1`, broadcast) → (pooled `B × D`, weights `B × N`).
    pub fn attention_pool(
        &mut self,
        tokens: &str,
        mask: &str,
        prefix: &str,
    ) -> Result<(String, String)> {
        let key = self.linear(tokens, &format!("{prefix}.key"))?;
        let key = self.g.unary("Tanh", &key);
        let scores = self.linear(&key, &format!("{prefix}.score"))?;
        let scores = self.g.squeeze(&scores, &[-1]);
        let weights = self.masked_softmax(&scores, mask);
        let row = self.g.unsqueeze(&weights, &[1]);
        let pooled = self.g.matmul(&row, tokens);
        let pooled = self.g.squeeze(&pooled, &[1]);
        Ok((pooled, weights))
    }

    /// [`crate::model::layers::LayerNorm`] (ε = 10⁻⁵) over the last axis.
    pub fn layer_norm(&mut self, x: &str, prefix: &str) -> Result<String> {
        let w = self.param(&format!("{prefix}.weight"))?;
        let b = self.param(&format!("{prefix}.bias"))?;
        Ok(self.g.op(
            "LayerNormalization",
            &[x, &w, &b],
            vec![int("axis", -1), float("epsilon", 1e-5)],
        ))
    }

    /// candle's `gelu`, the tanh approximation:
    /// `0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x²)))`.
    pub fn gelu(&mut self, x: &str) -> String {
        let g = &mut self.g;
        let x2 = g.mul(x, x);
        let c = g.scalar(0.044715);
        let cx2 = g.mul(&x2, &c);
        let one = g.scalar(1.0);
        let inner = g.add(&cx2, &one);
        let inner = g.mul(x, &inner);
        let k = g.scalar((2.0 / std::f32::consts::PI).sqrt());
        let inner = g.mul(&inner, &k);
        let t = g.unary("Tanh", &inner);
        let t = g.add(&t, &one);
        let half = g.scalar(0.5);
        let hx = g.mul(x, &half);
        g.mul(&hx, &t)
    }

    /// [`crate::model::layers::TransformerLayer`] on `x` `1 × N × D` with key mask `mask`
    /// `1 × N` → (`1 × N × D`, attention `1 × heads × N × N`).
    pub fn transformer_layer(
        &mut self,
        x: &str,
        mask: &str,
        prefix: &str,
        dim: usize,
        heads: usize,
    ) -> Result<(String, String)> {
        let hd = dim / heads.max(1);
        let normed = self.layer_norm(x, &format!("{prefix}.norm1"))?;
        let qkv = self.linear(&normed, &format!("{prefix}.qkv"))?;
        let qkv = self.g.reshape(&qkv, &[1, -1, 3, heads as i64, hd as i64]);
        let qkv = self.g.transpose(&qkv, &[2, 0, 3, 1, 4]); // 3 × 1 × heads × N × hd
        let q = self.g.pick(&qkv, 0, 0);
        let k = self.g.pick(&qkv, 1, 0);
        let v = self.g.pick(&qkv, 2, 0);
        let kt = self.g.transpose(&k, &[0, 1, 3, 2]);
        let scores = self.g.matmul(&q, &kt);
        // candle divides by a float as a multiply by its inverse.
        let scale = self.g.scalar((1.0 / (hd as f64).sqrt()) as f32);
        let scores = self.g.mul(&scores, &scale);
        let key_mask = self.g.reshape(mask, &[1, 1, 1, -1]);
        let attn = self.masked_softmax(&scores, &key_mask);
        let mixed = self.g.matmul(&attn, &v);
        let mixed = self.g.transpose(&mixed, &[0, 2, 1, 3]);
        let mixed = self.g.reshape(&mixed, &[1, -1, dim as i64]);
        let out = self.linear(&mixed, &format!("{prefix}.out"))?;
        let x = self.g.add(x, &out);
        let normed = self.layer_norm(&x, &format!("{prefix}.norm2"))?;
        let ff = self.linear(&normed, &format!("{prefix}.ff1"))?;
        let ff = self.gelu(&ff);
        let ff = self.linear(&ff, &format!("{prefix}.ff2"))?;
        Ok((self.g.add(&x, &ff), attn))
    }
}
