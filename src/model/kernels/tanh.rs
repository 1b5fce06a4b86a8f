//! A vectorisable tanh with its gradient.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};

use super::f32_data;

/// `tanh(x)` from a rational approximation the compiler vectorises (libm's `tanhf`, which candle
/// calls per element, was a tenth of a training step on backbone tokens); within 5e-7 of it.
/// Composed from candle's op off the CPU.
pub fn tanh(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        x.contiguous()?.apply_op1(Tanh)
    } else {
        x.tanh()
    }
}

/// The rational approximation of [`tanh`] (Eigen's float kernel), exact to a few ulps.
fn fast_tanh(x: f32) -> f32 {
    const CLAMP: f32 = 7.905_311;
    const ALPHA: [f32; 7] = [
        4.893_524_6e-3,
        6.372_619_3e-4,
        1.485_722_4e-5,
        5.122_297e-8,
        -8.604_672e-11,
        2.000_188e-13,
        -2.760_768_5e-16,
    ];
    const BETA: [f32; 4] = [4.893_525e-3, 2.268_434_6e-3, 1.185_347_1e-4, 1.198_258_4e-6];
    odd_rational(x.clamp(-CLAMP, CLAMP), &ALPHA, &BETA)
}

/// `x · P(x²) / Q(x²)`, with the polynomials' coefficients lowest power first: the form of
/// Eigen's float tanh and erf. Branch-free, so loops over it vectorise.
pub fn odd_rational(x: f32, p: &[f32], q: &[f32]) -> f32 {
    let x2 = x * x;
    let p = p.iter().rev().fold(0.0, |acc, &a| acc * x2 + a);
    let q = q.iter().rev().fold(0.0, |acc, &b| acc * x2 + b);
    x * p / q
}

struct Tanh;

impl CustomOp1 for Tanh {
    fn name(&self) -> &'static str {
        "tanh"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_data(storage, layout, self.name())?;
        let out: Vec<f32> = x.iter().map(|&v| fast_tanh(v)).collect();
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // d tanh = 1 − tanh².
        Ok(Some(grad.mul(&(1.0 - res.sqr()?)?)?))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::gradient_gaps;
    use super::*;
    use candle_core::{Device, Var};

    /// The fast tanh stays within 5e-7 of the exact one, and its gradient is 1 − tanh².
    #[test]
    fn tanh_matches_the_exact_one() -> Result<()> {
        let worst = (-200_000..=200_000)
            .map(|i| i as f32 * 1e-4)
            .chain([30.0, -30.0, 1e-30, -1e-30, 0.0])
            .map(|v| (fast_tanh(v) - v.tanh()).abs())
            .fold(0f32, f32::max);
        assert!(worst < 5e-7, "worst error {worst}");
        let x = Var::from_tensor(&Tensor::randn(0f32, 2.0, (3, 50), &Device::Cpu)?)?;
        let g = tanh(x.as_tensor())?.sum_all()?.backward()?;
        let exact = x.as_tensor().tanh()?.sum_all()?.backward()?;
        for (_, diff, _) in gradient_gaps(&g, &exact, &[("input", &x)])? {
            assert!(diff < 1e-6, "gradients differ by {diff}");
        }
        Ok(())
    }
}
