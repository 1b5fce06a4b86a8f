//! CPU kernels for operations that dominated a training step or a backbone when composed from
//! candle's generic ops (hand-written: candle lacks them, and no maintained crate plugs into its
//! autograd):
//!
//! * Patch extraction (im2col) on channel-last maps, with col2im as its backward. Built from
//!   pad + narrow + stack, the backward pass materialised nine zero-padded copies of the map and
//!   added them up (about 45 % of a step).
//! * Adding a bias to many rows, whose backward sums the gradient over the rows. candle does that
//!   with a strided reduction (10 % of a step after the first fix).
//! * A dense layer on inputs that need no gradient (backbone tokens, image patches): candle's
//!   matmul backward always computes the input's gradient too, one more product as large as
//!   the forward, thrown away.
//! * Layer normalisation with its backward: candle-nn's fused layer norm has none (its output is
//!   cut from the graph, so nothing below it learned), and the composed form is six passes.
//! * tanh (attention pools, GRU): candle calls libm's `tanhf` per element; a rational
//!   approximation vectorises.
//!
//! Other devices, and dtypes other than f32, use the composed forms.

mod conv;
mod norm;
mod tanh;

pub use conv::{conv_relu, dense_relu, max_pool};

pub(crate) use norm::{lane_sum, normalise_rows_affine};
pub use norm::{layer_norm, normalise_rows};
pub(crate) use tanh::odd_rational;
pub use tanh::tanh;

use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, DType, Layout, Module as _, Result, Shape, Tensor, bail,
};
use candle_nn::Linear;
use rayon::prelude::*;

/// A convolution window on a channel-last map: kernel `(kh, kw)` and zero padding `(ph, pw)` on
/// each side of H and W (stride 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Kernel height and width.
    pub kernel: (usize, usize),
    /// Zero padding above and below, left and right.
    pub pad: (usize, usize),
}

impl Window {
    /// 1 × 1 without padding: a dense layer applied at every position.
    pub const POINT: Self = Self {
        kernel: (1, 1),
        pad: (0, 0),
    };

    /// 3 × 3 with one pixel of padding: the output map has the input's size.
    pub const SAME_3X3: Self = Self {
        kernel: (3, 3),
        pad: (1, 1),
    };

    fn taps(self) -> usize {
        self.kernel.0 * self.kernel.1
    }

    /// Output height and width for an `h × w` map (`None` when the kernel does not fit).
    fn output(self, h: usize, w: usize) -> Option<(usize, usize)> {
        let oh = (h + 2 * self.pad.0 + 1).checked_sub(self.kernel.0)?;
        let ow = (w + 2 * self.pad.1 + 1).checked_sub(self.kernel.1)?;
        Some((oh, ow))
    }

    /// Source offset in an `h × w` map of tap `tap` for output position (`y`, `x`), when inside.
    fn source(self, y: usize, x: usize, tap: usize, h: usize, w: usize) -> Option<usize> {
        let (dy, dx) = (tap / self.kernel.1, tap % self.kernel.1);
        let sy = (y + dy).checked_sub(self.pad.0).filter(|&s| s < h)?;
        let sx = (x + dx).checked_sub(self.pad.1).filter(|&s| s < w)?;
        Some(sy * w + sx)
    }
}

/// `B × H × W × C` → `B × (H·W) × (9·C)`: for every position, its 3 × 3 neighbourhood (one pixel
/// of zero padding), ordered kernel row, kernel column, channel.
pub fn im2col3x3(x: &Tensor) -> Result<Tensor> {
    im2col(x, Window::SAME_3X3)
}

/// `B × H × W × C` → `B × (H'·W') × (kh·kw·C)`: for every output position, its window, ordered
/// kernel row, kernel column, channel; with gradients (col2im).
pub fn im2col(x: &Tensor, window: Window) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        x.contiguous()?.apply_op1(Im2col { window })
    } else {
        composed(x, window)
    }
}

/// The same result from candle's generic ops (any device and dtype).
pub fn composed(x: &Tensor, window: Window) -> Result<Tensor> {
    let (b, h, w, c) = x.dims4()?;
    let Some((oh, ow)) = window.output(h, w) else {
        bail!("a {:?} window does not fit a {h}×{w} map", window.kernel);
    };
    let padded = x
        .pad_with_zeros(1, window.pad.0, window.pad.0)?
        .pad_with_zeros(2, window.pad.1, window.pad.1)?;
    let mut taps = Vec::with_capacity(window.taps());
    for dy in 0..window.kernel.0 {
        for dx in 0..window.kernel.1 {
            taps.push(padded.narrow(1, dy, oh)?.narrow(2, dx, ow)?);
        }
    }
    Tensor::stack(&taps, 3)?.reshape((b, oh * ow, window.taps() * c))
}

/// The contiguous f32 data of a CPU tensor argument.
pub(super) fn f32_data<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    op: &str,
) -> Result<&'a [f32]> {
    let CpuStorage::F32(data) = storage else {
        bail!("{op}: expected f32 data");
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        bail!("{op}: expected a contiguous tensor");
    };
    Ok(&data[start..end])
}

/// The contiguous f32 data of a CPU tensor an in-place op changes.
pub(super) fn f32_data_mut<'a>(
    storage: &'a mut CpuStorage,
    layout: &Layout,
    op: &str,
) -> Result<&'a mut [f32]> {
    let CpuStorage::F32(data) = storage else {
        bail!("{op}: expected f32 data");
    };
    let Some((start, end)) = layout.contiguous_offsets() else {
        bail!("{op}: expected a contiguous tensor");
    };
    Ok(&mut data[start..end])
}

/// The columns of a contiguous `b × h × w × c` map: `b × (h'·w') × (taps·c)` values.
pub(super) fn im2col_f32(
    src: &[f32],
    (b, h, w, c): (usize, usize, usize, usize),
    window: Window,
) -> Result<Vec<f32>> {
    let Some((oh, ow)) = window.output(h, w) else {
        bail!(
            "im2col: a {:?} window does not fit a {h}×{w} map",
            window.kernel
        );
    };
    let row = window.taps() * c;
    let mut out = vec![0f32; b * oh * ow * row];
    if out.is_empty() || src.len() != b * h * w * c {
        return Ok(out);
    }
    out.par_chunks_mut(oh * ow * row)
        .zip(src.par_chunks(h * w * c))
        .for_each(|(dst, map)| {
            for (pos, cols) in dst.chunks_exact_mut(row).enumerate() {
                let (y, x) = (pos / ow, pos % ow);
                for (tap, col) in cols.chunks_exact_mut(c).enumerate() {
                    if let Some(s) = window.source(y, x, tap, h, w) {
                        col.copy_from_slice(&map[s * c..(s + 1) * c]);
                    }
                }
            }
        });
    Ok(out)
}

/// im2col's adjoint: columns of a `b × h × w × c` map added back onto the pixels they came from.
fn col2im_f32(src: &[f32], dims: (usize, usize, usize, usize), window: Window) -> Result<Vec<f32>> {
    let mut out = vec![0f32; dims.0 * dims.1 * dims.2 * dims.3];
    col2im_into(src, dims, window, &mut out)?;
    Ok(out)
}

/// [`col2im_f32`] into `out` (`b × h × w × c`, overwritten).
pub(super) fn col2im_into(
    src: &[f32],
    (b, h, w, c): (usize, usize, usize, usize),
    window: Window,
    out: &mut [f32],
) -> Result<()> {
    let Some((oh, ow)) = window.output(h, w) else {
        bail!(
            "col2im: a {:?} window does not fit a {h}×{w} map",
            window.kernel
        );
    };
    let row = window.taps() * c;
    if src.len() != b * oh * ow * row || out.len() != b * h * w * c {
        bail!(
            "col2im: {} values do not match a {h}×{w}×{c} map",
            src.len()
        );
    }
    out.fill(0.0);
    if out.is_empty() {
        return Ok(());
    }
    out.par_chunks_mut(h * w * c)
        .zip(src.par_chunks(oh * ow * row))
        .for_each(|(map, cols)| {
            for (pos, taps) in cols.chunks_exact(row).enumerate() {
                let (y, x) = (pos / ow, pos % ow);
                for (tap, col) in taps.chunks_exact(c).enumerate() {
                    if let Some(s) = window.source(y, x, tap, h, w) {
                        for (acc, v) in map[s * c..(s + 1) * c].iter_mut().zip(col) {
                            *acc += v;
                        }
                    }
                }
            }
        });
    Ok(())
}

/// Forward op: map → columns.
struct Im2col {
    window: Window,
}

impl CustomOp1 for Im2col {
    fn name(&self) -> &'static str {
        "im2col"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, h, w, c) = layout.shape().dims4()?;
        let Some((oh, ow)) = self.window.output(h, w) else {
            bail!(
                "im2col: a {:?} window does not fit a {h}×{w} map",
                self.window.kernel
            );
        };
        let src = f32_data(storage, layout, self.name())?;
        let out = im2col_f32(src, (b, h, w, c), self.window)?;
        let row = self.window.taps() * c;
        Ok((CpuStorage::F32(out), Shape::from((b, oh * ow, row))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (_, h, w, c) = arg.dims4()?;
        let back = Col2im {
            window: self.window,
            h,
            w,
            c,
        };
        Ok(Some(grad.contiguous()?.apply_op1(back)?))
    }
}

/// Backward op: columns → map, adding every tap's value back onto the pixel it came from.
pub(super) struct Col2im {
    pub(super) window: Window,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) c: usize,
}

impl CustomOp1 for Col2im {
    fn name(&self) -> &'static str {
        "col2im"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, positions, row) = layout.shape().dims3()?;
        let (h, w, c) = (self.h, self.w, self.c);
        let Some((oh, ow)) = self.window.output(h, w) else {
            bail!(
                "col2im: a {:?} window does not fit a {h}×{w} map",
                self.window.kernel
            );
        };
        if positions != oh * ow || row != self.window.taps() * c {
            bail!("col2im: {b}×{positions}×{row} columns do not match a {h}×{w}×{c} map");
        }
        let src = f32_data(storage, layout, self.name())?;
        let out = col2im_f32(src, (b, h, w, c), self.window)?;
        Ok((CpuStorage::F32(out), Shape::from((b, h, w, c))))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // col2im is im2col's adjoint, so its own gradient is im2col again.
        Ok(Some(im2col(grad, self.window)?))
    }
}

/// `linear.forward(x)` for an input of many rows (`… × in`), with the bias added by [`AddBias`].
pub fn dense(linear: &Linear, x: &Tensor) -> Result<Tensor> {
    let cpu = x.device().is_cpu() && x.dtype() == DType::F32;
    let product = if cpu && !x.track_op() {
        x.contiguous()?
            .apply_op2(&linear.weight().contiguous()?, WeightOnlyMatmul)?
    } else if cpu {
        Linear::new(linear.weight().clone(), None).forward(x)?
    } else {
        return linear.forward(x);
    };
    match linear.bias() {
        Some(bias) => add_bias(&product, bias),
        None => Ok(product),
    }
}

/// `x + bias` over every row of `x` (`… × n` plus `n`), on the CPU through [`AddBias`].
fn add_bias(x: &Tensor, bias: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        x.contiguous()?.apply_op2(&bias.contiguous()?, AddBias)
    } else {
        x.broadcast_add(bias)
    }
}

/// `x · wᵀ` (`… × k` by `n × k`) for an `x` that needs no gradient: the backward computes the
/// weight's gradient only.
struct WeightOnlyMatmul;

impl CustomOp2 for WeightOnlyMatmul {
    fn name(&self) -> &'static str {
        "weight_only_matmul"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        x_layout: &Layout,
        ws: &CpuStorage,
        w_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        use candle_core::backend::BackendStorage as _;
        let dims = x_layout.shape().dims();
        let (k, (n, wk)) = (dims.last().copied().unwrap_or(0), w_layout.shape().dims2()?);
        if k != wk || !x_layout.is_contiguous() || !w_layout.is_contiguous() {
            bail!("weight_only_matmul: {dims:?} by {n}×{wk}");
        }
        let rows = x_layout.shape().elem_count() / k.max(1);
        let lhs = Layout::contiguous_with_offset((rows, k), x_layout.start_offset());
        let rhs =
            Layout::contiguous_with_offset((n, k), w_layout.start_offset()).transpose(0, 1)?;
        let out = xs.matmul(ws, (1, rows, n, k), &lhs, &rhs)?;
        let mut shape = dims.to_vec();
        if let Some(last) = shape.last_mut() {
            *last = n;
        }
        Ok((out, Shape::from(shape)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (n, k) = w.dims2()?;
        let rows = x.elem_count() / k.max(1);
        let dw = grad
            .reshape((rows, n))?
            .t()?
            .matmul(&x.reshape((rows, k))?)?;
        Ok((None, Some(dw)))
    }
}

/// `x + bias` with `bias` broadcast over every row of `x` (`… × n` plus `n`).
struct AddBias;

impl CustomOp2 for AddBias {
    fn name(&self) -> &'static str {
        "add_bias"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        x_layout: &Layout,
        bs: &CpuStorage,
        b_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32_data(xs, x_layout, self.name())?;
        let bias = f32_data(bs, b_layout, self.name())?;
        let n = x_layout.shape().dims().last().copied().unwrap_or(0);
        if bias.len() != n || n == 0 {
            bail!("add_bias: a bias of {} for rows of {n}", bias.len());
        }
        let mut out = x.to_vec();
        out.par_chunks_mut(n * ROWS_PER_TASK).for_each(|rows| {
            for row in rows.chunks_exact_mut(n) {
                for (v, b) in row.iter_mut().zip(bias) {
                    *v += b;
                }
            }
        });
        Ok((CpuStorage::F32(out), x_layout.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        // The bias gradient is the column sum: one (1 × rows) · (rows × n) product.
        let n = bias.elem_count();
        let rows = grad.elem_count() / n.max(1);
        let ones = Tensor::ones((1, rows), grad.dtype(), grad.device())?;
        let summed = ones
            .matmul(&grad.reshape((rows, n))?)?
            .reshape(bias.shape())?;
        Ok((Some(grad.clone()), Some(summed)))
    }
}

/// Rows handed to one rayon task when adding a bias.
pub(super) const ROWS_PER_TASK: usize = 512;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Forward values and input gradients of the op and of the composed form agree, for the
    /// 3 × 3 window of the encoders and the speech embedding's 1 × 3 / 3 × 1 ones.
    #[test]
    fn matches_the_composed_form() -> Result<()> {
        let windows = [
            Window::SAME_3X3,
            Window {
                kernel: (3, 1),
                pad: (0, 0),
            },
            Window {
                kernel: (1, 3),
                pad: (0, 1),
            },
        ];
        for window in windows {
            for (b, h, w, c) in [(2, 5, 4, 3), (1, 3, 1, 1), (3, 4, 7, 1)] {
                let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (b, h, w, c), &Device::Cpu)?)?;
                let fast = im2col(x.as_tensor(), window)?;
                let slow = composed(x.as_tensor(), window)?;
                assert_eq!(fast.dims(), slow.dims(), "{window:?} on {b}×{h}×{w}×{c}");
                let diff = max_diff(&fast, &slow)?;
                assert_eq!(
                    diff, 0.0,
                    "forward differs for {window:?} on {b}×{h}×{w}×{c}"
                );
                let weights = Tensor::randn(0f32, 1.0, fast.dims(), &Device::Cpu)?;
                let grads = |y: Tensor| (y * &weights)?.sum_all()?.backward();
                for (_, diff, _) in gradient_gaps(&grads(fast)?, &grads(slow)?, &[("input", &x)])? {
                    assert!(diff < 1e-5, "gradients differ by {diff} for {window:?}");
                }
            }
        }
        Ok(())
    }

    /// `dense` gives `Linear::forward`'s values and the same gradients: for input, weight and
    /// bias on an input that is tracked, for weight and bias on one that needs no gradient (the
    /// input's own gradient is never asked for).
    #[test]
    fn dense_matches_linear() -> Result<()> {
        let dev = Device::Cpu;
        for (tracked, rows) in [(true, 700), (false, 70)] {
            let input = Var::from_tensor(&Tensor::randn(0f32, 1.0, (3, rows, 5), &dev)?)?;
            let x = match tracked {
                true => input.as_tensor().clone(),
                false => input.as_tensor().detach(),
            };
            let w = Var::from_tensor(&Tensor::randn(0f32, 1.0, (4, 5), &dev)?)?;
            let b = Var::from_tensor(&Tensor::randn(0f32, 1.0, 4, &dev)?)?;
            let linear = Linear::new(w.as_tensor().clone(), Some(b.as_tensor().clone()));
            let target = Tensor::randn(0f32, 1.0, (3, rows, 4), &dev)?;
            let fast = dense(&linear, &x)?;
            let slow = linear.forward(&x)?;
            let diff = max_diff(&fast, &slow)?;
            assert!(diff < 1e-5, "forward differs by {diff}");
            let mut vars = vec![("weight", &w), ("bias", &b)];
            if tracked {
                vars.push(("input", &input));
            }
            let grads = |y: Tensor| (y * &target)?.sum_all()?.backward();
            for (name, diff, _) in gradient_gaps(&grads(fast)?, &grads(slow)?, &vars)? {
                assert!(diff < 1e-3, "{name} gradients differ by {diff}");
            }
        }
        Ok(())
    }

    /// The largest absolute difference between two tensors of one shape.
    pub(crate) fn max_diff(a: &Tensor, b: &Tensor) -> Result<f32> {
        (a - b)?.abs()?.max_all()?.to_scalar::<f32>()
    }

    /// For each named variable: the largest absolute difference between its gradients in the
    /// two stores, and the largest entry of the second (both must have it).
    pub(super) fn gradient_gaps(
        fast: &candle_core::backprop::GradStore,
        slow: &candle_core::backprop::GradStore,
        vars: &[(&'static str, &Var)],
    ) -> Result<Vec<(&'static str, f32, f32)>> {
        vars.iter()
            .map(|&(name, var)| {
                let (Some(a), Some(s)) = (fast.get(var), slow.get(var)) else {
                    panic!("no {name} gradient");
                };
                Ok((
                    name,
                    max_diff(a, s)?,
                    s.abs()?.max_all()?.to_scalar::<f32>()?,
                ))
            })
            .collect()
    }
}
