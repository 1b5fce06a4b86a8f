//! The corruptions themselves: each damages one modality of a sample's features at a level
//! from 0 to 1, reproducibly for a seed.

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, StandardNormal};

use super::{BLUR_SIGMA, Corruption, snr_db};
use crate::data::audio::MelSpectrogram;
use crate::data::text::Vocab;
use crate::data::{FeatureConfig, Sample, TextInput};

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
