//! t-SNE's input similarities: per-point Gaussian bandwidths found by bisection to a target
//! perplexity, symmetrised into the joint probabilities P (dense for the exact path, sparse over
//! nearest neighbours for Barnes–Hut).

use rayon::prelude::*;

use super::knn::knn_all;
use super::quadtree::LANES;

/// Gaussian conditional probabilities of one point's neighbours from their squared distances,
/// the bandwidth found by bisection so that the entropy is `ln(perplexity)` (within 1e-5 nats).
/// Writes them (summing to 1) into `out`.
fn conditional_row(d2: &[f32], target: f32, out: &mut [f32]) {
    if d2.is_empty() {
        return;
    }
    let min = d2.iter().copied().fold(f32::INFINITY, f32::min);
    // Start from the scale of the distances, so that bisection needs few steps.
    let spread = d2.iter().map(|&d| d - min).sum::<f32>() / d2.len() as f32;
    let (mut lo, mut hi) = (0f32, f32::INFINITY);
    let mut beta = if spread > 0.0 { 1.0 / spread } else { 1.0 };
    let mut sum = 1f32;
    for _ in 0..100 {
        sum = 0.0;
        let mut weighted = 0f32;
        for (o, &d) in out.iter_mut().zip(d2) {
            let e = (-(d - min) * beta).exp();
            *o = e;
            sum += e;
            weighted += (d - min) * e;
        }
        let sum_safe = sum.max(1e-12);
        let entropy = sum_safe.ln() + beta * weighted / sum_safe;
        let diff = entropy - target;
        if diff.abs() < 1e-5 {
            break;
        }
        if diff > 0.0 {
            lo = beta;
            beta = if hi.is_finite() {
                beta.midpoint(hi)
            } else {
                beta * 2.0
            };
        } else {
            hi = beta;
            beta = beta.midpoint(lo);
        }
    }
    let sum = sum.max(1e-12);
    for v in out.iter_mut() {
        *v /= sum;
    }
}

/// Symmetric joint probabilities P (row-major n × n, floored at 1e-12) from all pairs.
pub(super) fn joint_probabilities(rows: &[&[f32]], perplexity: f32) -> Vec<f32> {
    let n = rows.len();
    let target = perplexity.ln();
    let conditional: Vec<Vec<f32>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let others: Vec<f32> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    rows[i]
                        .iter()
                        .zip(rows[j])
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum()
                })
                .collect();
            let mut p = vec![0f32; n - 1];
            conditional_row(&others, target, &mut p);
            // Back to full width, 0 for the point itself.
            p.insert(i, 0.0);
            p
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

/// The symmetrised joint probabilities over k-nearest-neighbour pairs, in compressed rows.
pub(super) struct SparseP {
    /// Row `i` is `starts[i]..starts[i + 1]` of `cols` and `vals`.
    pub(super) starts: Vec<usize>,
    pub(super) cols: Vec<u32>,
    pub(super) vals: Vec<f32>,
    /// Σ p·ln p and Σ p, for the KL.
    pub(super) p_log_p: f64,
    pub(super) total: f64,
}

impl SparseP {
    /// From the `⌊3·perplexity⌋` nearest neighbours of every row, each row's bandwidth set by
    /// bisection to `perplexity`; rows padded to whole SIMD chunks.
    pub(super) fn new(rows: &[&[f32]], perplexity: f32) -> Self {
        let n = rows.len();
        let k = ((3.0 * perplexity) as usize).clamp(1, n - 1);
        let neighbours = knn_all(rows, k);
        let target = perplexity.ln();
        let conditional: Vec<Vec<f32>> = neighbours
            .par_iter()
            .map(|nb| {
                let d2: Vec<f32> = nb.iter().map(|&(_, d)| d).collect();
                let mut out = vec![0f32; d2.len()];
                conditional_row(&d2, target, &mut out);
                out
            })
            .collect();
        // P = (P_cond + P_condᵀ) / 2n: each row gets its own neighbours plus the points that
        // have it as a neighbour; duplicates merged.
        let mut degree = vec![0usize; n];
        for (i, nb) in neighbours.iter().enumerate() {
            degree[i] += nb.len();
            for &(j, _) in nb {
                degree[j] += 1;
            }
        }
        let mut starts = Vec::with_capacity(n + 1);
        starts.push(0);
        for d in &degree {
            starts.push(starts.last().copied().unwrap_or(0) + d);
        }
        let nnz = starts[n];
        let mut entries = vec![(0u32, 0f32); nnz];
        let mut fill: Vec<usize> = starts[..n].to_vec();
        let norm = 1.0 / (2.0 * n as f32);
        for (i, (nb, pc)) in neighbours.iter().zip(&conditional).enumerate() {
            for (&(j, _), &v) in nb.iter().zip(pc) {
                entries[fill[i]] = (j as u32, v * norm);
                fill[i] += 1;
                entries[fill[j]] = (i as u32, v * norm);
                fill[j] += 1;
            }
        }
        let merged: Vec<Vec<(u32, f32)>> = starts
            .par_windows(2)
            .map(|w| {
                let mut row = entries[w[0]..w[1]].to_vec();
                row.sort_unstable_by_key(|e| e.0);
                let mut out: Vec<(u32, f32)> = Vec::with_capacity(row.len());
                for (j, v) in row {
                    match out.last_mut() {
                        Some(last) if last.0 == j => last.1 += v,
                        _ => out.push((j, v)),
                    }
                }
                out
            })
            .collect();
        let mut starts = Vec::with_capacity(n + 1);
        starts.push(0);
        let mut cols = Vec::with_capacity(nnz);
        let mut vals = Vec::with_capacity(nnz);
        let (mut p_log_p, mut total) = (0f64, 0f64);
        for (i, row) in merged.into_iter().enumerate() {
            for (j, v) in row {
                cols.push(j);
                vals.push(v);
                let v = f64::from(v);
                total += v;
                if v > 0.0 {
                    p_log_p += v * v.ln();
                }
            }
            // Pad to whole SIMD chunks with zero entries (to the point itself).
            while (cols.len() - starts[i]) % LANES != 0 {
                cols.push(i as u32);
                vals.push(0.0);
            }
            starts.push(cols.len());
        }
        Self {
            starts,
            cols,
            vals,
            p_log_p,
            total,
        }
    }
}
