//! Exact t-SNE (van der Maaten & Hinton, 2008) for up to a few thousand points, with progress and
//! cancel. Hand-written: no maintained Rust crate streams intermediate layouts and takes a cancel
//! flag. Cost is O(n²) per iteration, so callers subsample large sets.

use rayon::prelude::*;

/// t-SNE settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TsneConfig {
    /// Effective number of neighbours (5–50).
    pub perplexity: f32,
    /// Gradient steps.
    pub iterations: usize,
    /// Step size.
    pub learning_rate: f32,
    /// Seed of the initial layout.
    pub seed: u64,
}

impl Default for TsneConfig {
    fn default() -> Self {
        Self {
            perplexity: 30.0,
            iterations: 500,
            learning_rate: 200.0,
            seed: 1,
        }
    }
}

impl TsneConfig {
    /// Check the settings against `n` points.
    pub fn validate(&self, n: usize) -> Result<(), String> {
        if n < 5 {
            return Err(format!("t-SNE needs at least 5 points, got {n}"));
        }
        if !(self.perplexity.is_finite() && self.perplexity >= 2.0) {
            return Err(format!("perplexity {} must be at least 2", self.perplexity));
        }
        if self.perplexity * 3.0 >= n as f32 {
            return Err(format!(
                "perplexity {} is too large for {n} points (keep it below {:.0})",
                self.perplexity,
                n as f32 / 3.0
            ));
        }
        if self.iterations == 0 || self.iterations > 10_000 {
            return Err(format!("iterations {} must be 1–10000", self.iterations));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(format!("learning rate {} must be > 0", self.learning_rate));
        }
        Ok(())
    }
}

/// Called every few iterations with `(iteration, layout, kl)`; returns `false` to cancel.
pub type StepFn<'a> = dyn FnMut(usize, &[[f32; 2]], f32) -> bool + 'a;

const EXAGGERATION: f32 = 12.0;
const EXAGGERATION_ITERS: usize = 100;

/// Run t-SNE on `rows`. `step(iteration, layout, kl)` is called every few iterations (with the
/// KL divergence of the un-exaggerated objective); return `false` from it to cancel, which makes
/// this return `Ok(None)`.
pub fn tsne(
    rows: &[&[f32]],
    cfg: &TsneConfig,
    step: &mut StepFn<'_>,
) -> Result<Option<Vec<[f32; 2]>>, String> {
    let n = rows.len();
    cfg.validate(n)?;
    let p = joint_probabilities(rows, cfg.perplexity);
    let mut y: Vec<[f32; 2]> = initial_layout(n, cfg.seed);
    let mut velocity = vec![[0f32; 2]; n];
    let mut gains = vec![[1f32; 2]; n];
    for iter in 0..cfg.iterations {
        let exaggeration = if iter < EXAGGERATION_ITERS {
            EXAGGERATION
        } else {
            1.0
        };
        let momentum = if iter < EXAGGERATION_ITERS { 0.5 } else { 0.8 };
        let (grad, kl) = gradient(
            &p,
            &y,
            exaggeration,
            iter % 25 == 24 || iter + 1 == cfg.iterations,
        );
        for i in 0..n {
            for d in 0..2 {
                let g = grad[i][d];
                gains[i][d] = if (g > 0.0) == (velocity[i][d] > 0.0) {
                    (gains[i][d] * 0.8).max(0.01)
                } else {
                    gains[i][d] + 0.2
                };
                velocity[i][d] = momentum * velocity[i][d] - cfg.learning_rate * gains[i][d] * g;
                y[i][d] += velocity[i][d];
            }
        }
        // Keep the layout centred.
        let mean = y.iter().fold([0f32; 2], |a, v| [a[0] + v[0], a[1] + v[1]]);
        let mean = mean.map(|m| m / n as f32);
        y.iter_mut().for_each(|v| {
            v[0] -= mean[0];
            v[1] -= mean[1];
        });
        if y.iter().any(|v| !v[0].is_finite() || !v[1].is_finite()) {
            return Err(format!(
                "t-SNE diverged at iteration {}; lower the learning rate (now {})",
                iter + 1,
                cfg.learning_rate
            ));
        }
        if let Some(kl) = kl
            && !step(iter + 1, &y, kl)
        {
            return Ok(None);
        }
    }
    Ok(Some(y))
}

/// Small deterministic start (σ = 1e-4), from a SplitMix64 stream.
fn initial_layout(n: usize, seed: u64) -> Vec<[f32; 2]> {
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f32 / (1u64 << 53) as f32 - 0.5
    };
    (0..n).map(|_| [next() * 1e-3, next() * 1e-3]).collect()
}

/// Symmetric joint probabilities P (row-major n × n) with each row's Gaussian bandwidth found by
/// bisection so that its entropy matches the perplexity.
fn joint_probabilities(rows: &[&[f32]], perplexity: f32) -> Vec<f32> {
    let n = rows.len();
    let target = perplexity.ln();
    let conditional: Vec<Vec<f32>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let d2: Vec<f32> = (0..n)
                .map(|j| {
                    rows[i]
                        .iter()
                        .zip(rows[j])
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum()
                })
                .collect();
            let (mut lo, mut hi, mut beta) = (0f32, f32::INFINITY, 1f32);
            let mut row = vec![0f32; n];
            for _ in 0..64 {
                let min = (0..n)
                    .filter(|&j| j != i)
                    .map(|j| d2[j])
                    .fold(f32::INFINITY, f32::min);
                let mut sum = 0f32;
                for j in 0..n {
                    row[j] = if j == i {
                        0.0
                    } else {
                        (-(d2[j] - min) * beta).exp()
                    };
                    sum += row[j];
                }
                let sum = sum.max(1e-12);
                let entropy =
                    (0..n).map(|j| (d2[j] - min) * row[j]).sum::<f32>() * beta / sum + sum.ln();
                row.iter_mut().for_each(|v| *v /= sum);
                let diff = entropy - target;
                if diff.abs() < 1e-4 {
                    break;
                }
                if diff > 0.0 {
                    lo = beta;
                    beta = if hi.is_finite() {
                        (beta + hi) / 2.0
                    } else {
                        beta * 2.0
                    };
                } else {
                    hi = beta;
                    beta = (beta + lo) / 2.0;
                }
            }
            row
        })
        .collect();
    let mut p = vec![0f32; n * n];
    let norm = 2.0 * n as f32;
    for i in 0..n {
        for j in 0..n {
            p[i * n + j] = ((conditional[i][j] + conditional[j][i]) / norm).max(1e-12);
        }
    }
    p
}

/// Gradient of KL(P‖Q) (with P scaled by `exaggeration`), and the KL itself when asked.
fn gradient(
    p: &[f32],
    y: &[[f32; 2]],
    exaggeration: f32,
    want_kl: bool,
) -> (Vec<[f32; 2]>, Option<f32>) {
    let n = y.len();
    // Student-t kernel numerators and their sum Z.
    let num: Vec<f32> = (0..n * n)
        .into_par_iter()
        .map(|k| {
            let (i, j) = (k / n, k % n);
            if i == j {
                0.0
            } else {
                let dx = y[i][0] - y[j][0];
                let dy = y[i][1] - y[j][1];
                1.0 / (1.0 + dx * dx + dy * dy)
            }
        })
        .collect();
    let z: f64 = num.par_iter().map(|&v| f64::from(v)).sum();
    let z = (z as f32).max(1e-12);
    let grad = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut g = [0f32; 2];
            for j in 0..n {
                let w = num[i * n + j];
                let f = (exaggeration * p[i * n + j] - w / z) * w;
                g[0] += 4.0 * f * (y[i][0] - y[j][0]);
                g[1] += 4.0 * f * (y[i][1] - y[j][1]);
            }
            g
        })
        .collect();
    let kl = want_kl.then(|| {
        (0..n * n)
            .into_par_iter()
            .filter(|k| k / n != k % n)
            .map(|k| {
                let q = (num[k] / z).max(1e-12);
                p[k] * (p[k] / q).ln()
            })
            .sum()
    });
    (grad, kl)
}
