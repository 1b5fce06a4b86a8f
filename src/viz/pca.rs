//! Principal component analysis to two dimensions, plus the variance spectrum of the leading
//! components. Hand-written: the covariance is accumulated in parallel (f32 products over small
//! row blocks, f64 sums), and its leading eigenvectors come from subspace iteration on the d × d
//! matrix, which is cheap next to the pass over the data; no linear-algebra crate is needed.
//! Results are deterministic: the row chunks and the order they are summed in depend only on
//! the data's shape, not on the number of threads.

use rayon::prelude::*;

/// A fitted 2-D PCA: project any new vector with [`Pca::project`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pca {
    /// Mean of the data.
    pub mean: Vec<f32>,
    /// The two leading principal directions (unit length; the second is all zeros for 1-D
    /// data). Each is signed so that its largest entry is positive.
    pub components: [Vec<f32>; 2],
    /// Fraction of the total variance each component explains (`spectrum[..2]`).
    pub explained: [f32; 2],
    /// Fraction of the total variance explained by each of the first `min(d, 10)` components,
    /// largest first (a scree chart); sums to at most 1.
    pub spectrum: Vec<f32>,
}

/// Components in [`Pca::spectrum`].
pub const SPECTRUM_LEN: usize = 10;

impl Pca {
    /// Fit on rows of equal length. Returns `None` for fewer than two rows, ragged or empty rows,
    /// or NaN / infinite values.
    pub fn fit(rows: &[&[f32]]) -> Option<Self> {
        let d = rows.first()?.len();
        if rows.len() < 2
            || d == 0
            || rows.iter().any(|r| r.len() != d)
            || rows.par_iter().any(|r| r.iter().any(|v| !v.is_finite()))
        {
            return None;
        }
        let mean = mean(rows, d);
        let cov = covariance(rows, &mean, d);
        let trace: f64 = (0..d).map(|i| cov[i * d + i]).sum();
        let k = d.min(SPECTRUM_LEN);
        let (values, vectors) = top_eigen(&cov, d, k);
        let spectrum: Vec<f32> = values
            .iter()
            .map(|&v| {
                if trace > 0.0 {
                    (v.max(0.0) / trace) as f32
                } else {
                    0.0
                }
            })
            .collect();
        let component = |i: usize| -> Vec<f32> {
            vectors
                .get(i)
                .map_or_else(|| vec![0.0; d], |v| v.iter().map(|&x| x as f32).collect())
        };
        Some(Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            components: [component(0), component(1)],
            explained: [
                spectrum.first().copied().unwrap_or(0.0),
                spectrum.get(1).copied().unwrap_or(0.0),
            ],
            spectrum,
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

/// Rows per block whose products are summed in f32 before joining the f64 total.
const BLOCK: usize = 64;

/// Row chunks for the parallel passes: a fixed function of the shape (so sums are deterministic),
/// at least 8 blocks each, and few enough that the per-chunk d × d f64 totals stay under 64 MiB.
fn chunk_rows(n: usize, d: usize) -> usize {
    let max_chunks = ((64usize << 20) / (d * d * 8).max(1)).clamp(1, 32);
    n.div_ceil(max_chunks).max(8 * BLOCK)
}

fn mean(rows: &[&[f32]], d: usize) -> Vec<f64> {
    let n = rows.len() as f64;
    let partial: Vec<Vec<f64>> = rows
        .par_chunks(chunk_rows(rows.len(), d))
        .map(|chunk| {
            let mut sum = vec![0f64; d];
            for r in chunk {
                for (s, &v) in sum.iter_mut().zip(*r) {
                    *s += f64::from(v);
                }
            }
            sum
        })
        .collect();
    let mut mean = vec![0f64; d];
    for p in partial {
        for (m, s) in mean.iter_mut().zip(p) {
            *m += s;
        }
    }
    for m in &mut mean {
        *m /= n;
    }
    mean
}

/// Sample covariance (d × d, row-major, divided by n − 1).
fn covariance(rows: &[&[f32]], mean: &[f64], d: usize) -> Vec<f64> {
    let mean32: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
    // Width padded to whole tiles; the padding stays zero.
    let dp = d.div_ceil(TILE_J) * TILE_J;
    let partial: Vec<Vec<f64>> = rows
        .par_chunks(chunk_rows(rows.len(), d))
        .map(|chunk| {
            let mut sum = vec![0f64; dp * dp];
            // The block's centred values, row-major with stride `dp`.
            let mut centred = vec![0f32; BLOCK * dp];
            for block in chunk.chunks(BLOCK) {
                centred.fill(0.0);
                for (out, row) in centred.chunks_exact_mut(dp).zip(block) {
                    for ((o, &v), &m) in out.iter_mut().zip(*row).zip(&mean32) {
                        *o = v - m;
                    }
                }
                // Upper-triangle tiles (whole tiles that touch it).
                for i0 in (0..dp).step_by(TILE_I) {
                    for j0 in ((i0 / TILE_J) * TILE_J..dp).step_by(TILE_J) {
                        let tile = gram_tile(&centred, dp, i0, j0);
                        for (a, row) in tile.iter().enumerate() {
                            let at = (i0 + a) * dp + j0;
                            for (s, &v) in sum[at..at + TILE_J].iter_mut().zip(row) {
                                *s += f64::from(v);
                            }
                        }
                    }
                }
            }
            sum
        })
        .collect();
    let mut total = vec![0f64; dp * dp];
    for p in partial {
        for (c, s) in total.iter_mut().zip(p) {
            *c += s;
        }
    }
    let scale = 1.0 / (rows.len() as f64 - 1.0);
    let mut cov = vec![0f64; d * d];
    for i in 0..d {
        for j in i..d {
            let v = total[i * dp + j] * scale;
            cov[i * d + j] = v;
            cov[j * d + i] = v;
        }
    }
    cov
}

/// Rows of a Gram tile.
const TILE_I: usize = 4;
/// Columns of a Gram tile (two SSE registers).
const TILE_J: usize = 8;

/// `Σ_r x[r][i0 + a] · x[r][j0 + b]` over the rows of a centred block (row stride `dp`), in
/// registers; the `TILE_J` columns vectorise.
#[inline]
fn gram_tile(centred: &[f32], dp: usize, i0: usize, j0: usize) -> [[f32; TILE_J]; TILE_I] {
    let mut acc = [[0f32; TILE_J]; TILE_I];
    for row in centred.chunks_exact(dp) {
        let (Some(a), Some(b)) = (row.get(i0..i0 + TILE_I), row.get(j0..j0 + TILE_J)) else {
            continue;
        };
        for (acc, &x) in acc.iter_mut().zip(a) {
            for (s, &y) in acc.iter_mut().zip(b) {
                *s += x * y;
            }
        }
    }
    acc
}

/// The `k` largest eigenvalues (descending) and their unit eigenvectors of the symmetric d × d
/// matrix `m`, by subspace iteration on a few more vectors than asked for, with a Rayleigh–Ritz
/// step (Jacobi on the small projected matrix) each round. Deterministic start; each vector is
/// signed so that its largest entry is positive.
fn top_eigen(m: &[f64], d: usize, k: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let q = d.min(k + 8);
    // Deterministic pseudo-random start (SplitMix64).
    let mut state = 0x5EED_u64;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut basis: Vec<Vec<f64>> = (0..q).map(|_| (0..d).map(|_| next()).collect()).collect();
    orthonormalise(&mut basis, &mut next);
    let scale = (0..d).map(|i| m[i * d + i].abs()).fold(0.0, f64::max);
    if scale == 0.0 {
        // Zero matrix: any orthonormal vectors; take the axes.
        let axes = (0..k)
            .map(|i| (0..d).map(|j| f64::from(u8::from(i == j))).collect())
            .collect();
        return (vec![0.0; k], axes);
    }
    let mut values = vec![0f64; q];
    let mut product = multiply(m, d, &basis);
    // Rounds: until the Ritz values settle, within a budget of about 3·10⁹ multiply-adds (wide
    // matrices with a flat spectrum converge slowly, and then the values barely matter).
    let rounds = (3e9 / (d * d * q) as f64).clamp(30.0, 500.0) as usize;
    for round in 0..rounds {
        // basis ← orth(M · basis); then Rayleigh–Ritz in that span.
        basis = product;
        orthonormalise(&mut basis, &mut next);
        let image = multiply(m, d, &basis);
        let mut small = vec![0f64; q * q];
        for a in 0..q {
            for b in a..q {
                let v: f64 = basis[a].iter().zip(&image[b]).map(|(x, y)| x * y).sum();
                small[a * q + b] = v;
                small[b * q + a] = v;
            }
        }
        let (ritz, rotation) = jacobi(&mut small, q);
        let rotate = |vs: &[Vec<f64>]| -> Vec<Vec<f64>> {
            (0..q)
                .map(|c| {
                    let mut out = vec![0f64; d];
                    for (r, v) in vs.iter().enumerate() {
                        let w = rotation[r * q + c];
                        out.iter_mut().zip(v).for_each(|(o, x)| *o += w * x);
                    }
                    out
                })
                .collect()
        };
        basis = rotate(&basis);
        product = rotate(&image);
        let change = ritz[..k]
            .iter()
            .zip(&values)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        values = ritz;
        if q == d || (round > 0 && change <= 1e-11 * scale) {
            break;
        }
    }
    basis.truncate(k);
    values.truncate(k);
    for v in &mut basis {
        let biggest = v
            .iter()
            .copied()
            .max_by(|a, b| a.abs().total_cmp(&b.abs()))
            .unwrap_or(1.0);
        if biggest < 0.0 {
            for x in v.iter_mut() {
                *x = -*x;
            }
        }
    }
    (values, basis)
}

/// `M · v` for each vector (in parallel when that is worth it).
fn multiply(m: &[f64], d: usize, vs: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let one = |v: &Vec<f64>| -> Vec<f64> {
        m.chunks_exact(d)
            .map(|row| row.iter().zip(v).map(|(a, b)| a * b).sum())
            .collect()
    };
    if d * d * vs.len() > 1 << 20 {
        vs.par_iter().map(one).collect()
    } else {
        vs.iter().map(one).collect()
    }
}

/// Modified Gram–Schmidt, twice for accuracy; a vector that vanishes (rank-deficient input) is
/// replaced by a fresh pseudo-random one.
fn orthonormalise(vs: &mut [Vec<f64>], next: &mut impl FnMut() -> f64) {
    for i in 0..vs.len() {
        for _ in 0..4 {
            let norm_before = vs[i].iter().map(|x| x * x).sum::<f64>().sqrt();
            for _ in 0..2 {
                for j in 0..i {
                    let (done, rest) = vs.split_at_mut(i);
                    let p: f64 = rest[0].iter().zip(&done[j]).map(|(a, b)| a * b).sum();
                    rest[0]
                        .iter_mut()
                        .zip(&done[j])
                        .for_each(|(a, b)| *a -= p * b);
                }
            }
            let norm = vs[i].iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm > 1e-10 * norm_before && norm > 0.0 {
                vs[i].iter_mut().for_each(|x| *x /= norm);
                break;
            }
            vs[i].iter_mut().for_each(|x| *x = next());
        }
    }
}

/// Eigen-decomposition of a small symmetric matrix (cyclic Jacobi; `a` is destroyed): eigenvalues
/// descending, and the eigenvectors as the columns of the returned row-major matrix.
fn jacobi(a: &mut [f64], q: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0f64; q * q];
    for i in 0..q {
        v[i * q + i] = 1.0;
    }
    let norm: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    for _ in 0..100 {
        let off: f64 = (0..q)
            .flat_map(|i| (0..q).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * q + j] * a[i * q + j])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-15 * norm {
            break;
        }
        for p in 0..q {
            for r in p + 1..q {
                let apr = a[p * q + r];
                if apr == 0.0 {
                    continue;
                }
                let (app, arr) = (a[p * q + p], a[r * q + r]);
                let theta = (arr - app) / (2.0 * apr);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..q {
                    let (akp, akr) = (a[k * q + p], a[k * q + r]);
                    a[k * q + p] = c * akp - s * akr;
                    a[k * q + r] = s * akp + c * akr;
                }
                for k in 0..q {
                    let (apk, ark) = (a[p * q + k], a[r * q + k]);
                    a[p * q + k] = c * apk - s * ark;
                    a[r * q + k] = s * apk + c * ark;
                }
                for k in 0..q {
                    let (vkp, vkr) = (v[k * q + p], v[k * q + r]);
                    v[k * q + p] = c * vkp - s * vkr;
                    v[k * q + r] = s * vkp + c * vkr;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..q).collect();
    order.sort_by(|&x, &y| a[y * q + y].total_cmp(&a[x * q + x]));
    let values = order.iter().map(|&i| a[i * q + i]).collect();
    let mut vectors = vec![0f64; q * q];
    for (c, &i) in order.iter().enumerate() {
        for r in 0..q {
            vectors[r * q + c] = v[r * q + i];
        }
    }
    (values, vectors)
}
