//! The corruptions themselves: each damages one modality of a sample's features (or the
//! original input a frozen backbone reads) at a level from 0 to 1, reproducibly for a seed.

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, StandardNormal};

use super::{BLUR_SIGMA, Corruption, snr_db};
use crate::data::audio::MelSpectrogram;
use crate::data::text::Vocab;
use crate::data::{FeatureConfig, Sample, TextInput};
use crate::engine::extract::BackboneInput;
use crate::model::pretrained::speech;

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

    /// The features the samples were made with.
    pub fn features(&self) -> &FeatureConfig {
        self.features
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
            Corruption::ImageNoise | Corruption::ImageOcclusion | Corruption::ImageBlur => {
                if let Some(chw) = &mut out.image {
                    let planes = Planes {
                        width: side,
                        height: side,
                        mean: img.mean,
                        std: img.std,
                    };
                    planes.damage(chw, corruption, level, BLUR_SIGMA * level, &mut rng);
                }
            }
            Corruption::TextDropout | Corruption::TextTypos | Corruption::TextSwaps => {
                if let Some(text) = &out.text {
                    let words = damage_words(text.words.clone(), corruption, level, &mut rng);
                    out.text = (!words.is_empty()).then(|| TextInput {
                        raw: words.join(" "),
                        ids: self.vocab.encode(&words, text.ids.len().max(words.len())),
                        words,
                    });
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
                    let order = shuffled(segments, &mut rng);
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

    /// Damages the original input a frozen backbone reads — the picture at its own size, the
    /// sentence, the 16 kHz recording — as [`Self::corrupt`] damages the features, with the same
    /// per-sample randomness; blur is scaled from the model's input size to the picture's.
    /// `false` when nothing is left (every word dropped). The `*-missing` corruptions act on
    /// the sample, not here.
    pub fn corrupt_input(
        &self,
        input: &mut BackboneInput,
        index: usize,
        corruption: Corruption,
        level: f32,
    ) -> bool {
        let level = level.clamp(0.0, 1.0);
        if level <= 0.0 {
            return true;
        }
        let mut rng = self.rng(index, corruption);
        match input {
            BackboneInput::Image(img) => {
                let (w, h) = (img.width() as usize, img.height() as usize);
                let mut chw: Vec<f32> = (0..3)
                    .flat_map(|c| img.pixels().map(move |p| f32::from(p.0[c]) / 255.0))
                    .collect();
                let scale = w.max(h) as f32 / self.features.image.size.max(1) as f32;
                let planes = Planes {
                    width: w,
                    height: h,
                    mean: [0.0; 3],
                    std: [1.0; 3],
                };
                planes.damage(
                    &mut chw,
                    corruption,
                    level,
                    BLUR_SIGMA * level * scale,
                    &mut rng,
                );
                let plane = w * h;
                for (i, p) in img.pixels_mut().enumerate() {
                    for c in 0..3 {
                        p.0[c] = (chw[c * plane + i] * 255.0).round().clamp(0.0, 255.0) as u8;
                    }
                }
                true
            }
            BackboneInput::Text(text) => {
                let words = text.split_whitespace().map(str::to_owned).collect();
                let words = damage_words(words, corruption, level, &mut rng);
                *text = words.join(" ");
                !words.is_empty()
            }
            BackboneInput::Audio(wave) => {
                damage_wave(wave, speech::SAMPLE_RATE, corruption, level, &mut rng);
                true
            }
        }
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

/// Words after a text corruption (every word may go).
fn damage_words(
    mut words: Vec<String>,
    corruption: Corruption,
    level: f32,
    rng: &mut ChaCha8Rng,
) -> Vec<String> {
    match corruption {
        Corruption::TextDropout => {
            let keep: Vec<bool> = words.iter().map(|_| rng.random::<f32>() >= level).collect();
            words
                .into_iter()
                .zip(keep)
                .filter_map(|(w, k)| k.then_some(w))
                .collect()
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
            words
        }
        Corruption::TextSwaps => {
            let pairs = words.len() / 2;
            let order = shuffled(pairs, rng);
            let count = (level * pairs as f32).round() as usize;
            for &p in &order[..count.min(pairs)] {
                words.swap(2 * p, 2 * p + 1);
            }
            words
        }
        _ => words,
    }
}

/// `0..n` in a random order (Fisher–Yates).
fn shuffled(n: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    order
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

/// The layout of an image's CHW planes: values are `(pixel − mean) / std` per channel, pixels
/// in 0..1.
struct Planes {
    width: usize,
    height: usize,
    mean: [f32; 3],
    std: [f32; 3],
}

impl Planes {
    /// Applies an image corruption (others leave the planes alone); `sigma` is the blur in
    /// pixels of these planes.
    fn damage(
        &self,
        chw: &mut [f32],
        corruption: Corruption,
        level: f32,
        sigma: f32,
        rng: &mut ChaCha8Rng,
    ) {
        let (w, h) = (self.width, self.height);
        let plane = w * h;
        if plane == 0 || chw.len() < 3 * plane {
            return;
        }
        match corruption {
            Corruption::ImageNoise => {
                for (i, v) in chw.iter_mut().enumerate() {
                    let n: f32 = StandardNormal.sample(rng);
                    *v += n * level / self.std[(i / plane).min(2)];
                }
            }
            Corruption::ImageOcclusion => {
                let (pw, ph) = (
                    ((level.sqrt() * w as f32).round() as usize).min(w),
                    ((level.sqrt() * h as f32).round() as usize).min(h),
                );
                let (cx, cy): (f32, f32) = (rng.random(), rng.random());
                let x0 = (cx * (w - pw) as f32).round() as usize;
                let y0 = (cy * (h - ph) as f32).round() as usize;
                for (c, values) in chw.chunks_mut(plane).enumerate().take(3) {
                    // Mid grey (0.5) in normalised units.
                    let grey = (0.5 - self.mean[c]) / self.std[c];
                    for y in y0..y0 + ph {
                        values[y * w + x0..y * w + x0 + pw].fill(grey);
                    }
                }
            }
            Corruption::ImageBlur => {
                for values in chw.chunks_mut(plane) {
                    gaussian_blur(values, w, h, sigma);
                }
            }
            _ => {}
        }
    }
}

/// Applies an audio corruption to a waveform (others leave it alone): white noise at the SNR
/// of the level (measured on the waveform's power), or 100 ms segments silenced.
fn damage_wave(
    wave: &mut [f32],
    sample_rate: u32,
    corruption: Corruption,
    level: f32,
    rng: &mut ChaCha8Rng,
) {
    match corruption {
        Corruption::AudioNoise => {
            let power = wave
                .iter()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum::<f64>()
                / wave.len().max(1) as f64;
            let ratio = 10f64.powf(f64::from(snr_db(level)) / 10.0);
            let scale = (power / ratio).sqrt() as f32;
            for v in wave.iter_mut() {
                let n: f32 = StandardNormal.sample(rng);
                *v += scale * n;
            }
        }
        Corruption::AudioDropout => {
            let (seg, len) = ((sample_rate as usize / 10).max(1), wave.len());
            let segments = len.div_ceil(seg);
            let order = shuffled(segments, rng);
            let count = (level * segments as f32).round() as usize;
            for &s in &order[..count.min(segments)] {
                wave[s * seg..((s + 1) * seg).min(len)].fill(0.0);
            }
        }
        _ => {}
    }
}

/// Separable Gaussian blur of a `width × height` plane, edges clamped.
fn gaussian_blur(plane: &mut [f32], width: usize, height: usize, sigma: f32) {
    if sigma < 0.05 || plane.len() != width * height || plane.is_empty() {
        return;
    }
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = (-radius..=radius)
        .map(|d| (-(d * d) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = kernel.iter().sum();
    let kernel: Vec<f32> = kernel.iter().map(|k| k / total).collect();
    let clamp = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
    let mut tmp = vec![0f32; plane.len()];
    for y in 0..height {
        for x in 0..width {
            tmp[y * width + x] = kernel
                .iter()
                .enumerate()
                .map(|(k, w)| w * plane[y * width + clamp(x as isize + k as isize - radius, width)])
                .sum();
        }
    }
    for y in 0..height {
        for x in 0..width {
            plane[y * width + x] = kernel
                .iter()
                .enumerate()
                .map(|(k, w)| w * tmp[clamp(y as isize + k as isize - radius, height) * width + x])
                .sum();
        }
    }
}
