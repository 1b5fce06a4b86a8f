//! Backbone tokens for a dataset: each input goes through its frozen backbone once; the tokens
//! are kept in the on-disk [`TokenCache`] keyed by the input's content, so later runs, comparisons
//! and reopened sessions read them instead of running the backbone again.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{Device, Tensor};

mod input;

pub use input::BackboneInput;

use super::{EngineError, RawInput};
use crate::data::tokens::{TokenCache, TokenMatrix};
use crate::data::{Dataset, FeatureConfig, Sample};

use crate::model::kernels::normalise_rows;
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

/// Layer-norm epsilon of the tokens' normalisation.
pub const NORM_EPS: f32 = 1e-5;

/// The cache variant of a backbone: its name plus what fixes its input (size, rate), and
/// `normed`: the tokens are stored layer-normalised (entries from before that differ).
pub fn variant(backbone: Backbone) -> String {
    let base = match backbone {
        Backbone::EfficientNetLite0 => format!("{backbone}-{}px", efficientnet::INPUT_SIZE),
        Backbone::MiniLm => format!("{backbone}-{}tok", minilm::MAX_TOKENS),
        // `lead500ms`: entries made before the lead-in silence (speech::LEAD_SAMPLES) differ.
        Backbone::SpeechEmbedding => format!(
            "{backbone}-{}hz-lead{}ms",
            speech::SAMPLE_RATE,
            speech::LEAD_SAMPLES as u32 * 1000 / speech::SAMPLE_RATE
        ),
    };
    format!("{base}-normed")
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
                let mut wanted: Vec<usize> = (0..samples.len())
                    .filter(|&i| samples[i].presence().0[m] && samples[i].backbone.get(m).is_none())
                    .collect();
                // Sentences of similar length share a batch, so little of it is padding.
                if m == 1 {
                    wanted.sort_by_key(|&i| samples[i].text.as_ref().map_or(0, |t| t.raw.len()));
                }
                (m, wanted)
            })
            .collect();
        // Fail before any backbone runs, not a minute in (synthetic sounds have no recording).
        for (m, wanted) in &todo {
            for &i in wanted {
                BackboneInput::check(&samples[i], *m)?;
            }
        }
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
                    .map(|&i| BackboneInput::of(&samples[i], m, &dataset.features))
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

    /// Gives each of `samples` (copies of dataset samples) fresh tokens of modality `m`: its
    /// original input passed through `damage(index, input)` — `false` when nothing is left, and
    /// the sample loses the modality — then the backbone. The tokens are cached by content like
    /// any input's, so the same damage is computed once. `Ok(None)` when cancelled.
    pub fn damaged(
        &mut self,
        samples: &mut [Sample],
        features: &FeatureConfig,
        backbone: Backbone,
        m: usize,
        damage: &dyn Fn(usize, &mut BackboneInput) -> bool,
        observer: &dyn ExtractObserver,
    ) -> Result<Option<()>, EngineError> {
        let wanted: Vec<usize> = (0..samples.len())
            .filter(|&i| samples[i].presence().0[m])
            .collect();
        let mut report = ExtractReport::default();
        let mut done = 0;
        for chunk in wanted.chunks(BATCH) {
            if observer.cancelled() {
                return Ok(None);
            }
            let mut inputs = Vec::with_capacity(chunk.len());
            let mut kept = Vec::with_capacity(chunk.len());
            for &i in chunk {
                let mut input = BackboneInput::of(&samples[i], m, features)?;
                if damage(i, &mut input) {
                    inputs.push(input);
                    kept.push(i);
                } else {
                    samples[i].remove_modality(m);
                }
            }
            if !inputs.is_empty() {
                let tokens = self.tokens(backbone, m, inputs, &mut report)?;
                for (i, t) in kept.into_iter().zip(tokens) {
                    samples[i].backbone.0[m] = Some(t);
                }
            }
            done += chunk.len();
            observer.progress(done, wanted.len());
        }
        Ok(Some(()))
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
            let input = BackboneInput::raw(raw, m)?;
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
        inputs: Vec<BackboneInput>,
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
            let wanted: Vec<&BackboneInput> = missing.iter().map(|&(j, _)| &inputs[j]).collect();
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
    fn tokens(
        &self,
        inputs: &[&BackboneInput],
        device: &Device,
    ) -> Result<Vec<TokenMatrix>, EngineError> {
        let wrong = || EngineError::Data("an input reached the wrong backbone".into());
        match self {
            Self::Image(net) => {
                let xs = inputs
                    .iter()
                    .map(|x| match x {
                        BackboneInput::Image(img) => {
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
                        BackboneInput::Text(t) => Ok(t.as_str()),
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
                    BackboneInput::Audio(samples) => {
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
        lazy.loaded()
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

/// `B × N × C` → one token matrix per row, each token layer-normalised.
fn rows(tokens: &Tensor) -> Result<Vec<TokenMatrix>, EngineError> {
    let (b, n, c) = tokens.dims3()?;
    let mut flat = tokens
        .to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    // Backbone outputs have arbitrary scales (the speech embedding's reach ±60): each token is
    // normalised once, here, rather than in every training step.
    normalise_rows(&mut flat, c, NORM_EPS);
    (0..b)
        .map(|i| {
            TokenMatrix::from_f32(n, c, &flat[i * n * c..(i + 1) * n * c])
                .ok_or_else(|| EngineError::Data("a backbone gave no tokens".into()))
        })
        .collect()
}
