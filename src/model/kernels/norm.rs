//! Layer normalisation with its backward (candle-nn's fused layer norm has none: its output is
//! cut from the graph, so nothing below it learned).

use candle_core::{CpuStorage, CustomOp3, D, DType, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;

use super::{ROWS_PER_TASK, f32_data};

/// Layer normalisation over the last dimension, `(x − mean) / √(var + eps) · weight + bias`,
/// with gradients for all three (composed from candle's ops off the CPU or for other dtypes).
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f32) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        x.contiguous()?.apply_op3(
            &weight.contiguous()?,
            &bias.contiguous()?,
            LayerNorm {
                eps,
                pass: Pass::Forward,
            },
        )
    } else {
        let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        centred
            .broadcast_div(&(var + f64::from(eps))?.sqrt()?)?
            .broadcast_mul(weight)?
            .broadcast_add(bias)
    }
}

/// Layer-normalises each `cols`-wide row of `values` in place, without scale or shift: what the
/// backbones' tokens get once, when extracted.
pub fn normalise_rows(values: &mut [f32], cols: usize, eps: f32) {
    for row in values.chunks_exact_mut(cols.max(1)) {
        let (mean, rstd) = row_stats(row, eps);
        for v in row {
            *v = (*v - mean) * rstd;
        }
    }
}

/// Layer-normalises each row of `values` (rows as wide as `weight`) in place, then scales by
/// `weight` and shifts by `bias`.
pub fn normalise_rows_affine(values: &mut [f32], weight: &[f32], bias: &[f32], eps: f32) {
    for row in values.chunks_exact_mut(weight.len().max(1)) {
        let (mean, rstd) = row_stats(row, eps);
        for ((v, &w), &b) in row.iter_mut().zip(weight).zip(bias) {
            *v = (*v - mean) * rstd * w + b;
        }
    }
}

/// Mean and 1/√(var + eps) of one row.
fn row_stats(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len().max(1) as f32;
    let mean = lane_sum(row, |v| v) / n;
    let var = lane_sum(row, |v| (v - mean) * (v - mean)) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

/// `Σ f(v)` over a row in eight independent lanes, which the compiler turns into vector adds (a
/// single running sum is one long chain of dependent additions, several times slower).
pub fn lane_sum(row: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0f32; 8];
    let chunks = row.chunks_exact(8);
    let rest: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f(v);
        }
    }
    lanes.iter().sum::<f32>() + rest
}

/// What one call of [`LayerNorm`] computes.
#[derive(Clone, Copy)]
enum Pass {
    /// (x, weight, bias) → the normalised rows.
    Forward,
    /// (x, weight, output gradient) → `(rows + 2) × n`: dx, then Σ grad·x̂, then Σ grad.
    Backward,
}

struct LayerNorm {
    eps: f32,
    pass: Pass,
}

impl LayerNorm {
    fn forward(&self, x: &[f32], w: &[f32], b: &[f32], n: usize) -> Result<Vec<f32>> {
        if b.len() != n {
            bail!("layer_norm: a bias of {} for rows of {n}", b.len());
        }
        let mut out = x.to_vec();
        out.par_chunks_mut(n * ROWS_PER_TASK)
            .for_each(|rows| normalise_rows_affine(rows, w, b, self.eps));
        Ok(out)
    }

    fn backward(&self, x: &[f32], w: &[f32], g: &[f32], n: usize) -> Result<Vec<f32>> {
        if g.len() != x.len() {
            bail!(
                "layer_norm_backward: a gradient of {} for {} values",
                g.len(),
                x.len()
            );
        }
        let rows = x.len() / n;
        let mut out = vec![0f32; (rows + 2) * n];
        let (dx, _) = out.split_at_mut(rows * n);
        let partial: Vec<Vec<f32>> = dx
            .par_chunks_mut(n * ROWS_PER_TASK)
            .zip(x.par_chunks(n * ROWS_PER_TASK))
            .zip(g.par_chunks(n * ROWS_PER_TASK))
            .map(|((dx, x), g)| {
                let mut sums = vec![0f32; 2 * n];
                let mut xhat = vec![0f32; n];
                for ((dx, x), g) in dx
                    .chunks_exact_mut(n)
                    .zip(x.chunks_exact(n))
                    .zip(g.chunks_exact(n))
                {
                    let (mean, rstd) = row_stats(x, self.eps);
                    let (mut mean_g, mut mean_gx) = (0f32, 0f32);
                    for j in 0..n {
                        xhat[j] = (x[j] - mean) * rstd;
                        let gw = g[j] * w[j];
                        mean_g += gw;
                        mean_gx += gw * xhat[j];
                        sums[j] += g[j] * xhat[j];
                        sums[n + j] += g[j];
                    }
                    mean_g /= n as f32;
                    mean_gx /= n as f32;
                    for j in 0..n {
                        dx[j] = rstd * (g[j] * w[j] - mean_g - xhat[j] * mean_gx);
                    }
                }
                sums
            })
            .collect();
        let totals = &mut out[rows * n..];
        for sums in partial {
            for (t, s) in totals.iter_mut().zip(sums) {
                *t += s;
            }
        }
        Ok(out)
    }
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        match self.pass {
            Pass::Forward => "layer_norm",
            Pass::Backward => "layer_norm_backward",
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let op = self.name();
        let (x, w, third) = (
            f32_data(s1, l1, op)?,
            f32_data(s2, l2, op)?,
            f32_data(s3, l3, op)?,
        );
        let n = l1.shape().dims().last().copied().unwrap_or(0);
        if n == 0 || w.len() != n {
            bail!("{op}: a weight of {} for rows of {n}", w.len());
        }
        Ok(match self.pass {
            Pass::Forward => (
                CpuStorage::F32(self.forward(x, w, third, n)?),
                l1.shape().clone(),
            ),
            Pass::Backward => (
                CpuStorage::F32(self.backward(x, w, third, n)?),
                Shape::from((x.len() / n + 2, n)),
            ),
        })
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let n = weight.elem_count();
        let rows = x.elem_count() / n.max(1);
        // One pass: rows of dx, then the weight and the bias gradient.
        let backward = LayerNorm {
            eps: self.eps,
            pass: Pass::Backward,
        };
        let all = x.apply_op3_no_bwd(weight, &grad.contiguous()?, &backward)?;
        let dx = all.narrow(0, 0, rows)?.reshape(x.shape())?;
        let dw = all.narrow(0, rows, 1)?.reshape(weight.shape())?;
        let db = all.narrow(0, rows + 1, 1)?.reshape(weight.shape())?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{gradient_gaps, max_diff};
    use super::*;
    use candle_core::{Device, Var};

    /// The layer norm's values and gradients (input, weight, bias) match the composed form's.
    #[test]
    fn layer_norm_matches_the_composed_form() -> Result<()> {
        let dev = Device::Cpu;
        for (rows, n) in [(3, 5), (1100, 64), (2, 1)] {
            let x = Var::from_tensor(&(Tensor::randn(0f32, 2.0, (rows, n), &dev)? + 0.5)?)?;
            let w = Var::from_tensor(&Tensor::randn(1f32, 0.3, n, &dev)?)?;
            let b = Var::from_tensor(&Tensor::randn(0f32, 0.3, n, &dev)?)?;
            let target = Tensor::randn(0f32, 1.0, (rows, n), &dev)?;
            let fast = layer_norm(x.as_tensor(), w.as_tensor(), b.as_tensor(), 1e-5)?;
            let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
            let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
            let slow = centred
                .broadcast_div(&(var + 1e-5)?.sqrt()?)?
                .broadcast_mul(w.as_tensor())?
                .broadcast_add(b.as_tensor())?;
            let diff = max_diff(&fast, &slow)?;
            assert!(diff < 1e-4, "forward differs by {diff} for {rows}×{n}");
            let grads = |y: Tensor| (y * &target)?.sum_all()?.backward();
            let vars = [("input", &x), ("weight", &w), ("bias", &b)];
            for (name, diff, scale) in gradient_gaps(&grads(fast)?, &grads(slow)?, &vars)? {
                let diff = diff / scale.max(1.0);
                assert!(
                    diff < 1e-3,
                    "{name} gradients differ by {diff} for {rows}×{n}"
                );
            }
        }
        Ok(())
    }
}
