//! Backbone tokens for a dataset: each input goes through its frozen backbone once; the tokens
//! are kept in the on-disk [`TokenCache`] keyed by the input's content, so later runs, comparisons
//! and reopened sessions read them instead of running the backbone again.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};

use super::{AudioInput, EngineError, ImageInput, RawInput};
use crate::data::tokens::{TokenCache, TokenMatrix};
use crate::data::{Dataset, FeatureConfig, Origin, Sample, audio, image as data_image};

use crate::model::pretrained::efficientnet::{self, EfficientNetLite0};
use crate::model::pretrained::minilm::{self, MiniLm};
use crate::model::pretrained::speech::{self, SpeechEmbedding};
use crate::model::pretrained::store::Store;
use crate::model::pretrained::wordpiece::Encoding;
use crate::model::{Backbone, Backbones};

/// Inputs per backbone call.
const BATCH: usize = 16;

/// Where the backbones and the cache live.
#[derive(Clone, Debug)]
pub struct ExtractOptions {
    /// The installed backbones.
    pub store: Store,
    /// The root of the token cache.
    pub cache_root: PathBuf,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        Self {
            store: Store::from_env(),
            cache_root: TokenCache::default_root(),
        }
    }
}

/// Told about progress; asked whether to stop.
pub trait ExtractObserver {
    /// `done` of `total` inputs have tokens (from the cache or computed).
    fn progress(&self, done: usize, total: usize);
    /// Whether the user asked to stop.
    fn cancelled(&self) -> bool;
}

/// What an extraction did, per modality (image, text, audio).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct ExtractReport {
    /// Inputs run through their backbone.
    pub computed: [usize; 3],
    /// Inputs found in the cache.
    pub cached: [usize; 3],
    /// Wall time in seconds.
    pub seconds: f32,
    /// Bytes of tokens held in memory afterwards.
    pub bytes: usize,
}

/// The cache variant of a backbone: its name plus what fixes its input (size, rate).
pub fn variant(backbone: Backbone) -> String {
    match backbone {
        Backbone::EfficientNetLite0 => format!("{backbone}-{}px", efficientnet::INPUT_SIZE),
        Backbone::MiniLm => format!("{backbone}-{}tok", minilm::MAX_TOKENS),
        // `lead500ms`: entries made before the lead-in silence (speech::LEAD_SAMPLES) differ.
        Backbone::SpeechEmbedding => format!(
            "{backbone}-{}hz-lead{}ms",
            speech::SAMPLE_RATE,
            speech::LEAD_SAMPLES as u32 * 1000 / speech::SAMPLE_RATE
        ),
    }
}

/// Runs the backbones, keeping each one loaded after its first use (loading MiniLM alone reads
/// 91 MB), and the token cache.
pub struct Extractor {
    options: ExtractOptions,
    device: Device,
    runners: [Option<Runner>; 3],
}

impl Extractor {
    /// An extractor that loads backbones onto `device` when first needed.
    pub fn new(options: ExtractOptions, device: Device) -> Self {
        Self {
            options,
            device,
            runners: [None, None, None],
        }
    }

    /// Uses another cache root from now on (the loaded backbones stay loaded).
    pub fn set_cache_root(&mut self, root: PathBuf) {
        self.options.cache_root = root;
    }

    /// Gives every sample of a dataset the tokens of each modality that has a backbone in
    /// `backbones`. Samples already holding tokens are left alone. `Ok(None)` when cancelled.
    pub fn dataset(
        &mut self,
        dataset: &mut Dataset,
        backbones: &Backbones,
        observer: &dyn ExtractObserver,
    ) -> Result<Option<ExtractReport>, EngineError> {
        let started = Instant::now();
        let mut report = ExtractReport::default();
        let samples = &mut dataset.samples;
        let todo: Vec<(usize, Vec<usize>)> = (0..3)
            .filter(|&m| backbones.get(m).is_some())
            .map(|m| {
                let wanted = (0..samples.len())
                    .filter(|&i| samples[i].presence().0[m] && samples[i].backbone.get(m).is_none())
                    .collect();
                (m, wanted)
            })
            .collect();
        let total: usize = todo.iter().map(|(_, w)| w.len()).sum();
        let mut done = 0;
        observer.progress(0, total);
        for (m, wanted) in todo {
            let Some(backbone) = backbones.get(m) else {
                continue;
            };
            for chunk in wanted.chunks(BATCH) {
                if observer.cancelled() {
                    return Ok(None);
                }
                let inputs = chunk
                    .iter()
                    .map(|&i| Input::of(&samples[i], m, &dataset.features))
                    .collect::<Result<Vec<_>, _>>()?;
                let tokens = self.tokens(backbone, m, inputs, &mut report)?;
                for (&i, t) in chunk.iter().zip(tokens) {
                    samples[i].backbone.0[m] = Some(t);
                }
                done += chunk.len();
                observer.progress(done, total);
            }
        }
        report.seconds = started.elapsed().as_secs_f32();
        report.bytes = samples
            .iter()
            .flat_map(|s| s.backbone.0.iter().flatten())
            .map(TokenMatrix::bytes)
            .sum();
        Ok(Some(report))
    }

    /// Gives one prepared input `sample` the tokens of its raw inputs, for each backbone.
    pub fn input(
        &mut self,
        raw: &RawInput,
        sample: &mut Sample,
        backbones: &Backbones,
    ) -> Result<(), EngineError> {
        let mut report = ExtractReport::default();
        for m in 0..3 {
            let Some(backbone) = backbones.get(m) else {
                continue;
            };
            if !sample.presence().0[m] {
                continue;
            }
            let input = Input::raw(raw, m)?;
            sample.backbone.0[m] = self.tokens(backbone, m, vec![input], &mut report)?.pop();
        }
        Ok(())
    }

    /// How the text backbone splits `text` into word pieces (loads it when needed).
    pub fn word_pieces(&mut self, text: &str) -> Result<Encoding, EngineError> {
        if !matches!(self.runners[1], Some(Runner::Text(_))) {
            self.runners[1] = Some(Runner::load(
                Backbone::MiniLm,
                &self.options.store,
                &self.device,
            )?);
        }
        match &self.runners[1] {
            Some(Runner::Text(net)) => Ok(net.tokenizer().encode(text, minilm::MAX_TOKENS)),
            _ => Err(EngineError::Data("the text backbone did not load".into())),
        }
    }

    /// Tokens for `inputs` of modality `m`: from the cache, else from the backbone (then cached).
    fn tokens(
        &mut self,
        backbone: Backbone,
        m: usize,
        inputs: Vec<Input>,
        report: &mut ExtractReport,
    ) -> Result<Vec<TokenMatrix>, EngineError> {
        let cache = TokenCache::new(&self.options.cache_root, &variant(backbone));
        let mut out: Vec<Option<TokenMatrix>> = Vec::with_capacity(inputs.len());
        let mut missing = Vec::new();
        for (j, input) in inputs.iter().enumerate() {
            let key = TokenCache::key(&input.key_bytes());
            match held(&cache, &key) {
                Some(tokens) if tokens.cols() == backbone.token_dim() => {
                    out.push(Some(tokens));
                    report.cached[m] += 1;
                }
                _ => {
                    out.push(None);
                    missing.push((j, key));
                }
            }
        }
        if !missing.is_empty() {
            if self.runners[m].is_none() {
                self.runners[m] = Some(Runner::load(backbone, &self.options.store, &self.device)?);
            }
            let Some(run) = self.runners[m].as_ref() else {
                return Err(EngineError::Data(format!(
                    "the {backbone} backbone did not load"
                )));
            };
            let wanted: Vec<&Input> = missing.iter().map(|&(j, _)| &inputs[j]).collect();
            let computed = run.tokens(&wanted, &self.device)?;
            for ((j, key), tokens) in missing.iter().zip(computed) {
                // A cache that cannot be written only costs time on the next run.
                let tokens = match cache.put(key, &tokens) {
                    Ok(()) => held(&cache, key).unwrap_or(tokens),
                    Err(e) => {
                        log::warn!("{e}");
                        tokens
                    }
                };
                out[*j] = Some(tokens);
                report.computed[m] += 1;
            }
        }
        out.into_iter()
            .map(|t| {
                t.ok_or_else(|| {
                    EngineError::Data(format!("the {backbone} backbone gave too few outputs"))
                })
            })
            .collect()
    }
}

/// One input as its backbone reads it.
enum Input {
    Image(image::RgbImage),
    Text(String),
    Audio(Vec<f32>),
}

impl Input {
    /// The input of modality `m` from a prediction's raw inputs.
    fn raw(raw: &RawInput, m: usize) -> Result<Self, EngineError> {
        let missing = || EngineError::Data("the input has no such modality".into());
        match m {
            0 => match raw.image.as_ref().ok_or_else(missing)? {
                ImageInput::File(path) => {
                    let img =
                        data_image::decode_image_file(path, &data_image::ImageConfig::default())
                            .map_err(|e| EngineError::Data(e.to_string()))?;
                    Ok(Self::Image(img.to_rgb8()))
                }
                ImageInput::Rgb {
                    width,
                    height,
                    pixels,
                } => image::RgbImage::from_raw(*width, *height, pixels.clone())
                    .map(Self::Image)
                    .ok_or_else(|| {
                        EngineError::Data(format!(
                            "the picture's pixels do not fill {width}×{height}"
                        ))
                    }),
            },
            1 => Ok(Self::Text(raw.text.clone().ok_or_else(missing)?)),
            _ => match raw.audio.as_ref().ok_or_else(missing)? {
                AudioInput::File(path) => Ok(Self::Audio(read_16k(path, 600.0)?)),
                AudioInput::Samples {
                    sample_rate,
                    samples,
                } => {
                    let wave = audio::Waveform {
                        samples: samples.clone(),
                        sample_rate: *sample_rate,
                    };
                    audio::resample(&wave, speech::SAMPLE_RATE, Path::new("recording"))
                        .map(Self::Audio)
                        .map_err(|e| EngineError::Data(e.to_string()))
                }
            },
        }
    }

    /// The input of modality `m` of a sample: the original file when there is one, else what the
    /// dataset holds (synthetic pictures are turned back into RGB).
    fn of(sample: &Sample, m: usize, features: &FeatureConfig) -> Result<Self, EngineError> {
        let (image_file, audio_file) = match &sample.origin {
            Origin::Files { image, audio } => (image.clone(), audio.clone()),
            Origin::Synthetic { .. } => (None, None),
        };
        match m {
            0 => match image_file {
                Some(path) => {
                    let img = data_image::decode_image_file(&path, &features.image)
                        .map_err(|e| EngineError::Data(e.to_string()))?;
                    Ok(Self::Image(img.to_rgb8()))
                }
                None => Ok(Self::Image(pixels_to_rgb(sample, &features.image)?)),
            },
            1 => Ok(Self::Text(
                sample
                    .text
                    .as_ref()
                    .map(|t| t.raw.clone())
                    .unwrap_or_default(),
            )),
            _ => match audio_file {
                Some(path) => Ok(Self::Audio(read_16k(&path, features.audio.max_seconds)?)),
                None => Err(EngineError::Data(format!(
                    "sample {}: the audio backbone needs the recording, and this dataset only holds log-mel spectrograms (synthetic sounds); train its audio from scratch",
                    sample.id
                ))),
            },
        }
    }

    /// What identifies the input's content.
    fn key_bytes(&self) -> Vec<u8> {
        match self {
            Self::Image(img) => {
                let mut bytes = format!("{}x{}:", img.width(), img.height()).into_bytes();
                bytes.extend_from_slice(img.as_raw());
                bytes
            }
            Self::Text(text) => text.as_bytes().to_vec(),
            Self::Audio(samples) => samples.iter().flat_map(|s| s.to_le_bytes()).collect(),
        }
    }
}

/// A 16 kHz mono waveform from a WAV file.
fn read_16k(path: &Path, max_seconds: f64) -> Result<Vec<f32>, EngineError> {
    let wave = audio::read_wav(path, max_seconds).map_err(|e| EngineError::Data(e.to_string()))?;
    audio::resample(&wave, speech::SAMPLE_RATE, path).map_err(|e| EngineError::Data(e.to_string()))
}

/// A sample's normalised CHW pixels back to an RGB picture.
fn pixels_to_rgb(
    sample: &Sample,
    cfg: &data_image::ImageConfig,
) -> Result<image::RgbImage, EngineError> {
    let side = cfg.size as usize;
    let px = sample.image.as_deref().unwrap_or_default();
    if px.len() != 3 * side * side {
        return Err(EngineError::Data(format!(
            "sample {}: image has {} values, expected 3×{side}×{side}",
            sample.id,
            px.len()
        )));
    }
    let plane = side * side;
    Ok(image::RgbImage::from_fn(cfg.size, cfg.size, |x, y| {
        let at = y as usize * side + x as usize;
        image::Rgb(std::array::from_fn(|c| {
            let v = px[c * plane + at] * cfg.std[c] + cfg.mean[c];
            (v * 255.0).round().clamp(0.0, 255.0) as u8
        }))
    }))
}

/// A loaded backbone (boxed: the three differ a lot in size).
enum Runner {
    Image(Box<EfficientNetLite0>),
    Text(Box<MiniLm>),
    Audio(Box<SpeechEmbedding>),
}

impl Runner {
    fn load(backbone: Backbone, store: &Store, device: &Device) -> Result<Self, EngineError> {
        let fail = |e: crate::model::pretrained::PretrainedError| EngineError::Data(e.to_string());
        let dir = store.installed(backbone).map_err(fail)?;
        Ok(match backbone {
            Backbone::EfficientNetLite0 => Self::Image(Box::new(
                EfficientNetLite0::load(&dir, device).map_err(fail)?,
            )),
            Backbone::MiniLm => Self::Text(Box::new(MiniLm::load(&dir, device).map_err(fail)?)),
            Backbone::SpeechEmbedding => {
                Self::Audio(Box::new(SpeechEmbedding::load(&dir, device).map_err(fail)?))
            }
        })
    }

    /// Tokens of each input, in order.
    fn tokens(&self, inputs: &[&Input], device: &Device) -> Result<Vec<TokenMatrix>, EngineError> {
        let wrong = || EngineError::Data("an input reached the wrong backbone".into());
        match self {
            Self::Image(net) => {
                let xs = inputs
                    .iter()
                    .map(|x| match x {
                        Input::Image(img) => {
                            efficientnet::preprocess(img).map_err(EngineError::from)
                        }
                        _ => Err(wrong()),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let x = Tensor::cat(&xs, 0)?.to_device(device)?;
                // B × 1280 × 7 × 7 → B × 49 × 1280: one token per position, row-major.
                let maps = net.features(&x)?;
                rows(&maps.flatten_from(2)?.transpose(1, 2)?)
            }
            Self::Text(net) => {
                let texts = inputs
                    .iter()
                    .map(|x| match x {
                        Input::Text(t) => Ok(t.as_str()),
                        _ => Err(wrong()),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let out = net
                    .encode_batch(&texts)
                    .map_err(|e| EngineError::Data(e.to_string()))?;
                let all = rows(&out.hidden)?;
                // Padding rows go: each text keeps its own word pieces, [CLS] and [SEP] included.
                all.into_iter()
                    .zip(&out.encodings)
                    .map(|(t, enc)| {
                        t.first_rows(enc.ids.len().max(1))
                            .ok_or_else(|| EngineError::Data("a text gave no tokens".into()))
                    })
                    .collect()
            }
            Self::Audio(net) => inputs
                .iter()
                .map(|x| match x {
                    Input::Audio(samples) => {
                        let t = Tensor::from_slice(samples, (1, samples.len()), device)?;
                        let emb = net.embed(&t)?;
                        Ok(rows(&emb)?.remove(0))
                    }
                    _ => Err(wrong()),
                })
                .collect(),
        }
    }
}

/// Entries at least this large stay in the cache and are read per batch; smaller ones are held.
const HOLD_BELOW_BYTES: usize = 32 << 10;

/// A cache entry as a sample keeps it: large ones (image maps) read when a batch needs them, so
/// a 25 000-image dataset does not hold 3 GB of tokens; small ones in memory.
fn held(cache: &TokenCache, key: &str) -> Option<TokenMatrix> {
    let lazy = cache.get_lazy(key)?;
    if lazy.rows() * lazy.cols() * 2 >= HOLD_BELOW_BYTES {
        Some(lazy)
    } else {
        cache.get(key)
    }
}

/// Word-piece attention (one value per token, `[CLS]` and `[SEP]` included) summed back onto
/// the words of `text`, renormalised to add up to 1 over the words: the words and their weights.
pub fn merge_word_pieces(
    encoding: &Encoding,
    text: &str,
    attention: &[f32],
) -> (Vec<String>, Vec<f32>) {
    let words: Vec<String> = encoding
        .word_spans
        .iter()
        .map(|&(a, b)| text.get(a..b).unwrap_or("?").to_owned())
        .collect();
    let mut weights = vec![0f32; words.len()];
    for (word, &a) in encoding.words.iter().zip(attention) {
        if let Some(w) = word.and_then(|w| weights.get_mut(w)) {
            *w += a;
        }
    }
    let total: f32 = weights.iter().sum();
    if total > 0.0 {
        weights.iter_mut().for_each(|w| *w /= total);
    }
    (words, weights)
}

/// `B × N × C` → one token matrix per row.
fn rows(tokens: &Tensor) -> Result<Vec<TokenMatrix>, EngineError> {
    let (b, n, c) = tokens.dims3()?;
    let flat = tokens
        .to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    (0..b)
        .map(|i| {
            TokenMatrix::from_f32(n, c, &flat[i * n * c..(i + 1) * n * c])
                .ok_or_else(|| EngineError::Data("a backbone gave no tokens".into()))
        })
        .collect()
}
