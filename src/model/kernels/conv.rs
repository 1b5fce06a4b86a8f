//! Convolution + bias + ReLU, and max pooling, each as one autograd node on channel-last maps.
//!
//! Composed from im2col, matmul, bias add, ReLU and two `max` reductions, every intermediate map
//! was a node of its own, and candle's backward gives each node a zero-filled gradient buffer
//! plus an addition: a third of a training step went to those fills and additions. Here the
//! columns are a scratch buffer of the forward pass (rebuilt in the backward), so the graph sees
//! one node per layer.

use candle_core::backend::BackendStorage as _;
use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Module as _, Result, Shape,
    Storage, Tensor, bail,
};
use candle_nn::Linear;
use rayon::prelude::*;

use super::{Window, col2im_into, f32_data, im2col_f32};

/// `relu(linear(x))` for `… × in` rows, as one node (see [`conv_relu`]).
pub fn dense_relu(linear: &Linear, x: &Tensor) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let Some((&k, outer)) = dims.split_last() else {
        bail!("dense_relu: a scalar input");
    };
    let rows: usize = outer.iter().product();
    let map = x.reshape((1, rows, 1, k))?;
    let out = conv_relu(&map, linear, Window::POINT)?;
    let mut shape = outer.to_vec();
    shape.push(out.dim(3)?);
    out.reshape(shape)
}

/// `relu(im2col(x) · wᵀ + b)`: a stride-1 convolution of a channel-last map `B × H × W × C` with
/// `linear`'s weight (`out × (kh·kw·C)`, ordered kernel row, kernel column, channel) and bias,
/// then ReLU; `B × H' × W' × out`. Composed from candle's ops off the CPU or without a bias.
pub fn conv_relu(x: &Tensor, linear: &Linear, window: Window) -> Result<Tensor> {
    let (b, h, w, _) = x.dims4()?;
    let fast = x.device().is_cpu() && x.dtype() == DType::F32;
    match linear.bias() {
        Some(bias) if fast => x.contiguous()?.apply_op3(
            &linear.weight().contiguous()?,
            &bias.contiguous()?,
            ConvRelu { window },
        ),
        _ => {
            let Some((oh, ow)) = window.output(h, w) else {
                bail!("a {:?} window does not fit a {h}×{w} map", window.kernel);
            };
            let cols = super::im2col(x, window)?;
            linear.forward(&cols)?.relu()?.reshape((b, oh, ow, ()))
        }
    }
}

/// The fused convolution; arguments: map, weight, bias.
struct ConvRelu {
    window: Window,
}

/// Samples handled by one task: their columns stay within about 256 KiB, so each block is built,
/// multiplied and dropped while it is in cache (and the allocator recycles it).
fn samples_per_task(cols_per_sample: usize) -> usize {
    (64 * 1024 / cols_per_sample.max(1)).max(1)
}

/// `lhs · rhs` for `m × k` and `k × n` operands given by their storages and layouts (any strides).
fn matmul(
    lhs: (&CpuStorage, &Layout),
    rhs: (&CpuStorage, &Layout),
    (m, n, k): (usize, usize, usize),
) -> Result<Vec<f32>> {
    match lhs.0.matmul(rhs.0, (1, m, n, k), lhs.1, rhs.1)? {
        CpuStorage::F32(v) => Ok(v),
        _ => bail!("conv_relu: expected f32 data"),
    }
}

/// The CPU storage behind a tensor's storage guard.
fn cpu(storage: &Storage) -> Result<&CpuStorage> {
    match storage {
        Storage::Cpu(s) => Ok(s),
        _ => bail!("conv_relu: expected a CPU tensor"),
    }
}

/// Shapes of one fused convolution.
#[derive(Clone, Copy)]
struct Geometry {
    b: usize,
    /// One input map: `h × w × c`.
    map: (usize, usize, usize),
    /// Output positions per sample.
    positions: usize,
    /// Column width (`taps · c`).
    k: usize,
    /// Output channels.
    n: usize,
    /// Samples per task.
    per: usize,
}

impl Geometry {
    fn map_len(&self) -> usize {
        self.map.0 * self.map.1 * self.map.2
    }
}

impl ConvRelu {
    /// The shapes for a map, weight and bias of these shapes, checked.
    fn geometry(&self, map: &Shape, weight: &Shape, bias: &Shape) -> Result<Geometry> {
        let (b, h, w, c) = map.dims4()?;
        let (n, k) = weight.dims2()?;
        let Some((oh, ow)) = self.window.output(h, w) else {
            bail!(
                "conv_relu: a {:?} window does not fit a {h}×{w} map",
                self.window.kernel
            );
        };
        if k != self.window.taps() * c || bias.elem_count() != n {
            bail!("conv_relu: weight {n}×{k} and bias {bias:?} for {c} channels");
        }
        Ok(Geometry {
            b,
            map: (h, w, c),
            positions: oh * ow,
            k,
            n,
            per: samples_per_task(oh * ow * k),
        })
    }

    /// The columns of samples `s0..s0 + s` of a contiguous map: a block of their own, or (for a
    /// point window) the map itself.
    fn columns(
        &self,
        g: &Geometry,
        xs: &CpuStorage,
        x_layout: &Layout,
        (s0, s): (usize, usize),
    ) -> Result<(Option<CpuStorage>, Layout)> {
        let rows = s * g.positions;
        if self.window == Window::POINT {
            let offset = x_layout.start_offset() + s0 * g.map_len();
            return Ok((None, Layout::contiguous_with_offset((rows, g.k), offset)));
        }
        let x = f32_data(xs, x_layout, "conv_relu")?;
        let (h, w, c) = g.map;
        let block = &x[s0 * g.map_len()..(s0 + s) * g.map_len()];
        let cols = im2col_f32(block, (s, h, w, c), self.window)?;
        Ok((Some(CpuStorage::F32(cols)), Layout::contiguous((rows, g.k))))
    }
}

impl CustomOp3 for ConvRelu {
    fn name(&self) -> &'static str {
        "conv_relu"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        x_layout: &Layout,
        ws: &CpuStorage,
        w_layout: &Layout,
        bs: &CpuStorage,
        b_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.geometry(x_layout.shape(), w_layout.shape(), b_layout.shape())?;
        f32_data(xs, x_layout, self.name())?;
        f32_data(ws, w_layout, self.name())?;
        let bias = f32_data(bs, b_layout, self.name())?;
        let (oh, ow) = self.window.output(g.map.0, g.map.1).unwrap_or((0, 0));
        let shape = Shape::from((g.b, oh, ow, g.n));
        let mut out = vec![0f32; g.b * g.positions * g.n];
        if out.is_empty() {
            return Ok((CpuStorage::F32(out), shape));
        }
        let w_t =
            Layout::contiguous_with_offset((g.n, g.k), w_layout.start_offset()).transpose(0, 1)?;
        out.par_chunks_mut(g.per * g.positions * g.n)
            .enumerate()
            .try_for_each(|(i, dst)| -> Result<()> {
                let s = dst.len() / (g.positions * g.n);
                let (block, layout) = self.columns(&g, xs, x_layout, (i * g.per, s))?;
                let cols = block.as_ref().unwrap_or(xs);
                let rows = s * g.positions;
                let product = matmul((cols, &layout), (ws, &w_t), (rows, g.n, g.k))?;
                for (d, p) in dst.chunks_exact_mut(g.n).zip(product.chunks_exact(g.n)) {
                    for ((d, p), b) in d.iter_mut().zip(p).zip(bias) {
                        *d = (p + b).max(0.0);
                    }
                }
                Ok(())
            })?;
        Ok((CpuStorage::F32(out), shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // The gradient before the ReLU: zero where the output was clipped.
        let pre = grad.contiguous()?.apply_op2(&res.contiguous()?, ReluGrad)?;
        let geo = self.geometry(x.shape(), w.shape(), bias.shape())?;
        // An input that needs no gradient (the image, the log-mel) is spared the largest product.
        let want_dx = x.track_op();
        let (x_guard, x_layout) = x.storage_and_layout();
        let (w_guard, w_layout) = w.storage_and_layout();
        let (g_guard, g_layout) = pre.storage_and_layout();
        let (xs, ws, gs) = (cpu(&x_guard)?, cpu(&w_guard)?, cpu(&g_guard)?);
        let gv = f32_data(gs, g_layout, self.name())?;
        f32_data(xs, x_layout, self.name())?;
        f32_data(ws, w_layout, self.name())?;
        let w_plain = Layout::contiguous_with_offset((geo.n, geo.k), w_layout.start_offset());
        // Per block of samples: its share of dW and db, and its part of dx written in place.
        let block = |i: usize, dx: Option<&mut [f32]>| -> Result<(Vec<f32>, Vec<f32>)> {
            let s0 = i * geo.per;
            let s = geo.per.min(geo.b - s0);
            let rows = s * geo.positions;
            let g_off = g_layout.start_offset() + s0 * geo.positions * geo.n;
            let g_rows = Layout::contiguous_with_offset((rows, geo.n), g_off);
            let (cols_block, cols_layout) = self.columns(&geo, xs, x_layout, (s0, s))?;
            let cols = cols_block.as_ref().unwrap_or(xs);
            let dw = matmul(
                (gs, &g_rows.transpose(0, 1)?),
                (cols, &cols_layout),
                (geo.n, geo.k, rows),
            )?;
            let mut db = vec![0f32; geo.n];
            let g_block = &gv[s0 * geo.positions * geo.n..(s0 + s) * geo.positions * geo.n];
            for row in g_block.chunks_exact(geo.n) {
                for (acc, v) in db.iter_mut().zip(row) {
                    *acc += v;
                }
            }
            if let Some(dx) = dx {
                let dcols = matmul((gs, &g_rows), (ws, &w_plain), (rows, geo.k, geo.n))?;
                if self.window == Window::POINT {
                    dx.copy_from_slice(&dcols);
                } else {
                    let (h, w, c) = geo.map;
                    col2im_into(&dcols, (s, h, w, c), self.window, dx)?;
                }
            }
            Ok((dw, db))
        };
        let blocks = geo.b.div_ceil(geo.per);
        let mut dx = vec![0f32; if want_dx { geo.b * geo.map_len() } else { 0 }];
        let parts: Vec<(Vec<f32>, Vec<f32>)> = if want_dx {
            dx.par_chunks_mut(geo.per * geo.map_len())
                .enumerate()
                .map(|(i, d)| block(i, Some(d)))
                .collect::<Result<_>>()?
        } else {
            (0..blocks)
                .into_par_iter()
                .map(|i| block(i, None))
                .collect::<Result<_>>()?
        };
        drop((x_guard, w_guard, g_guard));
        // Summed in block order, so the result does not depend on the thread count.
        let mut dw = vec![0f32; geo.n * geo.k];
        let mut db = vec![0f32; geo.n];
        for (pw, pb) in &parts {
            dw.iter_mut().zip(pw).for_each(|(a, v)| *a += v);
            db.iter_mut().zip(pb).for_each(|(a, v)| *a += v);
        }
        let dev = x.device();
        let dx = match want_dx {
            true => Some(Tensor::from_vec(dx, x.shape(), dev)?),
            false => None,
        };
        Ok((
            dx,
            Some(Tensor::from_vec(dw, w.shape(), dev)?),
            Some(Tensor::from_vec(db, bias.shape(), dev)?),
        ))
    }
}

/// `grad` where `res > 0`, else 0 (ReLU's backward from its output).
struct ReluGrad;

impl CustomOp2 for ReluGrad {
    fn name(&self) -> &'static str {
        "relu_grad"
    }

    fn cpu_fwd(
        &self,
        gs: &CpuStorage,
        g_layout: &Layout,
        rs: &CpuStorage,
        r_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = f32_data(gs, g_layout, self.name())?;
        let r = f32_data(rs, r_layout, self.name())?;
        if g.len() != r.len() {
            bail!("relu_grad: {} gradients for {} outputs", g.len(), r.len());
        }
        let out = g
            .iter()
            .zip(r)
            .map(|(&g, &r)| if r > 0.0 { g } else { 0.0 })
            .collect();
        Ok((CpuStorage::F32(out), g_layout.shape().clone()))
    }
}

/// Max pooling of a channel-last map `B × H × W × C` by `fy × fx` (non-overlapping; H and W
/// divisible), as one node. Composed from candle's ops off the CPU.
pub fn max_pool(x: &Tensor, fy: usize, fx: usize) -> Result<Tensor> {
    let (b, h, w, c) = x.dims4()?;
    if fy == 0 || fx == 0 || !h.is_multiple_of(fy) || !w.is_multiple_of(fx) {
        bail!("max_pool: a {h}×{w} map does not divide into {fy}×{fx} windows");
    }
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        x.contiguous()?.apply_op1(MaxPool { fy, fx })
    } else {
        x.reshape((b, h / fy, fy, w / fx, fx, c))?.max(4)?.max(2)
    }
}

/// Forward of [`max_pool`].
struct MaxPool {
    fy: usize,
    fx: usize,
}

impl MaxPool {
    /// For every output value, the offset in the map of the first largest value of its window,
    /// and that value.
    fn argmax(
        &self,
        map: &[f32],
        (b, h, w, c): (usize, usize, usize, usize),
    ) -> (Vec<usize>, Vec<f32>) {
        let (oh, ow) = (h / self.fy, w / self.fx);
        let len = b * oh * ow * c;
        let (mut at, mut best) = (vec![0usize; len], vec![0f32; len]);
        if len == 0 {
            return (at, best);
        }
        // One output row (all channels of one position) at a time, channels innermost.
        at.par_chunks_mut(c)
            .zip(best.par_chunks_mut(c))
            .enumerate()
            .for_each(|(o, (at, best))| {
                let (s, pos) = (o / (oh * ow), o % (oh * ow));
                let (y, x) = (pos / ow * self.fy, pos % ow * self.fx);
                for dy in 0..self.fy {
                    for dx in 0..self.fx {
                        let start = ((s * h + y + dy) * w + x + dx) * c;
                        let src = &map[start..start + c];
                        let first = dy == 0 && dx == 0;
                        for (ch, ((a, v), &m)) in
                            at.iter_mut().zip(best.iter_mut()).zip(src).enumerate()
                        {
                            if first || m > *v {
                                *v = m;
                                *a = start + ch;
                            }
                        }
                    }
                }
            });
        (at, best)
    }
}

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "max_pool"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let dims = layout.shape().dims4()?;
        let map = f32_data(storage, layout, self.name())?;
        let (_, out) = self.argmax(map, dims);
        let (b, h, w, c) = dims;
        Ok((
            CpuStorage::F32(out),
            Shape::from((b, h / self.fy, w / self.fx, c)),
        ))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let back = MaxPoolGrad {
            pool: MaxPool {
                fy: self.fy,
                fx: self.fx,
            },
        };
        Ok(Some(arg.detach().apply_op2(&grad.contiguous()?, back)?))
    }
}

/// Backward of [`max_pool`]: each output's gradient goes to the value that won its window.
struct MaxPoolGrad {
    pool: MaxPool,
}

impl CustomOp2 for MaxPoolGrad {
    fn name(&self) -> &'static str {
        "max_pool_grad"
    }

    fn cpu_fwd(
        &self,
        ms: &CpuStorage,
        m_layout: &Layout,
        gs: &CpuStorage,
        g_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dims = m_layout.shape().dims4()?;
        let map = f32_data(ms, m_layout, self.name())?;
        let grad = f32_data(gs, g_layout, self.name())?;
        let (at, _) = self.pool.argmax(map, dims);
        if at.len() != grad.len() {
            bail!(
                "max_pool_grad: {} gradients for {} outputs",
                grad.len(),
                at.len()
            );
        }
        let mut out = vec![0f32; map.len()];
        for (&i, &g) in at.iter().zip(grad) {
            out[i] += g;
        }
        Ok((CpuStorage::F32(out), m_layout.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{gradient_gaps, max_diff};
    use super::*;
    use candle_core::{Device, Var};

    /// The fused convolution gives the composed form's values and gradients (input, weight,
    /// bias), for 3 × 3, point and one-sided windows, blocks of one and of several samples, and
    /// an input that needs no gradient.
    #[test]
    fn conv_relu_matches_the_composed_form() -> Result<()> {
        let dev = Device::Cpu;
        let windows = [
            Window::SAME_3X3,
            Window::POINT,
            Window {
                kernel: (3, 1),
                pad: (0, 0),
            },
        ];
        for window in windows {
            for (b, h, w, c, n, tracked) in [
                (3, 5, 4, 3, 4, true),
                (2, 40, 40, 8, 5, true),
                (4, 6, 3, 2, 3, false),
            ] {
                let input = Var::from_tensor(&Tensor::randn(0f32, 1.0, (b, h, w, c), &dev)?)?;
                let x = match tracked {
                    true => input.as_tensor().clone(),
                    false => input.as_tensor().detach(),
                };
                let k = window.taps() * c;
                let wv = Var::from_tensor(&Tensor::randn(0f32, 0.5, (n, k), &dev)?)?;
                let bv = Var::from_tensor(&Tensor::randn(0f32, 0.5, n, &dev)?)?;
                let linear = Linear::new(wv.as_tensor().clone(), Some(bv.as_tensor().clone()));
                let fast = conv_relu(&x, &linear, window)?;
                let (oh, ow) = window.output(h, w).unwrap_or((0, 0));
                let slow = linear
                    .forward(&super::super::composed(&x, window)?)?
                    .relu()?
                    .reshape((b, oh, ow, n))?;
                let case = format!("{window:?} on {b}×{h}×{w}×{c} → {n}");
                assert!(max_diff(&fast, &slow)? < 1e-5, "forward differs for {case}");
                let target = Tensor::randn(0f32, 1.0, slow.dims(), &dev)?;
                let grads = |y: Tensor| (y * &target)?.sum_all()?.backward();
                let (gf, gs) = (grads(fast)?, grads(slow)?);
                let mut vars = vec![("weight", &wv), ("bias", &bv)];
                if tracked {
                    vars.push(("input", &input));
                } else {
                    assert!(gf.get(&input).is_none(), "an input gradient for {case}");
                }
                for (name, diff, scale) in gradient_gaps(&gf, &gs, &vars)? {
                    assert!(
                        diff <= 1e-4 * scale.max(1.0),
                        "{name} gradients differ by {diff} for {case}"
                    );
                }
            }
        }
        Ok(())
    }

    /// `dense_relu` is `relu(Linear::forward)` on rows of any rank.
    #[test]
    fn dense_relu_matches_linear() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (3, 7, 5), &dev)?)?;
        let w = Tensor::randn(0f32, 1.0, (4, 5), &dev)?;
        let b = Tensor::randn(0f32, 1.0, 4, &dev)?;
        let linear = Linear::new(w, Some(b));
        let fast = dense_relu(&linear, x.as_tensor())?;
        let slow = linear.forward(x.as_tensor())?.relu()?;
        assert_eq!(fast.dims(), &[3, 7, 4]);
        assert!(max_diff(&fast, &slow)? < 1e-5);
        let gf = fast.sum_all()?.backward()?;
        let gs = slow.sum_all()?.backward()?;
        for (_, diff, _) in gradient_gaps(&gf, &gs, &[("input", &x)])? {
            assert!(diff < 1e-5, "input gradients differ by {diff}");
        }
        Ok(())
    }

    /// Max pooling gives candle's values and gradients, ties included (the gradient goes to one
    /// of the tied values, so the sums per window agree).
    #[test]
    fn max_pool_matches_the_composed_form() -> Result<()> {
        let dev = Device::Cpu;
        for (b, h, w, c, fy, fx) in [(2, 4, 6, 3, 2, 2), (3, 8, 5, 2, 2, 1), (1, 2, 2, 1, 2, 2)] {
            let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (b, h, w, c), &dev)?)?;
            let fast = max_pool(x.as_tensor(), fy, fx)?;
            let slow = x
                .as_tensor()
                .reshape((b, h / fy, fy, w / fx, fx, c))?
                .max(4)?
                .max(2)?;
            assert_eq!(max_diff(&fast, &slow)?, 0.0);
            let target = Tensor::randn(0f32, 1.0, slow.dims(), &dev)?;
            let gf = (fast * &target)?.sum_all()?.backward()?;
            let gs = (slow * &target)?.sum_all()?.backward()?;
            for (_, diff, _) in gradient_gaps(&gf, &gs, &[("input", &x)])? {
                assert!(diff < 1e-6, "gradients differ by {diff}");
            }
        }
        // A window of ties: all of its gradient reaches the map once.
        let x = Var::from_tensor(&Tensor::zeros((1, 2, 2, 1), DType::F32, &dev)?)?;
        let g = max_pool(x.as_tensor(), 2, 2)?.sum_all()?.backward()?;
        let total = g
            .get(&x)
            .map(|t| t.sum_all()?.to_scalar::<f32>())
            .transpose()?;
        assert_eq!(total, Some(1.0));
        Ok(())
    }

    /// Bad shapes are refused with what was expected.
    #[test]
    fn bad_shapes_are_refused() -> Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::zeros((1, 5, 4, 1), DType::F32, &dev)?;
        let err = max_pool(&x, 2, 2).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("5×4")), "odd map pooled");
        let linear = Linear::new(
            Tensor::zeros((2, 7), DType::F32, &dev)?,
            Some(Tensor::zeros(2, DType::F32, &dev)?),
        );
        assert!(conv_relu(&x, &linear, Window::SAME_3X3).is_err());
        Ok(())
    }
}
