//! CPU kernels for the two operations that dominated a training step when composed from candle's
//! generic ops (hand-written: candle has neither, and no maintained crate plugs into its autograd):
//!
//! * 3 × 3 patch extraction (im2col) on channel-last maps, with col2im as its backward. Built from
//!   pad + narrow + stack, the backward pass materialised nine zero-padded copies of the map and
//!   added them up (about 45 % of a step).
//! * Adding a bias to many rows, whose backward sums the gradient over the rows. candle does that
//!   with a strided reduction (10 % of a step after the first fix).
//! * A dense layer on inputs that need no gradient (backbone tokens, image patches): candle's
//!   matmul backward always computes the input's gradient too, one more product as large as
//!   the forward, thrown away.
//! * Layer normalisation with its backward: candle-nn's fused layer norm has none (its output is
//!   cut from the graph, so nothing below it learned), and the composed form is six passes.
//!
//! Other devices, and dtypes other than f32, use the composed forms.

mod norm;

pub use norm::{layer_norm, normalise_rows};

use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, DType, Layout, Module as _, Result, Shape, Tensor, bail,
};
use candle_nn::Linear;
use rayon::prelude::*;

/// Kernel taps per output position.
const TAPS: usize = 9;

/// `B × H × W × C` → `B × (H·W) × (9·C)`: for every position, its 3 × 3 neighbourhood (one pixel
/// of zero padding), ordered kernel row, kernel column, channel.
pub fn im2col3x3(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        x.contiguous()?.apply_op1(Im2col)
    } else {
        composed(x)
    }
}

/// The same result from candle's generic ops (any device and dtype).
pub fn composed(x: &Tensor) -> Result<Tensor> {
    let (b, h, w, c) = x.dims4()?;
    let padded = x.pad_with_zeros(1, 1, 1)?.pad_with_zeros(2, 1, 1)?;
    let mut taps = Vec::with_capacity(TAPS);
    for dy in 0..3 {
        for dx in 0..3 {
            taps.push(padded.narrow(1, dy, h)?.narrow(2, dx, w)?);
        }
    }
    Tensor::stack(&taps, 3)?.reshape((b, h * w, TAPS * c))
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

/// Source offset of tap (`dy`, `dx`) for output position (`y`, `x`), when inside the map.
fn tap_source(y: usize, x: usize, dy: usize, dx: usize, h: usize, w: usize) -> Option<usize> {
    let sy = (y + dy).checked_sub(1).filter(|&s| s < h)?;
    let sx = (x + dx).checked_sub(1).filter(|&s| s < w)?;
    Some(sy * w + sx)
}

/// Forward op: map → columns.
struct Im2col;

impl CustomOp1 for Im2col {
    fn name(&self) -> &'static str {
        "im2col3x3"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, h, w, c) = layout.shape().dims4()?;
        let src = f32_data(storage, layout, self.name())?;
        let row = TAPS * c;
        let mut out = vec![0f32; b * h * w * row];
        if out.is_empty() {
            return Ok((CpuStorage::F32(out), Shape::from((b, h * w, row))));
        }
        out.par_chunks_mut(h * w * row)
            .zip(src.par_chunks(h * w * c))
            .for_each(|(dst, map)| {
                for (pos, cols) in dst.chunks_exact_mut(row).enumerate() {
                    let (y, x) = (pos / w, pos % w);
                    for (tap, col) in cols.chunks_exact_mut(c).enumerate() {
                        if let Some(s) = tap_source(y, x, tap / 3, tap % 3, h, w) {
                            col.copy_from_slice(&map[s * c..(s + 1) * c]);
                        }
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((b, h * w, row))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (_, h, w, c) = arg.dims4()?;
        Ok(Some(grad.contiguous()?.apply_op1(Col2im { h, w, c })?))
    }
}

/// Backward op: columns → map, adding every tap's value back onto the pixel it came from.
struct Col2im {
    h: usize,
    w: usize,
    c: usize,
}

impl CustomOp1 for Col2im {
    fn name(&self) -> &'static str {
        "col2im3x3"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, positions, row) = layout.shape().dims3()?;
        let (h, w, c) = (self.h, self.w, self.c);
        if positions != h * w || row != TAPS * c {
            bail!("col2im3x3: {b}×{positions}×{row} columns do not match a {h}×{w}×{c} map");
        }
        let src = f32_data(storage, layout, self.name())?;
        let mut out = vec![0f32; b * h * w * c];
        if out.is_empty() {
            return Ok((CpuStorage::F32(out), Shape::from((b, h, w, c))));
        }
        out.par_chunks_mut(h * w * c)
            .zip(src.par_chunks(h * w * row))
            .for_each(|(map, cols)| {
                for (pos, taps) in cols.chunks_exact(row).enumerate() {
                    let (y, x) = (pos / w, pos % w);
                    for (tap, col) in taps.chunks_exact(c).enumerate() {
                        if let Some(s) = tap_source(y, x, tap / 3, tap % 3, h, w) {
                            for (acc, v) in map[s * c..(s + 1) * c].iter_mut().zip(col) {
                                *acc += v;
                            }
                        }
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((b, h, w, c))))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // col2im is im2col's adjoint, so its own gradient is im2col again.
        Ok(Some(im2col3x3(grad)?))
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
pub fn add_bias(x: &Tensor, bias: &Tensor) -> Result<Tensor> {
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
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Forward values and input gradients of the op and of the composed form agree.
    #[test]
    fn matches_the_composed_form() -> Result<()> {
        for (b, h, w, c) in [(2, 5, 4, 3), (1, 1, 1, 1), (3, 2, 7, 1)] {
            let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (b, h, w, c), &Device::Cpu)?)?;
            let weights = Tensor::randn(0f32, 1.0, (b, h * w, TAPS * c), &Device::Cpu)?;
            let fast = im2col3x3(x.as_tensor())?;
            let slow = composed(x.as_tensor())?;
            let diff = (&fast - &slow)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert_eq!(diff, 0.0, "forward differs for {b}×{h}×{w}×{c}");
            let g_fast = (fast * &weights)?.sum_all()?.backward()?;
            let g_slow = (slow * &weights)?.sum_all()?.backward()?;
            let (Some(a), Some(s)) = (g_fast.get(&x), g_slow.get(&x)) else {
                panic!("no gradient for the input");
            };
            let diff = (a - s)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(
                diff < 1e-5,
                "gradients differ by {diff} for {b}×{h}×{w}×{c}"
            );
        }
        Ok(())
    }

    /// `dense` gives `Linear::forward`'s values and the same gradients for input, weight and bias.
    #[test]
    fn dense_matches_linear() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (3, 700, 5), &dev)?)?;
        let w = Var::from_tensor(&Tensor::randn(0f32, 1.0, (4, 5), &dev)?)?;
        let b = Var::from_tensor(&Tensor::randn(0f32, 1.0, 4, &dev)?)?;
        let linear = Linear::new(w.as_tensor().clone(), Some(b.as_tensor().clone()));
        let target = Tensor::randn(0f32, 1.0, (3, 700, 4), &dev)?;
        let fast = dense(&linear, x.as_tensor())?;
        let slow = linear.forward(x.as_tensor())?;
        let diff = (&fast - &slow)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "forward differs by {diff}");
        let g_fast = (fast * &target)?.sum_all()?.backward()?;
        let g_slow = (slow * &target)?.sum_all()?.backward()?;
        for (name, var) in [("input", &x), ("weight", &w), ("bias", &b)] {
            let (Some(a), Some(s)) = (g_fast.get(var), g_slow.get(var)) else {
                panic!("no {name} gradient");
            };
            let diff = (a - s)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 1e-3, "{name} gradients differ by {diff}");
        }
        Ok(())
    }

    /// On an input that needs no gradient, `dense` gives the same values and weight gradients
    /// (the input's own gradient is never asked for).
    #[test]
    fn dense_on_a_constant_input_matches_linear() -> Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (3, 70, 5), &dev)?;
        let w = Var::from_tensor(&Tensor::randn(0f32, 1.0, (4, 5), &dev)?)?;
        let b = Var::from_tensor(&Tensor::randn(0f32, 1.0, 4, &dev)?)?;
        let linear = Linear::new(w.as_tensor().clone(), Some(b.as_tensor().clone()));
        let target = Tensor::randn(0f32, 1.0, (3, 70, 4), &dev)?;
        let fast = dense(&linear, &x)?;
        let slow = linear.forward(&x)?;
        let diff = (&fast - &slow)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-5, "forward differs by {diff}");
        let g_fast = (fast * &target)?.sum_all()?.backward()?;
        let g_slow = (slow * &target)?.sum_all()?.backward()?;
        for (name, var) in [("weight", &w), ("bias", &b)] {
            let (Some(a), Some(s)) = (g_fast.get(var), g_slow.get(var)) else {
                panic!("no {name} gradient");
            };
            let diff = (a - s)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 1e-3, "{name} gradients differ by {diff}");
        }
        Ok(())
    }
}
