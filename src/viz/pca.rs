//! Principal component analysis to two dimensions. Hand-written: the covariance is at most a few
//! hundred wide, so power iteration on it is instant, and no linear-algebra crate is needed.

/// A fitted 2-D PCA: project any new vector with [`Pca::project`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pca {
    /// Mean of the data.
    pub mean: Vec<f32>,
    /// The two leading principal directions (unit length).
    pub components: [Vec<f32>; 2],
    /// Fraction of the total variance each component explains.
    pub explained: [f32; 2],
}

impl Pca {
    /// Fit on rows of equal length. Returns `None` for fewer than two rows or ragged rows.
    pub fn fit(rows: &[&[f32]]) -> Option<Self> {
        let d = rows.first()?.len();
        if rows.len() < 2 || d == 0 || rows.iter().any(|r| r.len() != d) {
            return None;
        }
        let n = rows.len() as f64;
        let mut mean = vec![0f64; d];
        for r in rows {
            for (m, &v) in mean.iter_mut().zip(*r) {
                *m += f64::from(v) / n;
            }
        }
        let mut cov = vec![0f64; d * d];
        let mut centred = vec![0f64; d];
        for r in rows {
            for ((c, &v), m) in centred.iter_mut().zip(*r).zip(&mean) {
                *c = f64::from(v) - m;
            }
            for i in 0..d {
                let ci = centred[i];
                for j in i..d {
                    cov[i * d + j] += ci * centred[j];
                }
            }
        }
        for i in 0..d {
            for j in i..d {
                let v = cov[i * d + j] / (n - 1.0);
                cov[i * d + j] = v;
                cov[j * d + i] = v;
            }
        }
        let trace: f64 = (0..d).map(|i| cov[i * d + i]).sum();
        let mut components: [Vec<f64>; 2] = [vec![0.0; d], vec![0.0; d]];
        let mut explained = [0f32; 2];
        for k in 0..2 {
            let (vector, value) = power_iteration(&cov, d, k);
            // Deflate so the next iteration finds the next direction.
            for i in 0..d {
                for j in 0..d {
                    cov[i * d + j] -= value * vector[i] * vector[j];
                }
            }
            explained[k] = if trace > 0.0 {
                (value / trace) as f32
            } else {
                0.0
            };
            components[k] = vector;
        }
        Some(Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            components: components.map(|c| c.iter().map(|&v| v as f32).collect()),
            explained,
        })
    }

    /// Coordinates of one vector (zeros when its length is wrong).
    pub fn project(&self, v: &[f32]) -> [f32; 2] {
        if v.len() != self.mean.len() {
            return [0.0; 2];
        }
        self.components.each_ref().map(|c| {
            v.iter()
                .zip(&self.mean)
                .zip(c)
                .map(|((x, m), w)| (x - m) * w)
                .sum()
        })
    }
}

/// Leading eigenvector and eigenvalue of a symmetric matrix; the start vector is fixed (and
/// differs per `k`), so results are deterministic. The sign is fixed: largest entry positive.
fn power_iteration(m: &[f64], d: usize, k: usize) -> (Vec<f64>, f64) {
    let mut v: Vec<f64> = (0..d)
        .map(|i| 1.0 + ((i * 7 + k * 13) % 11) as f64 / 11.0)
        .collect();
    let mut value = 0.0;
    for _ in 0..500 {
        let mut w = vec![0f64; d];
        for i in 0..d {
            w[i] = (0..d).map(|j| m[i * d + j] * v[j]).sum();
        }
        let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm < 1e-12 {
            return (v, 0.0);
        }
        w.iter_mut().for_each(|x| *x /= norm);
        let delta: f64 = w.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
        v = w;
        value = norm;
        if delta < 1e-10 {
            break;
        }
    }
    let biggest = v
        .iter()
        .copied()
        .max_by(|a, b| a.abs().total_cmp(&b.abs()))
        .unwrap_or(1.0);
    if biggest < 0.0 {
        v.iter_mut().for_each(|x| *x = -*x);
    }
    (v, value)
}
