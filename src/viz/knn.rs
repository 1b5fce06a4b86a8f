//! Nearest neighbours by brute force: one query against a set ([`nearest`], Euclidean or cosine)
//! and every point against every other ([`knn_all`], squared Euclidean, for t-SNE). Exact, not
//! approximate: the all-points search is a cache-blocked dot-product kernel (distances from
//! precomputed norms) with a running threshold per query, so 10 000 × 64 takes well under a second.

use rayon::prelude::*;

/// How [`nearest`] measures distance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Straight-line distance, `‖a − b‖`.
    #[default]
    Euclidean,
    /// `1 − cos(a, b)`, in 0..2; a zero vector is at distance 1 from everything.
    Cosine,
}

impl Metric {
    /// Both metrics, for pickers.
    pub const ALL: [Self; 2] = [Self::Euclidean, Self::Cosine];

    /// Lower-case name, as in settings files: `"euclidean"` or `"cosine"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Euclidean => "euclidean",
            Self::Cosine => "cosine",
        }
    }

    /// Distance between two vectors of equal length (extra entries of the longer are ignored).
    pub fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Self::Euclidean => squared_distance(a, b).sqrt(),
            Self::Cosine => cosine_distance(a, b, norm(a)),
        }
    }
}

/// The `k` rows nearest to `query` under `metric`, as `(row index, distance)` sorted by distance
/// (ties by index). Row `exclude` (the query's own row, typically) and rows whose length differs
/// from the query's are skipped; fewer than `k` come back when fewer remain. Brute force, O(n·d).
pub fn nearest(
    rows: &[&[f32]],
    query: &[f32],
    k: usize,
    metric: Metric,
    exclude: Option<usize>,
) -> Vec<(usize, f32)> {
    let query_norm = norm(query);
    let mut found: Vec<(usize, f32)> = rows
        .iter()
        .enumerate()
        .filter(|&(i, r)| Some(i) != exclude && r.len() == query.len())
        .map(|(i, r)| {
            let d = match metric {
                Metric::Euclidean => squared_distance(query, r).sqrt(),
                Metric::Cosine => cosine_distance(query, r, query_norm),
            };
            (i, d)
        })
        .collect();
    let k = k.min(found.len());
    if k == 0 {
        return Vec::new();
    }
    let order = |a: &(usize, f32), b: &(usize, f32)| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0));
    if k < found.len() {
        found.select_nth_unstable_by(k - 1, order);
        found.truncate(k);
    }
    found.sort_unstable_by(order);
    found
}

/// For every row, its `k` nearest other rows as `(row index, squared Euclidean distance)`, sorted
/// by distance (ties by index); `k` is capped at `rows.len() − 1`. Rows should have equal length
/// (a shorter row's missing values count as the column mean); rows with NaN or infinite values
/// get no neighbours and are nobody's neighbour. Exact; parallel over blocks of query rows.
pub fn knn_all(rows: &[&[f32]], k: usize) -> Vec<Vec<(usize, f32)>> {
    let n = rows.len();
    let k = k.min(n.saturating_sub(1));
    if k == 0 {
        return vec![Vec::new(); n];
    }
    let d = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let data = Packed::new(rows, d);
    let order = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    let blocks: Vec<Vec<Vec<(usize, f32)>>> = (0..n.div_ceil(QUERY_BLOCK))
        .into_par_iter()
        .map(|b| {
            let q0 = b * QUERY_BLOCK;
            let q1 = (q0 + QUERY_BLOCK).min(n);
            let mut picks: Vec<Selector> = (q0..q1).map(|_| Selector::new(k)).collect();
            data.scan(q0, q1, &mut picks);
            picks
                .into_iter()
                .zip(q0..q1)
                .map(|(pick, i)| {
                    // Exact distances for the few that made it (the kernel's norm expansion loses
                    // a few digits), then the final order.
                    let mut best: Vec<(f32, u32)> = pick
                        .finish()
                        .into_iter()
                        .map(|(_, j)| (data.exact(i, j as usize), j))
                        .collect();
                    best.sort_unstable_by(order);
                    best.into_iter().map(|(d, j)| (j as usize, d)).collect()
                })
                .collect()
        })
        .collect();
    blocks.into_iter().flatten().collect()
}

/// Query rows per parallel task (a multiple of `MR`).
const QUERY_BLOCK: usize = 48;
/// Candidate rows per cache block (a multiple of `NR`): `CAND_BLOCK · d` floats stay in L2.
const CAND_BLOCK: usize = 256;
/// Queries per micro-kernel call.
const MR: usize = 6;
/// Candidates per micro-kernel call (one panel).
const NR: usize = 8;
/// SIMD lanes the kernel is written for (SSE: 4 × f32).
const LANES: usize = 4;

/// One query value splatted to a SIMD vector; aligned so that the kernel can use it as a memory
/// operand.
#[derive(Clone, Copy, Default)]
#[repr(C, align(16))]
struct Splat([f32; LANES]);

/// Centred rows, with candidates packed for the micro-kernel in panels of `NR` rows
/// (dimension-major), plus squared norms (infinite for padding and non-finite rows).
struct Packed {
    n: usize,
    d: usize,
    /// `n` rows of `d` centred values, row-major.
    centred: Vec<f32>,
    /// Panel `p`: `d` chunks of `NR` values (rows `p·NR ..`).
    panels: Vec<f32>,
    norms: Vec<f32>,
}

impl Packed {
    fn new(rows: &[&[f32]], d: usize) -> Self {
        let n = rows.len();
        // Centring keeps the norm expansion ‖a‖² + ‖b‖² − 2a·b accurate for data far from 0.
        let mut mean = vec![0f64; d];
        for r in rows {
            for (m, &v) in mean.iter_mut().zip(*r) {
                if v.is_finite() {
                    *m += f64::from(v);
                }
            }
        }
        let mean: Vec<f32> = mean.iter().map(|m| (m / n as f64) as f32).collect();
        let padded = n.div_ceil(NR) * NR;
        let mut centred = vec![0f32; n * d];
        let mut norms = vec![f32::INFINITY; padded];
        for (i, r) in rows.iter().enumerate() {
            let out = &mut centred[i * d..(i + 1) * d];
            for ((o, &v), m) in out.iter_mut().zip(*r).zip(&mean) {
                *o = v - m;
            }
            let sq = dot(out, out);
            if sq.is_finite() {
                norms[i] = sq;
            }
        }
        let mut panels = vec![0f32; padded * d];
        for (i, row) in centred.chunks_exact(d.max(1)).enumerate() {
            let (p, l) = (i / NR, i % NR);
            for (c, &v) in row.iter().enumerate() {
                panels[(p * d + c) * NR + l] = v;
            }
        }
        Self {
            n,
            d,
            centred,
            panels,
            norms,
        }
    }

    /// Offer every candidate to the selectors of queries `q0..q1`.
    fn scan(&self, q0: usize, q1: usize, picks: &mut [Selector]) {
        let (n, d) = (self.n, self.d);
        let padded = self.norms.len();
        // The block's queries, each value splatted to a SIMD vector, in groups of `MR` rows
        // (dimension-major within a group); rows past `q1` stay zero.
        let groups = (q1 - q0).div_ceil(MR);
        let mut splat = vec![Splat::default(); groups * d * MR];
        for i in q0..q1 {
            let (g, r) = ((i - q0) / MR, (i - q0) % MR);
            for (c, &v) in self.centred[i * d..(i + 1) * d].iter().enumerate() {
                splat[(g * d + c) * MR + r] = Splat([v; LANES]);
            }
        }
        // Start with the candidates around the queries themselves: in data stored in some
        // order (by class, by time) they are likely neighbours, which sets a tight bar early.
        let blocks = padded.div_ceil(CAND_BLOCK);
        let first = q0 / CAND_BLOCK;
        for t in 0..blocks {
            let c0 = ((first + t) % blocks) * CAND_BLOCK;
            let c1 = (c0 + CAND_BLOCK).min(padded);
            for g in 0..groups {
                let queries = &splat[g * d * MR..(g + 1) * d * MR];
                for p in (c0 / NR)..(c1 / NR) {
                    let panel = &self.panels[p * d * NR..(p + 1) * d * NR];
                    let dots = micro_kernel(queries, panel);
                    let cand: &[f32; NR] = self.norms[p * NR..(p + 1) * NR]
                        .try_into()
                        .unwrap_or(&[f32::INFINITY; NR]);
                    for (r, dots) in dots.iter().enumerate() {
                        let i = q0 + g * MR + r;
                        if i >= q1 {
                            break;
                        }
                        let pick = &mut picks[i - q0];
                        let (qn, bar) = (self.norms[i], pick.threshold);
                        let dist: [f32; NR] = std::array::from_fn(|l| qn + cand[l] - 2.0 * dots[l]);
                        // Most panels hold nobody closer than the bar: one vector compare.
                        let mut below = dist
                            .iter()
                            .enumerate()
                            .fold(0u32, |m, (l, &x)| m | (u32::from(x < bar) << l));
                        while below != 0 {
                            let l = below.trailing_zeros() as usize;
                            below &= below - 1;
                            let j = p * NR + l;
                            if dist[l] < pick.threshold && j != i && j < n {
                                pick.push(dist[l], j as u32);
                            }
                        }
                    }
                }
            }
        }
    }

    fn exact(&self, i: usize, j: usize) -> f32 {
        let d = self.d;
        squared_distance(
            &self.centred[i * d..(i + 1) * d],
            &self.centred[j * d..(j + 1) * d],
        )
    }
}

/// `MR × NR` dot products of a group of splatted queries with a candidate panel (both
/// dimension-major), in registers; written lane by lane so that it compiles to packed SIMD.
#[inline(always)]
fn micro_kernel(queries: &[Splat], panel: &[f32]) -> [[f32; NR]; MR] {
    let mut acc = [[[0f32; LANES]; NR / LANES]; MR];
    let (qs, _) = queries.as_chunks::<MR>();
    let (ps, _) = panel.as_chunks::<NR>();
    for (q, p) in qs.iter().zip(ps) {
        for r in 0..MR {
            for h in 0..NR / LANES {
                for x in 0..LANES {
                    acc[r][h][x] += q[r].0[x] * p[h * LANES + x];
                }
            }
        }
    }
    acc.map(|row| std::array::from_fn(|l| row[l / LANES][l % LANES]))
}

/// The `k` smallest offers so far: a buffer that is cut back to `k` (by selection) whenever it
/// fills, with the k-th smallest as the bar later offers must beat.
struct Selector {
    k: usize,
    buf: Vec<(f32, u32)>,
    threshold: f32,
}

impl Selector {
    fn new(k: usize) -> Self {
        Self {
            k,
            buf: Vec::with_capacity(Self::capacity(k)),
            threshold: f32::INFINITY,
        }
    }

    fn capacity(k: usize) -> usize {
        (2 * k).max(k + 32)
    }

    #[inline]
    fn push(&mut self, dist: f32, j: u32) {
        self.buf.push((dist, j));
        if self.buf.len() >= Self::capacity(self.k) {
            self.shrink();
        }
    }

    fn shrink(&mut self) {
        if self.buf.len() > self.k {
            self.buf
                .select_nth_unstable_by(self.k - 1, |a, b| a.0.total_cmp(&b.0));
            self.buf.truncate(self.k);
            self.threshold = self.buf[self.k - 1].0;
        }
    }

    fn finish(mut self) -> Vec<(f32, u32)> {
        self.shrink();
        self.buf
    }
}

/// Σ f(aᵢ, bᵢ) over the common length, in 8 independent lanes so that it vectorises.
#[inline]
fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    let (ac, ar) = a.as_chunks::<8>();
    let (bc, br) = b.as_chunks::<8>();
    let mut acc = [0f32; 8];
    for (x, y) in ac.iter().zip(bc) {
        for l in 0..8 {
            acc[l] += f(x[l], y[l]);
        }
    }
    let tail: f32 = ar.iter().zip(br).map(|(&x, &y)| f(x, y)).sum();
    acc.iter().sum::<f32>() + tail
}

fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    lane_sum(a, b, |x, y| (x - y) * (x - y))
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    lane_sum(a, b, |x, y| x * y)
}

fn norm(a: &[f32]) -> f32 {
    dot(a, a).sqrt()
}

/// `1 − cos`, with `a_norm = ‖a‖` given; 1 when either vector is zero, clamped to 0..2.
fn cosine_distance(a: &[f32], b: &[f32], a_norm: f32) -> f32 {
    let b_norm = norm(b);
    if a_norm == 0.0 || b_norm == 0.0 {
        return 1.0;
    }
    (1.0 - dot(a, b) / (a_norm * b_norm)).clamp(0.0, 2.0)
}
