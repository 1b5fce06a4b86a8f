//! Audio → model input: WAV decoding (hound), mono downmix, resampling to 16 kHz (rubato),
//! a fixed-length window, and a log-mel spectrogram (realfft).
//!
//! Mel scale: **HTK** (`mel = 2595 · log10(1 + f / 700)`), triangular filters without area
//! normalisation, on the power spectrum; `ln(max(energy, floor))`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};
use rubato::Resampler as _;

use super::error::AudioError;

/// Audio preprocessing settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct AudioConfig {
    /// Everything is resampled to this rate (Hz).
    pub sample_rate: u32,
    /// Length of the window the model sees, in seconds.
    pub clip_seconds: f32,
    /// Number of mel bands.
    pub n_mels: usize,
    /// STFT window length in milliseconds (Hann).
    pub window_ms: f32,
    /// STFT hop in milliseconds.
    pub hop_ms: f32,
    /// Smallest mel energy before the log (silence maps to `ln(floor)`).
    pub log_floor: f32,
    /// Longer files are refused, in seconds.
    pub max_seconds: f64,
}

impl Default for AudioConfig {
    fn default() -> Self {
        Self {
            sample_rate: 16_000,
            clip_seconds: 1.0,
            n_mels: 64,
            window_ms: 25.0,
            hop_ms: 10.0,
            log_floor: 1e-6,
            max_seconds: 600.0,
        }
    }
}

impl AudioConfig {
    /// Samples in the fixed window.
    pub fn clip_len(&self) -> usize {
        (self.clip_seconds * self.sample_rate as f32)
            .round()
            .max(1.0) as usize
    }
    /// STFT window length in samples.
    pub fn window_len(&self) -> usize {
        (self.window_ms / 1000.0 * self.sample_rate as f32)
            .round()
            .max(2.0) as usize
    }
    /// STFT hop in samples.
    pub fn hop_len(&self) -> usize {
        (self.hop_ms / 1000.0 * self.sample_rate as f32)
            .round()
            .max(1.0) as usize
    }
    /// FFT size: the next power of two of the window.
    pub fn fft_len(&self) -> usize {
        self.window_len().next_power_of_two()
    }
    /// Number of STFT frames in one clip (no centre padding).
    pub fn frames(&self) -> usize {
        1 + self.clip_len().saturating_sub(self.window_len()) / self.hop_len()
    }
    /// Shape of one log-mel spectrogram, `[n_mels, frames]` (mel-major).
    pub fn shape(&self) -> [usize; 2] {
        [self.n_mels, self.frames()]
    }
}

/// Mono audio at some sample rate.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Waveform {
    /// Samples in −1..1.
    pub samples: Vec<f32>,
    /// Samples per second.
    pub sample_rate: u32,
}

impl Waveform {
    /// Duration in seconds.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate.max(1))
    }
}

/// Sample rates accepted in a WAV header. Outside them rubato's FFT plans grow without bound
/// (a 134 MHz header asked for over 2 GB; found by fuzzing).
const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 1_000..=384_000;

/// Resamplers kept per thread; a folder of many odd rates must not pile up FFT plans.
const MAX_CACHED_RESAMPLERS: usize = 8;

/// Largest magnitude accepted in a float WAV (nominal full scale is 1; louder is a damaged file).
const MAX_FLOAT_SAMPLE: f32 = 1000.0;

/// Read a WAV file into mono f32, refusing files longer than `max_seconds`.
pub fn read_wav(path: &Path, max_seconds: f64) -> Result<Waveform, AudioError> {
    let file = std::fs::File::open(path).map_err(|source| AudioError::Io {
        path: path.to_owned(),
        source,
    })?;
    if file.metadata().is_ok_and(|m| m.is_file() && m.len() == 0) {
        return Err(AudioError::NotWav {
            path: path.to_owned(),
            reason: "the file is empty (0 bytes)".into(),
        });
    }
    read_wav_from(std::io::BufReader::new(file), path, max_seconds)
}

/// Read WAV data from any reader; `path` is only used in error messages.
pub fn read_wav_from(
    reader: impl Read,
    path: &Path,
    max_seconds: f64,
) -> Result<Waveform, AudioError> {
    let mut wav = hound::WavReader::new(reader).map_err(|err| header_error(err, path))?;
    let spec = wav.spec();
    let unsupported = |what: String| AudioError::Unsupported {
        path: path.to_owned(),
        what,
    };
    if spec.channels == 0 || !SAMPLE_RATES.contains(&spec.sample_rate) {
        return Err(unsupported(format!(
            "{} channels at {} Hz; expected {} to {} Hz",
            spec.channels,
            spec.sample_rate,
            SAMPLE_RATES.start(),
            SAMPLE_RATES.end()
        )));
    }
    let seconds = f64::from(wav.duration()) / f64::from(spec.sample_rate);
    if seconds > max_seconds {
        return Err(AudioError::TooLong {
            path: path.to_owned(),
            seconds,
            limit: max_seconds,
        });
    }
    if wav.len() == 0 {
        return Err(AudioError::Empty {
            path: path.to_owned(),
        });
    }
    let interleaved: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => {
            let samples = collect(wav.samples::<f32>(), path)?;
            // NaN, infinities or absurd magnitudes would poison the resampler's FFT.
            if let Some((index, &value)) = samples
                .iter()
                .enumerate()
                .find(|(_, v)| !v.is_finite() || v.abs() > MAX_FLOAT_SAMPLE)
            {
                return Err(AudioError::BadSample {
                    path: path.to_owned(),
                    index,
                    value,
                });
            }
            samples
        }
        (hound::SampleFormat::Int, bits @ 1..=32) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            collect(wav.samples::<i32>(), path)?
                .into_iter()
                .map(|s| s * scale)
                .collect()
        }
        (format, bits) => return Err(unsupported(format!("{bits}-bit {format:?}"))),
    };
    let channels = usize::from(spec.channels);
    let samples = interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    Ok(Waveform {
        samples,
        sample_rate: spec.sample_rate,
    })
}

fn collect<S: ToF32>(
    samples: impl Iterator<Item = hound::Result<S>>,
    path: &Path,
) -> Result<Vec<f32>, AudioError> {
    samples
        .map(|s| s.map(ToF32::to_f32).map_err(|err| data_error(err, path)))
        .collect()
}

/// Lossless-enough conversion of hound's sample types (hound has no common trait for this).
trait ToF32 {
    fn to_f32(self) -> f32;
}
impl ToF32 for f32 {
    fn to_f32(self) -> f32 {
        self
    }
}
impl ToF32 for i32 {
    fn to_f32(self) -> f32 {
        self as f32
    }
}

fn header_error(err: hound::Error, path: &Path) -> AudioError {
    let path = path.to_owned();
    match err {
        // hound reports a short read as UnexpectedEof or as "Failed to read enough bytes".
        hound::Error::IoError(e)
            if e.kind() == std::io::ErrorKind::UnexpectedEof
                || e.to_string().contains("read enough bytes") =>
        {
            AudioError::Truncated {
                path,
                reason: "the header or data chunk is incomplete".into(),
            }
        }
        hound::Error::IoError(source) => AudioError::Io { path, source },
        hound::Error::FormatError(reason) if reason.contains("RIFF") || reason.contains("WAVE") => {
            AudioError::NotWav {
                path,
                reason: reason.into(),
            }
        }
        // A RIFF/WAVE file whose fmt chunk describes something hound cannot decode.
        hound::Error::FormatError(reason) => AudioError::Unsupported {
            path,
            what: reason.into(),
        },
        hound::Error::Unsupported => AudioError::Unsupported {
            path,
            what: "an encoding hound does not decode".into(),
        },
        other => AudioError::NotWav {
            path,
            reason: other.to_string(),
        },
    }
}

fn data_error(err: hound::Error, path: &Path) -> AudioError {
    match header_error(err, path) {
        AudioError::Truncated { path, .. } => AudioError::Truncated {
            path,
            reason: "the data chunk ends before the length its header declares".into(),
        },
        other => other,
    }
}

thread_local! {
    // One resampler per source rate and thread: building the FFT plans per file would dominate.
    static RESAMPLERS: RefCell<HashMap<(u32, u32), rubato::Fft<f32>>> = RefCell::new(HashMap::new());
}

/// Resample mono audio to `target` Hz (FFT resampler, anti-aliased).
pub fn resample(wave: &Waveform, target: u32, path: &Path) -> Result<Vec<f32>, AudioError> {
    if wave.sample_rate == target || wave.samples.is_empty() {
        return Ok(wave.samples.clone());
    }
    let fail = |reason: String| AudioError::Resample {
        path: path.to_owned(),
        from: wave.sample_rate,
        reason,
    };
    RESAMPLERS.with(|cell| {
        let mut cache = cell.borrow_mut();
        let key = (wave.sample_rate, target);
        if cache.len() >= MAX_CACHED_RESAMPLERS && !cache.contains_key(&key) {
            cache.clear();
        }
        let resampler = match cache.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(
                rubato::Fft::<f32>::new(
                    wave.sample_rate as usize,
                    target as usize,
                    1024,
                    1,
                    rubato::FixedSync::Input,
                )
                .map_err(|err| fail(err.to_string()))?,
            ),
        };
        let input = rubato::audioadapter_buffers::direct::InterleavedSlice::new(
            &wave.samples,
            1,
            wave.samples.len(),
        )
        .map_err(|err| fail(err.to_string()))?;
        let out = resampler
            .process_all(&input, wave.samples.len(), None)
            .map_err(|err| fail(err.to_string()))?;
        Ok(out.take_data())
    })
}

/// Cut or pad to exactly `len` samples: longer clips keep the `len`-sample stretch with the most
/// energy (centred on the loudest part); shorter ones are zero-padded equally on both sides.
pub fn fixed_window(samples: &[f32], len: usize) -> Vec<f32> {
    if samples.len() <= len {
        let mut out = vec![0.0; len];
        let start = (len - samples.len()) / 2;
        out[start..start + samples.len()].copy_from_slice(samples);
        return out;
    }
    let mut energy: f64 = samples[..len].iter().map(|&s| f64::from(s * s)).sum();
    let (mut best, mut best_start) = (energy, 0);
    for start in 1..=samples.len() - len {
        energy +=
            f64::from(samples[start + len - 1].powi(2)) - f64::from(samples[start - 1].powi(2));
        if energy > best + 1e-12 {
            (best, best_start) = (energy, start);
        }
    }
    samples[best_start..best_start + len].to_vec()
}

/// A log-mel spectrogram extractor; build once, share between threads.
pub struct MelSpectrogram {
    cfg: AudioConfig,
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    /// Per mel band: first FFT bin and the triangle's weights from there.
    filters: Vec<(usize, Vec<f32>)>,
}

impl MelSpectrogram {
    /// Plan the FFT and build the HTK mel filterbank for `cfg`.
    pub fn new(cfg: &AudioConfig) -> Self {
        let (n_fft, win) = (cfg.fft_len(), cfg.window_len());
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n_fft);
        // Periodic Hann window.
        let window = (0..win)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / win as f32).cos())
            .collect();
        let sr = cfg.sample_rate as f32;
        let hz_to_mel = |f: f32| 2595.0 * (1.0 + f / 700.0).log10();
        let mel_to_hz = |m: f32| 700.0 * (10f32.powf(m / 2595.0) - 1.0);
        let top = hz_to_mel(sr / 2.0);
        let edges: Vec<f32> = (0..cfg.n_mels + 2)
            .map(|i| mel_to_hz(top * i as f32 / (cfg.n_mels + 1) as f32))
            .collect();
        let bins = n_fft / 2 + 1;
        let bin_hz = sr / n_fft as f32;
        let filters = edges
            .windows(3)
            .map(|e| {
                let (lo, mid, hi) = (e[0], e[1], e[2]);
                let weights: Vec<(usize, f32)> = (0..bins)
                    .filter_map(|k| {
                        let f = k as f32 * bin_hz;
                        let w = if f <= mid {
                            (f - lo) / (mid - lo)
                        } else {
                            (hi - f) / (hi - mid)
                        };
                        (w > 0.0).then_some((k, w))
                    })
                    .collect();
                let start = weights.first().map_or(0, |&(k, _)| k);
                (start, weights.into_iter().map(|(_, w)| w).collect())
            })
            .collect();
        Self {
            cfg: cfg.clone(),
            fft,
            window,
            filters,
        }
    }

    /// The configuration this extractor was built for.
    pub fn config(&self) -> &AudioConfig {
        &self.cfg
    }

    /// Log-mel spectrogram of `samples` (at the configured rate), `[n_mels][frames]` row-major.
    /// Clips shorter than one window yield one frame of zero-padded audio.
    pub fn compute(&self, samples: &[f32]) -> Vec<f32> {
        let (win, hop) = (self.window.len(), self.cfg.hop_len());
        let frames = 1 + samples.len().saturating_sub(win) / hop;
        let n_mels = self.filters.len();
        let mut out = vec![0.0f32; n_mels * frames];
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0.0f32; spectrum.len()];
        for t in 0..frames {
            input.fill(0.0);
            let frame = samples.get(t * hop..).unwrap_or_default();
            for ((x, &s), &w) in input.iter_mut().zip(frame).zip(&self.window) {
                *x = s * w;
            }
            // Lengths come from the same plan, so this cannot fail.
            if self
                .fft
                .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                .is_err()
            {
                continue;
            }
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for (m, (start, weights)) in self.filters.iter().enumerate() {
                let energy: f32 = weights
                    .iter()
                    .zip(&power[*start..])
                    .map(|(w, p)| w * p)
                    .sum();
                out[m * frames + t] = energy.max(self.cfg.log_floor).ln();
            }
        }
        out
    }

    /// Resample, window and transform a waveform; `path` is only used in error messages.
    pub fn features(&self, wave: &Waveform, path: &Path) -> Result<Vec<f32>, AudioError> {
        if wave.samples.is_empty() {
            return Err(AudioError::Empty {
                path: path.to_owned(),
            });
        }
        let resampled = resample(wave, self.cfg.sample_rate, path)?;
        Ok(self.compute(&fixed_window(&resampled, self.cfg.clip_len())))
    }

    /// Read a WAV file and return its log-mel features.
    pub fn features_from_file(&self, path: &Path) -> Result<Vec<f32>, AudioError> {
        self.features(&read_wav(path, self.cfg.max_seconds)?, path)
    }
}
