//! EfficientNet-Lite0's CPU kernels: depthwise convolution over zero-bordered planes, and bias +
//! ReLU6 in one in-place pass.

use candle_core::Result;
use rayon::prelude::*;

use crate::model::kernels::{f32_data, f32_data_mut};

/// Depthwise convolution as plain loops over each channel plane (3 × 3 and 5 × 5, stride 1 or 2),
/// for the CPU: candle's grouped conv2d runs one convolution per channel and the tap sum copies a
/// full map per tap (together ~10× slower than this at batch 1 on two cores).
pub(super) struct DepthwiseCpu<'a> {
    /// `C × k × k` tap weights.
    pub taps: &'a [f32],
    /// Kernel size `k`.
    pub kernel: usize,
    /// Stride (1 or 2).
    pub stride: usize,
    /// Zero rows above and columns left of the input (SAME padding).
    pub pad: (usize, usize),
}

impl candle_core::CustomOp1 for DepthwiseCpu<'_> {
    fn name(&self) -> &'static str {
        "efficientnet-depthwise"
    }

    fn cpu_fwd(
        &self,
        storage: &candle_core::CpuStorage,
        layout: &candle_core::Layout,
    ) -> Result<(candle_core::CpuStorage, candle_core::Shape)> {
        let data = f32_data(storage, layout, self.name())?;
        let (b, c, h, w) = layout.shape().dims4()?;
        let (k, s) = (self.kernel, self.stride);
        let (ho, wo) = (h.div_ceil(s), w.div_ceil(s));
        if self.taps.len() != c * k * k {
            candle_core::bail!(
                "depthwise: {} taps for {c} channels of {k} × {k}",
                self.taps.len()
            );
        }
        let mut out = vec![0f32; b * c * ho * wo];
        let planes = data.par_chunks_exact(h * w);
        type Plane = fn(&[f32], (usize, usize), (usize, usize), &[f32], &mut Vec<f32>, &mut [f32]);
        let fixed: Option<Plane> = match (k, s) {
            (3, 1) => Some(plane::<3, 1>),
            (5, 1) => Some(plane::<5, 1>),
            (3, 2) => Some(plane::<3, 2>),
            (5, 2) => Some(plane::<5, 2>),
            _ => None,
        };
        let Some(run) = fixed else {
            candle_core::bail!("depthwise: no CPU kernel for {k} × {k} at stride {s}")
        };
        out.par_chunks_exact_mut(ho * wo)
            .zip(planes)
            .enumerate()
            .for_each_init(Vec::new, |padded, (i, (dst, src))| {
                let taps = &self.taps[(i % c) * k * k..][..k * k];
                run(src, (h, w), self.pad, taps, padded, dst);
            });
        Ok((candle_core::CpuStorage::F32(out), (b, c, ho, wo).into()))
    }
}

/// Per-channel bias then (optionally) ReLU6 in one pass over a fresh `B × C × H × W` output, for
/// the CPU: a broadcast add and a clamp are three passes and two allocations.
pub(super) struct BiasAct<'a> {
    /// One bias per channel.
    pub bias: &'a [f32],
    /// Clamp to 0..6 after the bias.
    pub relu6: bool,
}

impl candle_core::InplaceOp1 for BiasAct<'_> {
    fn name(&self) -> &'static str {
        "efficientnet-bias-act"
    }

    fn cpu_fwd(
        &self,
        storage: &mut candle_core::CpuStorage,
        layout: &candle_core::Layout,
    ) -> Result<()> {
        let data = f32_data_mut(storage, layout, self.name())?;
        let (_, c, h, w) = layout.shape().dims4()?;
        if self.bias.len() != c {
            candle_core::bail!("bias-act: {} biases for {c} channels", self.bias.len());
        }
        data.par_chunks_exact_mut(h * w)
            .enumerate()
            .for_each(|(plane, values)| {
                let b = self.bias[plane % c];
                if self.relu6 {
                    values
                        .iter_mut()
                        .for_each(|v| *v = (*v + b).clamp(0.0, 6.0));
                } else {
                    values.iter_mut().for_each(|v| *v += b);
                }
            });
        Ok(())
    }
}

/// One plane of a depthwise convolution with a `K × K` kernel at stride `S`: the plane is copied
/// into a zero-bordered buffer (`padded`, reused), so every output row is `K²` branch-free
/// multiply-adds that the compiler unrolls.
fn plane<const K: usize, const S: usize>(
    src: &[f32],
    (h, w): (usize, usize),
    (top, left): (usize, usize),
    taps: &[f32],
    padded: &mut Vec<f32>,
    dst: &mut [f32],
) {
    let (ho, wo) = (h.div_ceil(S), w.div_ceil(S));
    // SAME padding: `top` rows and `left` columns before the map, the rest after it.
    let (ph, pw) = ((ho - 1) * S + K, (wo - 1) * S + K);
    padded.clear();
    padded.resize(ph * pw, 0.0);
    for (y, row) in src.chunks_exact(w).enumerate() {
        let at = (y + top) * pw + left;
        padded[at..at + w].copy_from_slice(row);
    }
    for (oy, drow) in dst.chunks_exact_mut(wo).enumerate() {
        for ky in 0..K {
            let prow = &padded[(oy * S + ky) * pw..][..pw];
            let t = &taps[ky * K..][..K];
            for (ox, d) in drow.iter_mut().enumerate() {
                let window = &prow[ox * S..ox * S + K];
                let mut acc = 0.0;
                for kx in 0..K {
                    acc += t[kx] * window[kx];
                }
                *d += acc;
            }
        }
    }
}
