//! The BERT encoder's fused steps: self-attention over a packed batch, bias + GELU, and bias +
//! residual + layer norm. On the CPU each is one pass of our own (candle has no fused forms:
//! composed, the bias adds, libm's `erff` per element and the head reshapes were about half of
//! the forward pass); elsewhere they are composed from candle's ops, which the tests also use as
//! the oracle.

use candle_core::{CpuStorage, CustomOp2, DType, InplaceOp2, InplaceOp3, Layout, Result, Shape};
use candle_core::{Tensor, bail};
use rayon::prelude::*;

use crate::model::kernels::{
    f32_data, f32_data_mut, lane_sum, layer_norm, normalise_rows_affine, odd_rational,
};

/// Rows handed to one rayon task by the row-wise kernels.
const ROWS_PER_TASK: usize = 64;

/// Multi-head self-attention over a packed batch: `qkv` is `[tokens, 3·H]` (queries, keys,
/// values of every text's tokens one after another, without their `bias` of `3·H`), `lens` the
/// texts' token counts. Each text attends only to its own tokens, so no padding is computed.
/// Returns the `[tokens, H]` context vectors, heads side by side.
pub fn attention(qkv: &Tensor, bias: &Tensor, lens: &[usize], heads: usize) -> Result<Tensor> {
    let op = Attention {
        lens: lens.to_vec(),
        heads,
    };
    if qkv.device().is_cpu() && qkv.dtype() == DType::F32 {
        qkv.contiguous()?.apply_op2(&bias.contiguous()?, op)
    } else {
        attention_composed(qkv, bias, lens, heads)
    }
}

/// [`attention`] from candle's ops, one text at a time.
fn attention_composed(qkv: &Tensor, bias: &Tensor, lens: &[usize], heads: usize) -> Result<Tensor> {
    let qkv = qkv.broadcast_add(bias)?;
    let width = qkv.dim(1)? / 3;
    let dh = width / heads;
    let mut out = Vec::with_capacity(lens.len());
    let mut start = 0;
    for &n in lens {
        let rows = qkv.narrow(0, start, n)?;
        start += n;
        let split = |i: usize| -> Result<Tensor> {
            rows.narrow(1, i * width, width)?
                .reshape((n, heads, dh))?
                .transpose(0, 1)?
                .contiguous()
        };
        let (q, k, v) = (split(0)?, split(1)?, split(2)?);
        let scores = (q.matmul(&k.t()?)? / (dh as f64).sqrt())?;
        let p = candle_nn::ops::softmax_last_dim(&scores)?;
        out.push(p.matmul(&v)?.transpose(0, 1)?.reshape((n, width))?);
    }
    Tensor::cat(&out, 0)
}

struct Attention {
    lens: Vec<usize>,
    heads: usize,
}

impl CustomOp2 for Attention {
    fn name(&self) -> &'static str {
        "bert-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let qkv = f32_data(s1, l1, self.name())?;
        let bias = f32_data(s2, l2, self.name())?;
        let (tokens, three) = l1.shape().dims2()?;
        let width = three / 3;
        if three % 3 != 0 || width % self.heads.max(1) != 0 || bias.len() != three {
            bail!(
                "bert-attention: [{tokens}, {three}] with a bias of {} for {} heads",
                bias.len(),
                self.heads
            );
        }
        if self.lens.iter().sum::<usize>() != tokens {
            bail!(
                "bert-attention: texts of {:?} tokens in a batch of {tokens}",
                self.lens
            );
        }
        let dh = width / self.heads;
        let starts: Vec<usize> = self
            .lens
            .iter()
            .scan(0, |at, &n| {
                let s = *at;
                *at += n;
                Some(s)
            })
            .collect();
        // One task per (text, head): its context rows, `n × dh`, written out afterwards.
        let tasks: Vec<(usize, usize)> = (0..self.lens.len())
            .flat_map(|t| (0..self.heads).map(move |h| (t, h)))
            .collect();
        let parts: Vec<Vec<f32>> = tasks
            .par_iter()
            .map(|&(t, h)| {
                let rows = &qkv[starts[t] * three..(starts[t] + self.lens[t]) * three];
                one_head(rows, bias, h * dh, dh)
            })
            .collect();
        let mut out = vec![0f32; tokens * width];
        for (&(t, h), part) in tasks.iter().zip(&parts) {
            let rows = out[starts[t] * width..].chunks_exact_mut(width);
            for (row, ctx) in rows.zip(part.chunks_exact(dh)) {
                row[h * dh..(h + 1) * dh].copy_from_slice(ctx);
            }
        }
        Ok((CpuStorage::F32(out), (tokens, width).into()))
    }
}

/// The context rows (`n × dh`) of the head whose columns start at `col`, for one text's `rows`
/// of `[q | k | v]`. Keys are transposed first, so both products are runs of multiply-adds
/// along contiguous rows, which the compiler vectorises.
fn one_head(rows: &[f32], bias: &[f32], col: usize, dh: usize) -> Vec<f32> {
    let width = bias.len() / 3;
    let n = rows.len() / bias.len();
    let scale = 1.0 / (dh as f32).sqrt();
    let (mut q, mut kt, mut v) = (vec![0f32; n * dh], vec![0f32; dh * n], vec![0f32; n * dh]);
    for (i, row) in rows.chunks_exact(bias.len()).enumerate() {
        for d in 0..dh {
            let (qc, kc, vc) = (col + d, width + col + d, 2 * width + col + d);
            q[i * dh + d] = (row[qc] + bias[qc]) * scale;
            kt[d * n + i] = row[kc] + bias[kc];
            v[i * dh + d] = row[vc] + bias[vc];
        }
    }
    let mut ctx = vec![0f32; n * dh];
    let mut scores = vec![0f32; n];
    for (qi, out) in q.chunks_exact(dh).zip(ctx.chunks_exact_mut(dh)) {
        scores.fill(0.0);
        for (&qd, krow) in qi.iter().zip(kt.chunks_exact(n)) {
            for (s, &k) in scores.iter_mut().zip(krow) {
                *s += qd * k;
            }
        }
        softmax(&mut scores);
        for (&p, vrow) in scores.iter().zip(v.chunks_exact(dh)) {
            for (o, &x) in out.iter_mut().zip(vrow) {
                *o += p * x;
            }
        }
    }
    ctx
}

/// Softmax of one row in place.
fn softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    row.iter_mut().for_each(|v| *v = fast_exp(*v - max));
    let inv = 1.0 / lane_sum(row, |v| v);
    row.iter_mut().for_each(|v| *v *= inv);
}

/// `e^x` for `x ≤ 0` without a libm call, so that loops over it vectorise (Cephes' `expf`:
/// `x = n·ln 2 + r`, a degree-6 polynomial in `r`, then `2^n` put into the exponent bits);
/// within 2 ulp down to −87, where it stops (e^−87 ≈ 1.6e-38, nothing next to a softmax's 1).
fn fast_exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 in two parts, so that `x − n·ln 2` loses no bits.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2²³: adding and subtracting it rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    const P: [f32; 6] = [
        1.987_569_1e-4,
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        0.166_666_65,
        0.5,
    ];
    let x = x.clamp(-87.0, 0.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = P.iter().fold(0.0, |acc, &c| acc * r + c);
    let e = p * r * r + r + 1.0;
    // n is in −126..=0 here, so 127 + n is a valid biased exponent.
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// `gelu(x + bias)` for every row of `x`: the exact (erf) GELU of BERT. In place on the CPU.
pub fn bias_gelu(x: Tensor, bias: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 && x.is_contiguous() {
        x.inplace_op2(&bias.contiguous()?, &BiasGelu)?;
        Ok(x)
    } else {
        x.broadcast_add(bias)?.gelu_erf()
    }
}

/// The rational approximation of erf that Eigen and XLA use for f32 (a few ulp from the exact
/// one on [−4, 4], ±1 beyond).
fn fast_erf(x: f32) -> f32 {
    // Lowest power first.
    const ALPHA: [f32; 7] = [
        -1.609_603_3e-2,
        -2.954_600_1e-3,
        -7.349_906_3e-4,
        -5.692_506_4e-5,
        -2.101_024e-6,
        2.770_681_4e-8,
        -2.726_142_3e-10,
    ];
    const BETA: [f32; 5] = [
        -1.426_473_9e-2,
        -7.373_329_2e-3,
        -1.682_827e-3,
        -2.133_740_6e-4,
        -1.456_607_2e-5,
    ];
    odd_rational(x.clamp(-4.0, 4.0), &ALPHA, &BETA).clamp(-1.0, 1.0)
}

/// `0.5·x·(1 + erf(x/√2))`.
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + fast_erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

struct BiasGelu;

impl InplaceOp2 for BiasGelu {
    fn name(&self) -> &'static str {
        "bert-bias-gelu"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        let bias = f32_data(s2, l2, self.name())?;
        let x = f32_data_mut(s1, l1, self.name())?;
        if bias.is_empty() || x.len() % bias.len() != 0 {
            bail!(
                "bert-bias-gelu: a bias of {} for {} values",
                bias.len(),
                x.len()
            );
        }
        x.par_chunks_mut(bias.len() * ROWS_PER_TASK)
            .for_each(|rows| {
                for row in rows.chunks_exact_mut(bias.len()) {
                    for (v, &b) in row.iter_mut().zip(bias) {
                        *v = gelu(*v + b);
                    }
                }
            });
        Ok(())
    }
}

/// `layer_norm(x + bias + residual)` over each row, with `params` = `[bias; weight; norm bias]`
/// (`[3, H]`) and `eps`: a BERT sub-layer's output step. In place on `x` on the CPU.
pub fn residual_norm(x: Tensor, residual: &Tensor, params: &Tensor, eps: f32) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 && x.is_contiguous() {
        x.inplace_op3(
            &residual.contiguous()?,
            &params.contiguous()?,
            &ResidualNorm { eps },
        )?;
        Ok(x)
    } else {
        let sum = x.broadcast_add(&params.get(0)?)?.add(residual)?;
        layer_norm(&sum, &params.get(1)?, &params.get(2)?, eps)
    }
}

struct ResidualNorm {
    eps: f32,
}

impl InplaceOp3 for ResidualNorm {
    fn name(&self) -> &'static str {
        "bert-residual-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<()> {
        let residual = f32_data(s2, l2, self.name())?;
        let params = f32_data(s3, l3, self.name())?;
        let x = f32_data_mut(s1, l1, self.name())?;
        let n = params.len() / 3;
        if n == 0 || params.len() != 3 * n || x.len() != residual.len() || x.len() % n != 0 {
            bail!(
                "bert-residual-norm: {} values, {} residuals, {} parameters",
                x.len(),
                residual.len(),
                params.len()
            );
        }
        let (bias, affine) = params.split_at(n);
        let (weight, shift) = affine.split_at(n);
        x.par_chunks_mut(n * ROWS_PER_TASK)
            .zip(residual.par_chunks(n * ROWS_PER_TASK))
            .for_each(|(rows, res)| {
                for ((v, &r), &b) in rows.iter_mut().zip(res).zip(bias.iter().cycle()) {
                    *v += r + b;
                }
                normalise_rows_affine(rows, weight, shift, self.eps);
            });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kernels::tests::max_diff;
    use candle_core::Device;

    /// The packed attention kernel equals the composed one, texts of 1 to 40 tokens together.
    #[test]
    fn attention_kernel_matches_the_composed_form() -> Result<()> {
        let lens = [7, 1, 40, 13];
        let (heads, width) = (4, 32);
        let tokens: usize = lens.iter().sum();
        let qkv = Tensor::randn(0f32, 1.5, (tokens, 3 * width), &Device::Cpu)?;
        let bias = Tensor::randn(0f32, 0.5, 3 * width, &Device::Cpu)?;
        let fast = attention(&qkv, &bias, &lens, heads)?;
        let slow = attention_composed(&qkv, &bias, &lens, heads)?;
        assert_eq!(fast.dims(), [tokens, width]);
        let diff = max_diff(&fast, &slow)?;
        assert!(diff < 1e-5, "attention differs by {diff}");
        // A batch that does not add up is an error, not a wrong answer.
        assert!(attention(&qkv, &bias, &[7, 1], heads).is_err());
        Ok(())
    }

    /// The fused GELU and residual + layer norm equal candle's composed forms.
    #[test]
    fn fused_steps_match_the_composed_forms() -> Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 3.0, (70, 48), &dev)?;
        let bias = Tensor::randn(0f32, 1.0, 48, &dev)?;
        let slow = x.broadcast_add(&bias)?.gelu_erf()?;
        let fast = bias_gelu(x.copy()?, &bias)?;
        let diff = max_diff(&fast, &slow)?;
        assert!(diff < 2e-6, "GELU differs by {diff}");

        let residual = Tensor::randn(0f32, 1.0, (70, 48), &dev)?;
        let params = Tensor::randn(0f32, 1.0, (3, 48), &dev)?;
        let sum = x.broadcast_add(&params.get(0)?)?.add(&residual)?;
        let centred = sum.broadcast_sub(&sum.mean_keepdim(1)?)?;
        let var = centred.sqr()?.mean_keepdim(1)?;
        let slow = centred
            .broadcast_div(&(var + 1e-12)?.sqrt()?)?
            .broadcast_mul(&params.get(1)?)?
            .broadcast_add(&params.get(2)?)?;
        let fast = residual_norm(x.copy()?, &residual, &params, 1e-12)?;
        let diff = max_diff(&fast, &slow)?;
        assert!(diff < 1e-4, "residual + norm differs by {diff}");
        Ok(())
    }

    /// The vectorisable exp and erf stay within a few ulp of the exact ones.
    #[test]
    fn fast_exp_and_erf_match_the_exact_ones() {
        let worst_exp = (0..=870_000)
            .map(|i| -(i as f32) * 1e-4)
            .map(|v| ((fast_exp(v) - v.exp()) / v.exp()).abs())
            .fold(0f32, f32::max);
        assert!(worst_exp < 3e-7, "exp: worst relative error {worst_exp}");
        assert!(fast_exp(-200.0) < 1e-37);
        let exact = |v: f32| candle_core::cpu::erf::erf_f64(f64::from(v)) as f32;
        let worst_erf = (-60_000..=60_000)
            .map(|i| i as f32 * 1e-4)
            .chain([9.0, -9.0, 1e-30])
            .map(|v| (fast_erf(v) - exact(v)).abs())
            .fold(0f32, f32::max);
        assert!(worst_erf < 5e-7, "erf: worst error {worst_erf}");
    }
}
