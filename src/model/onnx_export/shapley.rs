//! Shapley modality weights inside the graph, for the methods without native weights (early,
//! tensor, low-rank): the fusion runs once on a batch of the eight coalitions of modalities (the
//! encoders' embeddings are shared), and [`crate::model::shapley_weights`] is a fixed matrix
//! product plus a normalisation.

use super::Result;
use super::encoders::Encoding;
use super::layers::Net;
use crate::model::ModelConfig;

/// `coefficients[s][m]`: the weight of coalition `s`'s value in modality `m`'s Shapley value
/// (for three players: |S|!(2−|S|)!/3!), so that `φ = values · coefficients`.
fn coefficients() -> [[f32; 3]; 8] {
    let mut c = [[0f32; 3]; 8];
    for m in 0..3 {
        for s in 0..8usize {
            if s & (1 << m) != 0 {
                continue;
            }
            let w = match s.count_ones() {
                0 | 2 => 1.0 / 3.0,
                _ => 1.0 / 6.0,
            };
            c[s | (1 << m)][m] += w;
            c[s][m] -= w;
        }
    }
    c
}

impl Net<'_> {
    /// The fusion of `cfg` with Shapley weights: (logits `1 × K`, weights `1 × 3`).
    pub fn shapley_fusion(
        &mut self,
        cfg: &ModelConfig,
        z: &[String; 3],
        present: &str,
        enc: &[Encoding; 3],
    ) -> Result<(String, String)> {
        // Row s keeps modality m when bit m of s is set.
        let keep: Vec<f32> = (0..8usize)
            .flat_map(|s| (0..3).map(move |m| if s & (1 << m) != 0 { 1.0 } else { 0.0 }))
            .collect();
        let keep = self.g.floats("coalitions", &[8, 3], &keep);
        let masks = self.g.mul(present, &keep); // 8 × 3
        let mut zs = Vec::with_capacity(3);
        for (m, zm) in z.iter().enumerate() {
            let col = self.present_column(&keep, m); // 8 × 1
            zs.push(self.g.mul(zm, &col)); // 8 × D
        }
        let zs: [String; 3] = [zs[0].clone(), zs[1].clone(), zs[2].clone()];
        let fused = self.fusion(cfg, &zs, &masks, enc)?;
        let probs = self.g.softmax(&fused.logits, -1); // 8 × K
        // The full coalition is the prediction itself.
        let logits = self.g.slice(&fused.logits, &[7], &[8], &[0]);
        let full = self.g.slice(&probs, &[7], &[8], &[0]);
        let predicted = self.g.op(
            "ArgMax",
            &[&full],
            vec![
                super::builder::int("axis", 1),
                super::builder::int("keepdims", 0),
            ],
        ); // [1]
        let values = self.g.op(
            "Gather",
            &[&probs, &predicted],
            vec![super::builder::int("axis", 1)],
        ); // 8 × 1
        let values = self.g.reshape(&values, &[1, 8]);
        let c: Vec<f32> = coefficients().iter().flatten().copied().collect();
        let c = self.g.floats("shapley_coefficients", &[8, 3], &c);
        let phi = self.g.matmul(&values, &c); // 1 × 3
        let magnitude = self.g.unary("Abs", &phi);
        let magnitude = self.g.mul(&magnitude, present);
        let total = self.g.reduce_sum(&magnitude, &[1], true);
        let count = self.g.reduce_sum(present, &[1], true);
        let one = self.g.scalar(1.0);
        let count = self.g.op("Max", &[&count, &one], Vec::new());
        let uniform = self.g.div(present, &count);
        let shares = self.g.div(&magnitude, &total);
        let threshold = self.g.scalar(1e-12);
        let spread = self.g.op("Greater", &[&total, &threshold], Vec::new());
        let weights = self
            .g
            .op("Where", &[&spread, &shares, &uniform], Vec::new());
        Ok((logits, weights))
    }
}

#[cfg(test)]
mod tests {
    use super::coefficients;

    /// The matrix gives [`crate::model::shapley_values`].
    #[test]
    fn coefficients_give_the_shapley_values() {
        let values = [0.1f32, 0.5, 0.2, 0.7, 0.3, 0.6, 0.4, 0.9];
        let expected = crate::model::shapley_values(&values);
        let c = coefficients();
        for m in 0..3 {
            let phi: f32 = (0..8).map(|s| values[s] * c[s][m]).sum();
            assert!(
                (phi - expected[m]).abs() < 1e-6,
                "{m}: {phi} vs {}",
                expected[m]
            );
        }
    }
}
