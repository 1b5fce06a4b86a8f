//! The Barnes–Hut quadtree of [`super::tsne`]: built over the layout every iteration (Morton
//! order, arena nodes), it estimates the repulsive forces and the normalisation Z by grouping far
//! points, in parallel over target groups.

use rayon::prelude::*;

/// Target nodes with at most this many points are evaluated as one group.
const GROUP_SIZE: u32 = 32;
/// Points per leaf (more only at the depth limit, when points coincide).
const LEAF_SIZE: usize = 8;
/// Morton bits per axis, which is also the depth limit.
const MORTON_BITS: u32 = 16;

/// A quadtree over the layout, rebuilt every iteration into the same arena.
#[derive(Default)]
pub(super) struct QuadTree {
    /// Nodes, root first; children of a node are consecutive.
    nodes: Vec<Node>,
    /// Points in Morton order.
    xs: Vec<f32>,
    ys: Vec<f32>,
    /// `(Morton code << 32) | original index`, sorted (stably, by code): kept between
    /// iterations, so that points with equal codes keep their order.
    keys: Vec<u64>,
    /// Scratch for the radix sort.
    spare: Vec<u64>,
    /// Position of each original point in Morton order.
    pub(super) rank: Vec<u32>,
}

/// A node: centre of mass, point count, tight bounding box and its larger side, point range in
/// Morton order, and children (`child_count == 0` for a leaf).
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Node {
    cx: f32,
    cy: f32,
    mass: f32,
    size: f32,
    min: [f32; 2],
    max: [f32; 2],
    start: u32,
    end: u32,
    first_child: u32,
    child_count: u32,
}

impl QuadTree {
    pub(super) fn build(&mut self, y: &[[f32; 2]]) {
        let n = y.len();
        let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
        for p in y {
            for d in 0..2 {
                lo[d] = lo[d].min(p[d]);
                hi[d] = hi[d].max(p[d]);
            }
        }
        let side = (hi[0] - lo[0]).max(hi[1] - lo[1]).max(f32::MIN_POSITIVE);
        let scale = ((1u32 << MORTON_BITS) - 1) as f32 / side;
        let code = |p: &[f32; 2]| {
            let qx = ((p[0] - lo[0]) * scale) as u32;
            let qy = ((p[1] - lo[1]) * scale) as u32;
            u64::from(spread_bits(qx) | (spread_bits(qy) << 1))
        };
        if self.keys.len() == n {
            for key in &mut self.keys {
                let i = (*key & 0xFFFF_FFFF) as usize;
                *key = (code(&y[i]) << 32) | i as u64;
            }
        } else {
            self.keys = y
                .iter()
                .enumerate()
                .map(|(i, p)| (code(p) << 32) | i as u64)
                .collect();
        }
        radix_sort(&mut self.keys, &mut self.spare);
        self.xs.clear();
        self.ys.clear();
        self.rank.resize(n, 0);
        for (r, key) in self.keys.iter().enumerate() {
            let i = (key & 0xFFFF_FFFF) as usize;
            self.xs.push(y[i][0]);
            self.ys.push(y[i][1]);
            self.rank[i] = r as u32;
        }
        self.nodes.clear();
        self.nodes.push(Node::default());
        self.fill(0, 0, n, 0);
    }

    /// Build node `at` over points `start..end` (in Morton order), which share the top `level`
    /// quadrant digits.
    fn fill(&mut self, at: usize, start: usize, end: usize, level: u32) {
        let mut node = Node {
            start: start as u32,
            end: end as u32,
            ..Node::default()
        };
        if end - start <= LEAF_SIZE || level == MORTON_BITS {
            let (mut sx, mut sy) = (0f64, 0f64);
            let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
            for (&x, &y) in self.xs[start..end].iter().zip(&self.ys[start..end]) {
                sx += f64::from(x);
                sy += f64::from(y);
                lo = [lo[0].min(x), lo[1].min(y)];
                hi = [hi[0].max(x), hi[1].max(y)];
            }
            let m = (end - start) as f64;
            node.cx = (sx / m) as f32;
            node.cy = (sy / m) as f32;
            node.mass = m as f32;
            node.min = lo;
            node.max = hi;
            node.size = (hi[0] - lo[0]).max(hi[1] - lo[1]);
            self.nodes[at] = node;
            return;
        }
        // Children: the runs of equal next quadrant digit (the keys are sorted).
        let shift = 32 + 2 * (MORTON_BITS - 1 - level);
        let digit = |key: u64| (key >> shift) & 3;
        let mut bounds = [start; 5];
        for q in 0..4u64 {
            bounds[q as usize + 1] =
                start + self.keys[start..end].partition_point(|&key| digit(key) <= q);
        }
        let mut runs = [(0, 0); 4];
        let mut count = 0;
        for q in 0..4 {
            if bounds[q] < bounds[q + 1] {
                runs[count] = (bounds[q], bounds[q + 1]);
                count += 1;
            }
        }
        let first = self.nodes.len();
        self.nodes.resize(first + count, Node::default());
        for (c, &(a, b)) in runs[..count].iter().enumerate() {
            self.fill(first + c, a, b, level + 1);
        }
        let (mut sx, mut sy, mut m) = (0f32, 0f32, 0f32);
        let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
        for child in &self.nodes[first..first + count] {
            sx += child.cx * child.mass;
            sy += child.cy * child.mass;
            m += child.mass;
            lo = [lo[0].min(child.min[0]), lo[1].min(child.min[1])];
            hi = [hi[0].max(child.max[0]), hi[1].max(child.max[1])];
        }
        node.cx = sx / m;
        node.cy = sy / m;
        node.mass = m;
        node.min = lo;
        node.max = hi;
        node.size = (hi[0] - lo[0]).max(hi[1] - lo[1]);
        node.first_child = first as u32;
        node.child_count = count as u32;
        self.nodes[at] = node;
    }

    /// For every point (in Morton order): `[Σ w² dx, Σ w² dy, Σ w]` over all other points, with
    /// `w = 1 / (1 + d²)`, far groups summarised by their centres of mass.
    pub(super) fn repulsion(&self, theta: f32, out: &mut Vec<[f32; 3]>) {
        let n = self.xs.len();
        out.clear();
        out.resize(n, [0.0; 3]);
        let mut scratch = Scratch::default();
        scratch.pool.push(0);
        self.descend(0, 0, theta * theta, &mut scratch, out);
    }

    /// Targets node `g` (whose points' results go to `out`), sources `scratch.pool[from..]`:
    /// nodes not yet accepted for `g`'s ancestors (`scratch.sources` holds what they accepted).
    /// A candidate is accepted when it is clear of `g`'s bounding box and `size < θ · distance`
    /// from its centre of mass to that box, which then holds for every point below `g`;
    /// otherwise the larger of the two is split (the candidate into its children, or `g` by
    /// passing the candidate down). At a group (a leaf, or a node of at most `GROUP_SIZE`
    /// points), unaccepted leaves join point by point and the group's points are evaluated.
    /// Leaves `scratch` as it found it, minus `pool[from..]`.
    fn descend(
        &self,
        g: u32,
        from: usize,
        theta2: f32,
        scratch: &mut Scratch,
        out: &mut [[f32; 3]],
    ) {
        let group = &self.nodes[g as usize];
        let is_group = group.child_count == 0 || group.end - group.start <= GROUP_SIZE;
        let inherited = scratch.sources.len();
        let kept = scratch.keep.len();
        scratch.near.clear();
        while scratch.pool.len() > from {
            let Some(c) = scratch.pool.pop() else {
                break;
            };
            let node = &self.nodes[c as usize];
            let dx = (group.min[0] - node.cx)
                .max(node.cx - group.max[0])
                .max(0.0);
            let dy = (group.min[1] - node.cy)
                .max(node.cy - group.max[1])
                .max(0.0);
            // Evaluated without short-circuits: one hard-to-predict branch, not five.
            let clear = (node.max[0] < group.min[0])
                | (node.min[0] > group.max[0])
                | (node.max[1] < group.min[1])
                | (node.min[1] > group.max[1]);
            let small = node.size * node.size < theta2 * (dx * dx + dy * dy);
            if clear & small {
                scratch.sources.push(node.cx, node.cy, node.mass);
            } else if node.child_count == 0 {
                if is_group {
                    scratch.near.push((node.start, node.end));
                } else {
                    scratch.keep.push(c);
                }
            } else if is_group || node.size >= group.size {
                scratch
                    .pool
                    .extend(node.first_child..node.first_child + node.child_count);
            } else {
                scratch.keep.push(c);
            }
        }
        if is_group {
            // Near leaves as point ranges, merged where adjacent (common in Morton order).
            let near = &mut scratch.near;
            near.sort_unstable();
            let mut merged = 0;
            for r in 0..near.len() {
                if merged > 0 && near[merged - 1].1 == near[r].0 {
                    near[merged - 1].1 = near[r].1;
                } else {
                    near[merged] = near[r];
                    merged += 1;
                }
            }
            near.truncate(merged);
            self.evaluate(group, &scratch.sources, near, out);
        } else {
            // The children's output slices (their point ranges tile the node's).
            let mut parts: [Part<'_>; 4] = Default::default();
            let mut rest = out;
            for (slot, child) in parts
                .iter_mut()
                .zip(group.first_child..group.first_child + group.child_count)
            {
                let node = &self.nodes[child as usize];
                let (part, tail) = rest.split_at_mut((node.end - node.start) as usize);
                *slot = Some((child, part));
                rest = tail;
            }
            if group.end - group.start > PARALLEL_ABOVE {
                let keep = &scratch.keep[kept..];
                let sources = &scratch.sources;
                parts.into_par_iter().flatten().for_each(|(child, part)| {
                    let mut own = Scratch {
                        sources: sources.clone(),
                        pool: keep.to_vec(),
                        ..Scratch::default()
                    };
                    self.descend(child, 0, theta2, &mut own, part);
                });
            } else {
                for (child, part) in parts.into_iter().flatten() {
                    let from = scratch.pool.len();
                    let Scratch { pool, keep, .. } = scratch;
                    pool.extend_from_slice(&keep[kept..]);
                    self.descend(child, from, theta2, scratch, part);
                }
            }
        }
        scratch.keep.truncate(kept);
        scratch.sources.truncate(inherited);
    }

    /// Sums over `sources` and the points in the `near` ranges for the points of `group`,
    /// `LANES` points at a time.
    fn evaluate(
        &self,
        group: &Node,
        sources: &Interactions,
        near: &[(u32, u32)],
        out: &mut [[f32; 3]],
    ) {
        let start = group.start as usize;
        for (c, chunk) in out.chunks_mut(LANES).enumerate() {
            // A short last chunk repeats its last point.
            let at = |l: usize| start + c * LANES + l.min(chunk.len() - 1);
            let px: [f32; LANES] = std::array::from_fn(|l| self.xs[at(l)]);
            let py: [f32; LANES] = std::array::from_fn(|l| self.ys[at(l)]);
            let mut acc = apply(&sources.x, &sources.y, Some(&sources.m), &px, &py);
            for &(a, b) in near {
                let (a, b) = (a as usize, b as usize);
                let part = apply(&self.xs[a..b], &self.ys[a..b], None, &px, &py);
                for (s, p) in acc.iter_mut().zip(part) {
                    for l in 0..LANES {
                        s[l] += p[l];
                    }
                }
            }
            let [fx, fy, z] = acc;
            for (l, o) in chunk.iter_mut().enumerate() {
                // The point itself is among the sources (its own leaf's points): w = 1, no force.
                *o = [fx[l], fy[l], z[l] - 1.0];
            }
        }
    }
}

/// A child node and the output slice for its points.
type Part<'a> = Option<(u32, &'a mut [[f32; 3]])>;

/// Working lists of [`QuadTree::descend`], reused down the recursion.
#[derive(Default)]
struct Scratch {
    /// Sources accepted for the current node and its ancestors.
    sources: Interactions,
    /// Candidates still to be examined (a stack; each level works on its own top part).
    pool: Vec<u32>,
    /// Candidates passed down to children (a stack of per-level lists).
    keep: Vec<u32>,
    /// Point ranges of near leaves (group targets only).
    near: Vec<(u32, u32)>,
}

/// Target nodes with more points than this hand their children to parallel tasks.
const PARALLEL_ABOVE: u32 = 512;

/// `[Σ m w² dx, Σ m w² dy, Σ m w]` over sources `(x, y, m)` (`m = 1` when `None`), at `LANES`
/// points at once, one per SIMD lane. Written as whole-lane array steps in a function of its own:
/// the shape LLVM turns into packed SSE.
#[inline(never)]
fn apply(
    xs: &[f32],
    ys: &[f32],
    ms: Option<&[f32]>,
    px: &[f32; LANES],
    py: &[f32; LANES],
) -> [[f32; LANES]; 3] {
    let mut acc = [[0f32; LANES]; 3];
    match ms {
        Some(ms) => {
            for ((&x, &y), &m) in xs.iter().zip(ys).zip(ms) {
                source(&mut acc, px, py, x, y, m);
            }
        }
        None => {
            for (&x, &y) in xs.iter().zip(ys) {
                source(&mut acc, px, py, x, y, 1.0);
            }
        }
    }
    acc
}

/// One source's contribution at `LANES` points (see [`apply`]).
#[inline(always)]
fn source(
    acc: &mut [[f32; LANES]; 3],
    px: &[f32; LANES],
    py: &[f32; LANES],
    x: f32,
    y: f32,
    m: f32,
) {
    let dx: [f32; LANES] = std::array::from_fn(|l| px[l] - x);
    let dy: [f32; LANES] = std::array::from_fn(|l| py[l] - y);
    let d2: [f32; LANES] = std::array::from_fn(|l| dx[l] * dx[l] + dy[l] * dy[l]);
    let w: [f32; LANES] = std::array::from_fn(|l| 1.0 / (1.0 + d2[l]));
    let mw: [f32; LANES] = std::array::from_fn(|l| m * w[l]);
    let mw2: [f32; LANES] = std::array::from_fn(|l| mw[l] * w[l]);
    for l in 0..LANES {
        acc[2][l] += mw[l];
    }
    for l in 0..LANES {
        acc[0][l] += mw2[l] * dx[l];
    }
    for l in 0..LANES {
        acc[1][l] += mw2[l] * dy[l];
    }
}

/// Sort `(code << 32) | index` keys by code (stable: equal codes keep their order), by four
/// 8-bit LSD passes.
fn radix_sort(keys: &mut Vec<u64>, spare: &mut Vec<u64>) {
    spare.clear();
    spare.resize(keys.len(), 0);
    for pass in 0..4 {
        let shift = 32 + 8 * pass;
        let mut counts = [0usize; 257];
        for &k in keys.iter() {
            counts[((k >> shift) & 0xFF) as usize + 1] += 1;
        }
        for b in 0..256 {
            counts[b + 1] += counts[b];
        }
        for &k in keys.iter() {
            let b = ((k >> shift) & 0xFF) as usize;
            spare[counts[b]] = k;
            counts[b] += 1;
        }
        std::mem::swap(keys, spare);
    }
}

/// Interleave the low 16 bits of `v` with zeros (bit i → bit 2i).
fn spread_bits(v: u32) -> u32 {
    let mut v = v & 0xFFFF;
    v = (v | (v << 8)) & 0x00FF_00FF;
    v = (v | (v << 4)) & 0x0F0F_0F0F;
    v = (v | (v << 2)) & 0x3333_3333;
    (v | (v << 1)) & 0x5555_5555
}

/// Points evaluated together by [`Interactions::apply`] (4 × f32 = one SSE register).
pub(super) const LANES: usize = 4;

/// Sources acting on one leaf's points: positions and masses, structure of arrays.
#[derive(Clone, Default)]
struct Interactions {
    x: Vec<f32>,
    y: Vec<f32>,
    m: Vec<f32>,
}

impl Interactions {
    fn len(&self) -> usize {
        self.x.len()
    }

    fn truncate(&mut self, len: usize) {
        self.x.truncate(len);
        self.y.truncate(len);
        self.m.truncate(len);
    }

    fn push(&mut self, x: f32, y: f32, m: f32) {
        self.x.push(x);
        self.y.push(y);
        self.m.push(m);
    }
}
