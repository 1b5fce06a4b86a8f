//! Evaluation (metrics plus per-sample results) and single predictions.

use std::path::{Path, PathBuf};

use candle_core::{D, Tensor};

use super::metrics::{Metrics, classification};
use super::{Batcher, EngineError};
use crate::data::audio::{MelSpectrogram, Waveform};
use crate::data::{FeatureConfig, Origin, Sample, Split, TextInput, image, text};
use crate::model::checkpoint::LoadedModel;
use crate::model::{FusionModel, WeightKind};

/// Samples per evaluation forward pass: activations cost ~1.8 MB per sample. `fusionlab eval` on
/// 2800 training samples: 16 takes 5.3 s / 259 MB, 32 takes 6.2 s / 299 MB, 128 was slower still.
const EVAL_BATCH: usize = 16;

/// What the model made of one sample.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SampleResult {
    /// The sample's id.
    pub id: String,
    /// True class.
    pub label: usize,
    /// Predicted class.
    pub predicted: usize,
    /// Class probabilities.
    pub probs: Vec<f32>,
    /// Modality weights (sum to 1 over present modalities).
    pub weights: [f32; 3],
    /// Which modalities the sample had.
    pub present: [bool; 3],
    /// Per-modality embeddings (zeros when absent).
    pub embeddings: [Vec<f32>; 3],
    /// Fused embedding.
    pub fused: Vec<f32>,
    /// Where each encoder looked: image positions (row-major square), words, audio frames.
    pub attention: [Vec<f32>; 3],
}

/// Metrics and, when asked, per-sample results.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evaluation {
    /// Scores.
    pub metrics: Metrics,
    /// Where the weights come from.
    pub weight_kind: WeightKind,
    /// One entry per evaluated sample, in input order (empty unless detailed).
    pub samples: Vec<SampleResult>,
}

pub(super) fn rows(t: &Tensor) -> Result<Vec<Vec<f32>>, EngineError> {
    Ok(t.to_vec2::<f32>()?)
}

/// Evaluate `samples`. Returns `None` when `cancelled` turned true (checked every batch).
/// `detailed` keeps per-sample results (probabilities, weights, embeddings, attention).
pub fn evaluate(
    model: &FusionModel,
    batcher: &Batcher<'_>,
    samples: &[&Sample],
    classes: usize,
    detailed: bool,
    cancelled: &dyn Fn() -> bool,
) -> Result<Option<Evaluation>, EngineError> {
    let mut labels = Vec::with_capacity(samples.len());
    let mut predicted = Vec::with_capacity(samples.len());
    let mut loss_sum = 0f64;
    let mut weight_sum = [0f64; 3];
    let mut only = [(0usize, 0usize); 3]; // (correct, total) per modality
    let mut results = Vec::new();
    for chunk in samples.chunks(EVAL_BATCH) {
        if cancelled() {
            return Ok(None);
        }
        let batch = batcher.batch(chunk, None)?;
        let enc = model.encode(&batch)?;
        let out = model.forward_encoded(&enc, &batch.present, true)?;
        if let Some(l) = &batch.labels {
            let loss = candle_nn::loss::cross_entropy(&out.logits, l)?.to_scalar::<f32>()?;
            loss_sum += f64::from(loss) * chunk.len() as f64;
        }
        let pred: Vec<usize> = out
            .logits
            .argmax(D::Minus1)?
            .to_vec1::<u32>()?
            .into_iter()
            .map(|p| p as usize)
            .collect();
        let weights = match &out.weights {
            Some(w) => rows(w)?,
            None => vec![vec![0.0; 3]; chunk.len()],
        };
        for w in &weights {
            for m in 0..3 {
                weight_sum[m] += f64::from(w[m]);
            }
        }
        for (m, slot) in only.iter_mut().enumerate() {
            if !chunk.iter().any(|s| s.presence().0[m]) {
                continue;
            }
            let mut keep = [false; 3];
            keep[m] = true;
            let logits = model.fuse_masked(&enc, &batch.present, keep)?;
            let p = logits.argmax(D::Minus1)?.to_vec1::<u32>()?;
            for (s, &p) in chunk.iter().zip(&p) {
                if s.presence().0[m] {
                    slot.1 += 1;
                    slot.0 += usize::from(p as usize == s.label);
                }
            }
        }
        if detailed {
            let probs = rows(&candle_nn::ops::softmax(&out.logits, D::Minus1)?)?;
            let emb = [
                rows(&out.embeddings[0])?,
                rows(&out.embeddings[1])?,
                rows(&out.embeddings[2])?,
            ];
            let fused = rows(&out.fused)?;
            let att = [
                rows(&out.attention[0])?,
                rows(&out.attention[1])?,
                rows(&out.attention[2])?,
            ];
            for (i, s) in chunk.iter().enumerate() {
                // One weight per token read: words, or for a text on its backbone its word
                // pieces ([CLS] and [SEP] included), which the input thread merges onto words.
                let words = s.backbone.get(1).map_or_else(
                    || {
                        s.text
                            .as_ref()
                            .map_or(0, |t| t.words.len().min(batcher.config.max_tokens))
                    },
                    |tokens| tokens.rows(),
                );
                results.push(SampleResult {
                    id: s.id.clone(),
                    label: s.label,
                    predicted: pred[i],
                    probs: probs[i].clone(),
                    weights: [weights[i][0], weights[i][1], weights[i][2]],
                    present: s.presence().0,
                    embeddings: [emb[0][i].clone(), emb[1][i].clone(), emb[2][i].clone()],
                    fused: fused[i].clone(),
                    attention: [
                        att[0][i].clone(),
                        att[1][i].iter().take(words).copied().collect(),
                        att[2][i].clone(),
                    ],
                });
            }
        }
        labels.extend(chunk.iter().map(|s| s.label));
        predicted.extend(pred);
    }
    let mut metrics = classification(&labels, &predicted, classes);
    let n = samples.len().max(1) as f64;
    metrics.loss = (loss_sum / n) as f32;
    metrics.mean_weights = weight_sum.map(|w| (w / n) as f32);
    metrics.modality_only = only.map(|(c, t)| (t > 0).then(|| c as f32 / t as f32));
    Ok(Some(Evaluation {
        metrics,
        weight_kind: model.config().fusion.weight_kind(),
        samples: results,
    }))
}

/// An image given to `predict`.
#[derive(Clone, Debug, PartialEq)]
pub enum ImageInput {
    /// A file to decode.
    File(PathBuf),
    /// 8-bit RGB pixels, row-major.
    Rgb {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// `width × height × 3` bytes.
        pixels: Vec<u8>,
    },
}

/// A sound given to `predict`.
#[derive(Clone, Debug, PartialEq)]
pub enum AudioInput {
    /// A WAV file.
    File(PathBuf),
    /// Mono samples in −1..1 (a recording).
    Samples {
        /// Samples per second.
        sample_rate: u32,
        /// The samples.
        samples: Vec<f32>,
    },
}

/// Raw inputs for one prediction; any subset.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawInput {
    /// Picture.
    pub image: Option<ImageInput>,
    /// Sentence (empty or blank counts as absent).
    pub text: Option<String>,
    /// Sound.
    pub audio: Option<AudioInput>,
}

/// Decode and preprocess raw inputs exactly as the training data was.
pub fn prepare_input(raw: &RawInput, features: &FeatureConfig) -> Result<Sample, EngineError> {
    let bad = |e: String| EngineError::Data(e);
    let image = match &raw.image {
        None => None,
        Some(ImageInput::File(path)) => Some(
            image::load_image(path, &features.image)
                .map_err(|e| bad(format!("{}: {e}", path.display())))?,
        ),
        Some(ImageInput::Rgb {
            width,
            height,
            pixels,
        }) => {
            let img =
                ::image::RgbImage::from_raw(*width, *height, pixels.clone()).ok_or_else(|| {
                    bad(format!(
                        "image buffer has {} bytes, expected {width}×{height}×3",
                        pixels.len()
                    ))
                })?;
            Some(image::preprocess(
                &::image::DynamicImage::ImageRgb8(img),
                &features.image,
            ))
        }
    };
    let text = raw
        .text
        .as_deref()
        .and_then(text::tokenize)
        .map(|words| TextInput {
            raw: raw.text.clone().unwrap_or_default(),
            ids: Vec::new(),
            words,
        });
    let mel = MelSpectrogram::new(&features.audio);
    let audio = match &raw.audio {
        None => None,
        Some(AudioInput::File(path)) => Some(
            mel.features_from_file(path)
                .map_err(|e| bad(format!("{}: {e}", path.display())))?,
        ),
        Some(AudioInput::Samples {
            sample_rate,
            samples,
        }) => {
            if samples.is_empty() {
                return Err(bad(
                    "the recording is empty; record again (check the microphone level)".into(),
                ));
            }
            let wave = Waveform {
                samples: samples.clone(),
                sample_rate: *sample_rate,
            };
            Some(
                mel.features(&wave, Path::new("recording"))
                    .map_err(|e| bad(format!("recording: {e}")))?,
            )
        }
    };
    if image.is_none() && text.is_none() && audio.is_none() {
        return Err(bad(
            "nothing to predict from: give an image, some text (not only spaces or punctuation) or a sound".into(),
        ));
    }
    Ok(Sample {
        id: "input".to_owned(),
        label: 0,
        split: Split::Test,
        image,
        text,
        audio,
        origin: Origin::Files {
            image: None,
            audio: None,
        },
        backbone: Default::default(),
    })
}

/// One prediction with everything needed to explain it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Prediction {
    /// Class names.
    pub classes: Vec<String>,
    /// Best class.
    pub predicted: usize,
    /// Probabilities per class.
    pub probs: Vec<f32>,
    /// Modality weights.
    pub weights: [f32; 3],
    /// `native` or `shapley`.
    pub weight_kind: WeightKind,
    /// Which modalities were given.
    pub present: [bool; 3],
    /// The words the model read (unknown words shown as `[UNK]`).
    pub words: Vec<String>,
    /// Where each encoder looked: image (square grid, row-major), words, audio frames.
    pub attention: [Vec<f32>; 3],
    /// Side of the image attention grid.
    pub image_grid: usize,
    /// Milliseconds of audio per frame of the audio attention.
    pub frame_ms: f32,
    /// Clip time (ms) where frame 0 of the audio attention starts; see [`Prediction::frame_span_ms`].
    #[serde(default)]
    pub frame_offset_ms: f32,
    /// Milliseconds of audio `spectrogram` shows.
    #[serde(default, skip_serializing)]
    pub spectrogram_ms: f32,
    /// The log-mel spectrogram the model heard (`mel_bins × frames`, mel-major); empty without
    /// audio. Not in the JSON output.
    #[serde(default, skip_serializing)]
    pub spectrogram: Vec<f32>,
    /// Mel bins of `spectrogram`.
    #[serde(default, skip_serializing)]
    pub mel_bins: usize,
    /// Per-modality embeddings (empty for an absent modality), for projections.
    #[serde(default, skip_serializing)]
    pub embeddings: [Vec<f32>; 3],
    /// The fused embedding.
    #[serde(default, skip_serializing)]
    pub fused: Vec<f32>,
}

impl Prediction {
    /// The stretch of the clip (ms) that frame `k` of the audio attention stands for: the hop
    /// around its window's centre. Negative times lie in the silence put before the clip.
    pub fn frame_span_ms(&self, k: usize) -> (f32, f32) {
        let start = self.frame_offset_ms + k as f32 * self.frame_ms;
        (start, start + self.frame_ms)
    }
}

/// Predict one prepared sample.
pub fn predict(
    loaded: &LoadedModel,
    sample: &Sample,
    device: &candle_core::Device,
) -> Result<Prediction, EngineError> {
    let batcher = Batcher {
        config: loaded.model.config(),
        vocab: &loaded.card.vocab,
        device,
    };
    let k = loaded.card.classes.len();
    let eval = evaluate(&loaded.model, &batcher, &[sample], k, true, &|| false)?
        .ok_or_else(|| EngineError::Data("prediction was interrupted".into()))?;
    let r = eval
        .samples
        .into_iter()
        .next()
        .ok_or_else(|| EngineError::Data("no prediction came back".into()))?;
    let cfg = loaded.model.config();
    let words = sample.text.as_ref().map_or_else(Vec::new, |t| {
        loaded
            .card
            .vocab
            .encode(&t.words, cfg.max_tokens)
            .iter()
            .zip(&t.words)
            .map(|(&id, w)| {
                if id == text::UNK {
                    format!("{w} [UNK]")
                } else {
                    w.clone()
                }
            })
            .collect()
    });
    let hop = loaded.card.features.audio.hop_ms;
    let image_tokens = r.attention[0].len();
    let frame_ms = match cfg.backbones.audio {
        // A window every 8 mel frames of 10 ms.
        Some(_) => crate::model::pretrained::speech::WINDOW_HOP as f32 * 10.0,
        None => hop * 4.0,
    };
    Ok(Prediction {
        classes: loaded.card.classes.clone(),
        predicted: r.predicted,
        probs: r.probs,
        weights: r.weights,
        weight_kind: eval.weight_kind,
        present: r.present,
        words,
        attention: r.attention,
        image_grid: match cfg.backbones.image {
            // The backbone's square map of positions (7 × 7 for EfficientNet-Lite0).
            Some(_) => (image_tokens as f64).sqrt().round() as usize,
            None => cfg.image_size / 4,
        },
        frame_ms,
        frame_offset_ms: match cfg.backbones.audio {
            Some(_) => crate::model::pretrained::speech::FIRST_WINDOW_CENTRE_MS - frame_ms / 2.0,
            None => 0.0,
        },
        spectrogram_ms: sample.audio.as_ref().map_or(0.0, |a| {
            a.len() as f32 / loaded.card.features.audio.n_mels.max(1) as f32 * hop
        }),
        spectrogram: sample.audio.clone().unwrap_or_default(),
        mel_bins: loaded.card.features.audio.n_mels,
        embeddings: std::array::from_fn(|m| {
            if r.present[m] {
                r.embeddings[m].clone()
            } else {
                Vec::new()
            }
        }),
        fused: r.fused,
    })
}
