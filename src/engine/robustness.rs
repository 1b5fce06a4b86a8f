//! MultiBench-style robustness: corrupt one modality at a time at levels 0…1 and measure
//! accuracy. Every corruption draws its randomness once per sample and scales it with the level
//! (the same noise, a growing patch, nested sets of dropped words), so a curve shows the effect of
//! the level and not of fresh dice.

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, StandardNormal};

use super::{Batcher, EngineError, evaluate};
use crate::data::audio::MelSpectrogram;
use crate::data::text::Vocab;
use crate::data::{FeatureConfig, Sample, TextInput};
use crate::model::{FusionKind, FusionModel};

/// One way to damage one modality.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Corruption {
    /// Gaussian pixel noise, σ = level (pixels in 0..1).
    ImageNoise,
    /// A grey square covering `level` of the image.
    ImageOcclusion,
    /// Gaussian blur, σ = 2.5 · level pixels (of the model's input image).
    ImageBlur,
    /// The image is missing in a fraction `level` of the samples.
    ImageMissing,
    /// Each word is dropped with probability `level`.
    TextDropout,
    /// Each word gets a typo (deleted, swapped or replaced letter) with probability `level`.
    TextTypos,
    /// A fraction `level` of neighbouring word pairs swap places.
    TextSwaps,
    /// The text is missing in a fraction `level` of the samples.
    TextMissing,
    /// White noise at an SNR of 30 − 40 · level dB (measured on mel-band energy).
    AudioNoise,
    /// A fraction `level` of the clip (in 100 ms segments) is silenced.
    AudioDropout,
    /// The audio is missing in a fraction `level` of the samples.
    AudioMissing,
}

impl Corruption {
    /// Every corruption, grouped by modality (image, text, audio).
    pub const ALL: [Self; 11] = [
        Self::ImageNoise,
        Self::ImageOcclusion,
        Self::ImageBlur,
        Self::ImageMissing,
        Self::TextDropout,
        Self::TextTypos,
        Self::TextSwaps,
        Self::TextMissing,
        Self::AudioNoise,
        Self::AudioDropout,
        Self::AudioMissing,
    ];

    /// Whether the corruption removes the whole modality (the `*-missing` ones).
    pub fn is_missing(self) -> bool {
        matches!(
            self,
            Self::ImageMissing | Self::TextMissing | Self::AudioMissing
        )
    }

    /// The modality it damages: 0 image, 1 text, 2 audio.
    pub fn modality(self) -> usize {
        match self {
            Self::ImageNoise | Self::ImageOcclusion | Self::ImageBlur | Self::ImageMissing => 0,
            Self::TextDropout | Self::TextTypos | Self::TextSwaps | Self::TextMissing => 1,
            Self::AudioNoise | Self::AudioDropout | Self::AudioMissing => 2,
        }
    }

    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Self::ImageNoise => "image-noise",
            Self::ImageOcclusion => "image-occlusion",
            Self::ImageBlur => "image-blur",
            Self::ImageMissing => "image-missing",
            Self::TextDropout => "text-dropout",
            Self::TextTypos => "text-typos",
            Self::TextSwaps => "text-swaps",
            Self::TextMissing => "text-missing",
            Self::AudioNoise => "audio-noise",
            Self::AudioDropout => "audio-dropout",
            Self::AudioMissing => "audio-missing",
        }
    }

    /// A short human label.
    pub fn label(self) -> &'static str {
        match self {
            Self::ImageNoise => "image: Gaussian noise",
            Self::ImageOcclusion => "image: occlusion",
            Self::ImageBlur => "image: blur",
            Self::ImageMissing => "image: missing",
            Self::TextDropout => "text: word dropout",
            Self::TextTypos => "text: typos",
            Self::TextSwaps => "text: word swaps",
            Self::TextMissing => "text: missing",
            Self::AudioNoise => "audio: white noise",
            Self::AudioDropout => "audio: dropped segments",
            Self::AudioMissing => "audio: missing",
        }
    }

    /// What `level` means for this corruption, e.g. "SNR 10 dB".
    pub fn level_text(self, level: f32) -> String {
        let pct = (level * 100.0).round();
        match self {
            Self::ImageNoise => format!("σ {level:.2}"),
            Self::ImageOcclusion => format!("{pct}% covered"),
            Self::ImageBlur => format!("blur σ {:.1} px", BLUR_SIGMA * level),
            Self::ImageMissing | Self::TextMissing | Self::AudioMissing => {
                format!("{pct}% of samples")
            }
            Self::TextDropout => format!("{pct}% of words dropped"),
            Self::TextTypos => format!("{pct}% of words misspelt"),
            Self::TextSwaps => format!("{pct}% of pairs swapped"),
            Self::AudioNoise if level <= 0.0 => "clean".into(),
            Self::AudioNoise => format!("SNR {:.0} dB", snr_db(level)),
            Self::AudioDropout => format!("{pct}% silenced"),
        }
    }
}

impl std::fmt::Display for Corruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

const BLUR_SIGMA: f32 = 2.5;

fn snr_db(level: f32) -> f32 {
    30.0 - 40.0 * level
}

/// What a robustness run does.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RobustnessConfig {
    /// Corruptions to run (empty: every one whose modality the data has).
    pub corruptions: Vec<Corruption>,
    /// Number of levels, evenly spaced from 0 to 1 (at least 2).
    pub levels: usize,
    /// Seed of the corruptions' randomness.
    pub seed: u64,
}

impl Default for RobustnessConfig {
    fn default() -> Self {
        Self {
            corruptions: Vec::new(),
            levels: 6,
            seed: 7,
        }
    }
}

impl RobustnessConfig {
    /// The levels, `0, 1/(n−1), …, 1`.
    pub fn level_values(&self) -> Vec<f32> {
        let n = self.levels.max(2);
        (0..n).map(|i| i as f32 / (n - 1) as f32).collect()
    }

    /// Check the settings.
    pub fn validate(&self) -> Result<(), EngineError> {
        if !(2..=21).contains(&self.levels) {
            return Err(EngineError::Settings(format!(
                "levels {} must be 2–21",
                self.levels
            )));
        }
        Ok(())
    }
}

/// Accuracy against corruption level for one corruption.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RobustnessCurve {
    /// Which corruption.
    pub corruption: Corruption,
    /// Levels (0…1).
    pub levels: Vec<f32>,
    /// Accuracy at each level.
    pub accuracy: Vec<f32>,
    /// Relative robustness: area under the accuracy curve over levels 0…1.
    pub relative: f32,
    /// Effective robustness against late fusion (see [`effective_robustness`]), when a late
    /// fusion model was measured alongside.
    pub effective: Option<f32>,
}

/// The robustness of one model.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RobustnessReport {
    /// Model name (its folder, or the method for a model trained in this session).
    pub model: String,
    /// Its fusion method.
    pub fusion: FusionKind,
    /// Samples evaluated.
    pub samples: usize,
    /// Accuracy without corruption.
    pub clean_accuracy: f32,
    /// One curve per corruption.
    pub curves: Vec<RobustnessCurve>,
}

/// Area under the curve `accuracy(level)` by the trapezoid rule (levels ascending in 0…1).
pub fn area_under_curve(levels: &[f32], accuracy: &[f32]) -> f32 {
    levels
        .windows(2)
        .zip(accuracy.windows(2))
        .map(|(l, a)| (l[1] - l[0]) * (a[0] + a[1]) / 2.0)
        .sum()
}

/// Effective robustness: how much less the model loses under corruption than late fusion does,
/// averaged over the levels: mean of `(acc(l) − acc(0)) − (late(l) − late(0))`. Positive means
/// it degrades more gracefully than late fusion, whatever the two clean accuracies.
pub fn effective_robustness(accuracy: &[f32], late: &[f32]) -> Option<f32> {
    if accuracy.len() != late.len() || accuracy.is_empty() {
        return None;
    }
    let (a0, l0) = (accuracy[0], late[0]);
    let sum: f32 = accuracy
        .iter()
        .zip(late)
        .map(|(a, l)| (a - a0) - (l - l0))
        .sum();
    Some(sum / accuracy.len() as f32)
}

/// Fill in every curve's effective robustness from the late fusion report among `reports` (if
/// there is one).
pub fn fill_effective(reports: &mut [RobustnessReport]) {
    let Some(late) = reports
        .iter()
        .find(|r| r.fusion == FusionKind::Late)
        .cloned()
    else {
        return;
    };
    for report in reports.iter_mut() {
        for curve in &mut report.curves {
            curve.effective = late
                .curves
                .iter()
                .find(|c| c.corruption == curve.corruption)
                .and_then(|l| effective_robustness(&curve.accuracy, &l.accuracy));
        }
    }
}

/// What the corruptions need to know about the features.
pub struct Corrupter<'a> {
    features: &'a FeatureConfig,
    vocab: &'a Vocab,
    mel: MelSpectrogram,
    seed: u64,
}

impl<'a> Corrupter<'a> {
    /// For samples made with `features`; `vocab` re-encodes damaged sentences.
    pub fn new(features: &'a FeatureConfig, vocab: &'a Vocab, seed: u64) -> Self {
        Self {
            features,
            vocab,
            mel: MelSpectrogram::new(&features.audio),
            seed,
        }
    }

    fn rng(&self, index: usize, corruption: Corruption) -> ChaCha8Rng {
        let key = (index as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(corruption as u64 * 0xD1B5_4A32_D192_ED03);
        ChaCha8Rng::seed_from_u64(self.seed ^ key)
    }

    /// A damaged copy of `sample` (the `index`-th of the run, which picks its randomness).
    /// Level 0 returns it unchanged; a sample without the modality is returned unchanged.
    pub fn corrupt(
        &self,
        sample: &Sample,
        index: usize,
        corruption: Corruption,
        level: f32,
    ) -> Sample {
        let mut out = sample.clone();
        let level = level.clamp(0.0, 1.0);
        if level <= 0.0 {
            return out;
        }
        let mut rng = self.rng(index, corruption);
        let img = &self.features.image;
        let side = img.size as usize;
        match corruption {
            Corruption::ImageMissing => {
                if rng.random::<f32>() < level {
                    out.image = None;
                }
            }
            Corruption::TextMissing => {
                if rng.random::<f32>() < level {
                    out.text = None;
                }
            }
            Corruption::AudioMissing => {
                if rng.random::<f32>() < level {
                    out.audio = None;
                }
            }
            Corruption::ImageNoise => {
                if let Some(chw) = &mut out.image {
                    let plane = side * side;
                    for (i, v) in chw.iter_mut().enumerate() {
                        let n: f32 = StandardNormal.sample(&mut rng);
                        let c = (i / plane.max(1)).min(2);
                        *v += n * level / img.std[c];
                    }
                }
            }
            Corruption::ImageOcclusion => {
                if let Some(chw) = &mut out.image {
                    let patch = ((level.sqrt() * side as f32).round() as usize).min(side);
                    let (cx, cy): (f32, f32) = (rng.random(), rng.random());
                    let x0 = (cx * (side - patch) as f32).round() as usize;
                    let y0 = (cy * (side - patch) as f32).round() as usize;
                    for (c, plane) in chw.chunks_mut(side * side).enumerate().take(3) {
                        // Mid grey (0.5) in normalised units.
                        let grey = (0.5 - img.mean[c]) / img.std[c];
                        for y in y0..y0 + patch {
                            for x in x0..x0 + patch {
                                plane[y * side + x] = grey;
                            }
                        }
                    }
                }
            }
            Corruption::ImageBlur => {
                if let Some(chw) = &mut out.image {
                    for plane in chw.chunks_mut(side * side) {
                        gaussian_blur(plane, side, BLUR_SIGMA * level);
                    }
                }
            }
            Corruption::TextDropout | Corruption::TextTypos | Corruption::TextSwaps => {
                if let Some(text) = &out.text {
                    out.text = damage_text(text, corruption, level, &mut rng, self.vocab);
                }
            }
            Corruption::AudioNoise => {
                if let Some(mel) = &mut out.audio {
                    self.add_noise(mel, level, &mut rng);
                }
            }
            Corruption::AudioDropout => {
                if let Some(mel) = &mut out.audio {
                    let bins = self.features.audio.n_mels.max(1);
                    let frames = mel.len() / bins;
                    // 100 ms segments, silenced in a fixed random order.
                    let seg = (100.0 / self.features.audio.hop_ms).round().max(1.0) as usize;
                    let segments = frames.div_ceil(seg);
                    let mut order: Vec<usize> = (0..segments).collect();
                    for i in (1..order.len()).rev() {
                        order.swap(i, rng.random_range(0..=i));
                    }
                    let silent = self.features.audio.log_floor.ln();
                    let count = (level * segments as f32).round() as usize;
                    for &s in &order[..count.min(segments)] {
                        for t in s * seg..((s + 1) * seg).min(frames) {
                            for m in 0..bins {
                                mel[m * frames + t] = silent;
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// Mix white noise into a log-mel spectrogram: the noise's own log-mel (the same waveform at
    /// every level) scaled to the SNR, added in the energy domain.
    fn add_noise(&self, mel: &mut [f32], level: f32, rng: &mut ChaCha8Rng) {
        let len = self.features.audio.clip_len();
        let wave: Vec<f32> = (0..len).map(|_| StandardNormal.sample(rng)).collect();
        let noise = self.mel.compute(&wave);
        if noise.len() != mel.len() {
            return;
        }
        let signal: f64 = mel.iter().map(|&v| f64::from(v).exp()).sum();
        let noise_energy: f64 = noise.iter().map(|&v| f64::from(v).exp()).sum();
        if noise_energy <= 0.0 {
            return;
        }
        let ratio = 10f64.powf(f64::from(snr_db(level)) / 10.0);
        let scale = signal / (noise_energy * ratio);
        let floor = self.features.audio.log_floor;
        for (v, &n) in mel.iter_mut().zip(&noise) {
            let energy = f64::from(*v).exp() + scale * f64::from(n).exp();
            *v = (energy as f32).max(floor).ln();
        }
    }
}

fn damage_text(
    text: &TextInput,
    corruption: Corruption,
    level: f32,
    rng: &mut ChaCha8Rng,
    vocab: &Vocab,
) -> Option<TextInput> {
    let mut words = text.words.clone();
    match corruption {
        Corruption::TextDropout => {
            let keep: Vec<bool> = words.iter().map(|_| rng.random::<f32>() >= level).collect();
            words = words
                .into_iter()
                .zip(keep)
                .filter_map(|(w, k)| k.then_some(w))
                .collect();
        }
        Corruption::TextTypos => {
            for w in &mut words {
                let (u, op, at, letter): (f32, u8, f32, u8) = (
                    rng.random(),
                    rng.random_range(0..3),
                    rng.random(),
                    rng.random_range(b'a'..=b'z'),
                );
                if u < level {
                    *w = typo(w, op, at, letter as char);
                }
            }
        }
        _ => {
            let pairs = words.len() / 2;
            let mut order: Vec<usize> = (0..pairs).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.random_range(0..=i));
            }
            let count = (level * pairs as f32).round() as usize;
            for &p in &order[..count.min(pairs)] {
                words.swap(2 * p, 2 * p + 1);
            }
        }
    }
    if words.is_empty() {
        return None;
    }
    let ids = vocab.encode(&words, text.ids.len().max(words.len()));
    Some(TextInput {
        raw: words.join(" "),
        words,
        ids,
    })
}

/// One edit: 0 deletes a letter, 1 swaps two neighbours, 2 replaces one with `letter`.
fn typo(word: &str, op: u8, at: f32, letter: char) -> String {
    let mut chars: Vec<char> = word.chars().collect();
    if chars.is_empty() {
        return word.to_owned();
    }
    let i = ((at * chars.len() as f32) as usize).min(chars.len() - 1);
    match op {
        0 if chars.len() > 1 => {
            chars.remove(i);
        }
        1 if chars.len() > 1 => {
            let j = if i + 1 < chars.len() { i + 1 } else { i - 1 };
            chars.swap(i, j);
        }
        _ => {
            chars[i] = if chars[i] == letter { '#' } else { letter };
        }
    }
    chars.into_iter().collect()
}

/// Separable Gaussian blur of a `side × side` plane, edges clamped.
fn gaussian_blur(plane: &mut [f32], side: usize, sigma: f32) {
    if sigma < 0.05 || plane.len() != side * side {
        return;
    }
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = (-radius..=radius)
        .map(|d| (-(d * d) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / total).collect();
    let clamp = |v: isize| v.clamp(0, side as isize - 1) as usize;
    let mut tmp = vec![0f32; plane.len()];
    for y in 0..side {
        for x in 0..side {
            tmp[y * side + x] = kernel
                .iter()
                .enumerate()
                .map(|(k, w)| w * plane[y * side + clamp(x as isize + k as isize - radius)])
                .sum();
        }
    }
    for y in 0..side {
        for x in 0..side {
            plane[y * side + x] = kernel
                .iter()
                .enumerate()
                .map(|(k, w)| w * tmp[clamp(y as isize + k as isize - radius) * side + x])
                .sum();
        }
    }
}

/// The corruptions of `cfg` that apply to `samples` (those whose modality some sample has).
pub fn applicable(cfg: &RobustnessConfig, samples: &[&Sample]) -> Vec<Corruption> {
    let list: &[Corruption] = if cfg.corruptions.is_empty() {
        &Corruption::ALL
    } else {
        &cfg.corruptions
    };
    list.iter()
        .copied()
        .filter(|c| samples.iter().any(|s| s.presence().0[c.modality()]))
        .collect()
}

/// Measure `model` on `samples` under every applicable corruption and level. `progress(done,
/// total)` is called after each evaluation; return `false` from it to cancel (→ `Ok(None)`).
pub fn robustness(
    model: &FusionModel,
    batcher: &Batcher<'_>,
    corrupter: &Corrupter<'_>,
    samples: &[&Sample],
    classes: usize,
    cfg: &RobustnessConfig,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Option<(f32, Vec<RobustnessCurve>)>, EngineError> {
    cfg.validate()?;
    if samples.is_empty() {
        return Err(EngineError::Data(
            "no samples to measure robustness on".into(),
        ));
    }
    let mut corruptions = applicable(cfg, samples);
    if corruptions.is_empty() {
        return Err(EngineError::Data(
            "none of the chosen corruptions applies: the samples lack those modalities".into(),
        ));
    }
    // A frozen backbone reads the original input, not the from-scratch features these
    // corruptions damage; only the *-missing ones mean the same thing for it.
    let backbones = model.config().backbones;
    let unseen: Vec<Corruption> = corruptions
        .iter()
        .copied()
        .filter(|c| backbones.get(c.modality()).is_some() && !c.is_missing())
        .collect();
    corruptions.retain(|c| !unseen.contains(c));
    if !unseen.is_empty() {
        log::info!(
            "robustness: left out {unseen:?} (the model's backbone does not read those features)"
        );
    }
    if corruptions.is_empty() {
        let names: Vec<&str> = unseen.iter().map(|c| c.name()).collect();
        return Err(EngineError::Incompatible(format!(
            "{} cannot be measured for this model yet: its encoder for that modality is a frozen pretrained backbone, which reads the original input rather than the features these corruptions damage; image-missing, text-missing and audio-missing work",
            names.join(", ")
        )));
    }
    let levels = cfg.level_values();
    let total = 1 + corruptions.len() * (levels.len() - 1);
    let never = || false;
    let accuracy = |set: &[&Sample]| -> Result<f32, EngineError> {
        Ok(evaluate(model, batcher, set, classes, false, &never)?
            .map_or(0.0, |e| e.metrics.accuracy))
    };
    let clean = accuracy(samples)?;
    let mut done = 1;
    if !progress(done, total) {
        return Ok(None);
    }
    let mut curves = Vec::with_capacity(corruptions.len());
    for corruption in corruptions {
        let mut acc = vec![clean];
        for &level in &levels[1..] {
            let damaged: Vec<Sample> = samples
                .iter()
                .enumerate()
                .map(|(i, s)| corrupter.corrupt(s, i, corruption, level))
                .collect();
            let refs: Vec<&Sample> = damaged.iter().collect();
            acc.push(accuracy(&refs)?);
            done += 1;
            if !progress(done, total) {
                return Ok(None);
            }
        }
        curves.push(RobustnessCurve {
            corruption,
            relative: area_under_curve(&levels, &acc),
            levels: levels.clone(),
            accuracy: acc,
            effective: None,
        });
    }
    Ok(Some((clean, curves)))
}
