//! Live audio: recording from the default microphone and playing a clip on the default output
//! (cpal), and saving a recording as a WAV file (hound). The cpal callbacks never block: they hand
//! chunks over a bounded channel and drop them if the UI falls behind.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Instant;

use cpal::traits::{DeviceTrait as _, HostTrait as _, StreamTrait as _};

mod series;
pub use series::{Listener, Series, SeriesConfig, SeriesPhase};

/// Why recording or playback is not possible.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// No input device at all.
    #[error("no microphone found: connect one (or start a virtual one) and try again")]
    NoInputDevice,
    /// A device exists but cannot be opened (typical on machines without a sound card).
    #[error("the microphone '{device}' cannot be opened: {reason}")]
    Unavailable {
        /// Device name.
        device: String,
        /// What cpal said.
        reason: String,
    },
    /// No output device.
    #[error("no speaker or headphones found, so the clip cannot be played")]
    NoOutputDevice,
    /// The output device cannot be opened.
    #[error("the audio output '{device}' cannot be opened: {reason}")]
    OutputUnavailable {
        /// Device name.
        device: String,
        /// What cpal said.
        reason: String,
    },
    /// A sample format we do not convert.
    #[error("the device uses the {0} sample format, which fusionlab cannot read")]
    UnsupportedFormat(String),
    /// Writing a WAV file failed.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The target file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

fn device_name(device: &cpal::Device) -> String {
    device
        .description()
        .map(|d| d.name().to_owned())
        .unwrap_or_else(|_| "default".to_owned())
}

/// Check that a microphone can be opened; returns its name. Cheap enough to call once at start,
/// but do it off the UI thread (ALSA enumeration can take a moment).
pub fn probe_input() -> Result<String, CaptureError> {
    let device = cpal::default_host()
        .default_input_device()
        .ok_or(CaptureError::NoInputDevice)?;
    let name = device_name(&device);
    // Without a sound card ALSA still names a "default" device; the failure shows here.
    device
        .default_input_config()
        .map_err(|e| CaptureError::Unavailable {
            device: name.clone(),
            reason: e.to_string(),
        })?;
    Ok(name)
}

/// A running recording. Poll it every frame; drop it (or call [`Recorder::finish`]) to stop.
pub struct Recorder {
    _stream: cpal::Stream,
    chunks: mpsc::Receiver<(Instant, Vec<f32>)>,
    newest: Option<Instant>,
    samples: Vec<f32>,
    sample_rate: u32,
    device: String,
    last_peak: f32,
}

impl Recorder {
    /// Open the default microphone and start capturing (mono, at the device's own rate).
    pub fn start() -> Result<Self, CaptureError> {
        let device = cpal::default_host()
            .default_input_device()
            .ok_or(CaptureError::NoInputDevice)?;
        let name = device_name(&device);
        let unavailable = |e: &dyn std::fmt::Display| CaptureError::Unavailable {
            device: name.clone(),
            reason: e.to_string(),
        };
        let supported = device.default_input_config().map_err(|e| unavailable(&e))?;
        let (tx, chunks) = mpsc::sync_channel(256);
        let config = supported.config();
        let stream = match supported.sample_format() {
            cpal::SampleFormat::F32 => build_input::<f32>(&device, config, tx),
            cpal::SampleFormat::I16 => build_input::<i16>(&device, config, tx),
            cpal::SampleFormat::I32 => build_input::<i32>(&device, config, tx),
            cpal::SampleFormat::U8 => build_input::<u8>(&device, config, tx),
            other => return Err(CaptureError::UnsupportedFormat(other.to_string())),
        }
        .map_err(|e| unavailable(&e))?;
        stream.play().map_err(|e| unavailable(&e))?;
        Ok(Self {
            _stream: stream,
            chunks,
            samples: Vec::new(),
            sample_rate: supported.sample_rate(),
            device: name,
            last_peak: 0.0,
            newest: None,
        })
    }

    /// Take what arrived since the last call; returns the peak level (0..1) of that audio, or the
    /// previous peak when nothing new came (for a steady level meter).
    pub fn poll(&mut self) -> f32 {
        let mut peak = None::<f32>;
        for (at, chunk) in self.chunks.try_iter() {
            self.newest = Some(at);
            let p = chunk.iter().fold(0f32, |p, s| p.max(s.abs()));
            peak = Some(peak.map_or(p, |q| q.max(p)));
            self.samples.extend_from_slice(&chunk);
        }
        if let Some(p) = peak {
            self.last_peak = p;
        }
        self.last_peak
    }

    /// Hand over what was captured so far (after [`Recorder::poll`]) and start a fresh buffer;
    /// [`Recorder::seconds`] then counts from here. Series and live listening take the audio as
    /// it comes instead of keeping one long recording.
    pub fn take(&mut self) -> Vec<f32> {
        std::mem::take(&mut self.samples)
    }

    /// Samples per second.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// When the audio callback delivered the newest audio taken by [`Recorder::poll`] (the
    /// start of a sound-to-screen latency).
    pub fn newest_at(&self) -> Option<Instant> {
        self.newest
    }

    /// Seconds captured so far.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate.max(1))
    }

    /// The device's name.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// Stop and return the mono samples and their rate.
    pub fn finish(mut self) -> (Vec<f32>, u32) {
        self.poll();
        (std::mem::take(&mut self.samples), self.sample_rate)
    }
}

fn build_input<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    tx: mpsc::SyncSender<(Instant, Vec<f32>)>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: cpal::SizedSample,
    f32: cpal::FromSample<T>,
{
    let channels = usize::from(config.channels.max(1));
    device.build_input_stream(
        config,
        move |data: &[T], _: &cpal::InputCallbackInfo| {
            let mono: Vec<f32> = data
                .chunks(channels)
                .map(|frame| {
                    frame.iter().map(|&s| f32::from_sample_(s)).sum::<f32>() / frame.len() as f32
                })
                .collect();
            tx.try_send((Instant::now(), mono)).ok(); // UI behind: drop the chunk, never block the audio thread
        },
        |err| log::warn!("audio input error: {err}"),
        None,
    )
}

use cpal::FromSample as _;

/// A clip being played; dropping it stops the sound.
pub struct Player {
    _stream: cpal::Stream,
    done: Arc<AtomicBool>,
    position: Arc<AtomicU32>,
    total: u32,
}

impl Player {
    /// Play mono `samples` recorded at `sample_rate` on the default output (resampled by
    /// nearest-sample stepping, which is fine for listening).
    pub fn play(samples: Vec<f32>, sample_rate: u32) -> Result<Self, CaptureError> {
        let device = cpal::default_host()
            .default_output_device()
            .ok_or(CaptureError::NoOutputDevice)?;
        let name = device_name(&device);
        let unavailable = |e: &dyn std::fmt::Display| CaptureError::OutputUnavailable {
            device: name.clone(),
            reason: e.to_string(),
        };
        let supported = device
            .default_output_config()
            .map_err(|e| unavailable(&e))?;
        let config = supported.config();
        let channels = usize::from(config.channels.max(1));
        let step = f64::from(sample_rate) / f64::from(supported.sample_rate().max(1));
        let done = Arc::new(AtomicBool::new(false));
        let position = Arc::new(AtomicU32::new(0));
        let total = u32::try_from(samples.len()).unwrap_or(u32::MAX);
        let mut cursor = 0f64;
        let (done2, position2) = (done.clone(), position.clone());
        let mut next = move || {
            let i = cursor as usize;
            cursor += step;
            position2.store(u32::try_from(i).unwrap_or(u32::MAX), Ordering::Relaxed);
            match samples.get(i) {
                Some(&s) => s,
                None => {
                    done2.store(true, Ordering::Relaxed);
                    0.0
                }
            }
        };
        macro_rules! build {
            ($t:ty) => {
                device.build_output_stream(
                    config,
                    move |out: &mut [$t], _: &cpal::OutputCallbackInfo| {
                        for frame in out.chunks_mut(channels) {
                            let s = <$t as cpal::Sample>::from_sample(next());
                            frame.fill(s);
                        }
                    },
                    |err| log::warn!("audio output error: {err}"),
                    None,
                )
            };
        }
        let stream = match supported.sample_format() {
            cpal::SampleFormat::F32 => build!(f32),
            cpal::SampleFormat::I16 => build!(i16),
            cpal::SampleFormat::I32 => build!(i32),
            cpal::SampleFormat::U8 => build!(u8),
            other => return Err(CaptureError::UnsupportedFormat(other.to_string())),
        }
        .map_err(|e| unavailable(&e))?;
        stream.play().map_err(|e| unavailable(&e))?;
        Ok(Self {
            _stream: stream,
            done,
            position,
            total,
        })
    }

    /// Has the clip played to its end?
    pub fn finished(&self) -> bool {
        self.done.load(Ordering::Relaxed)
    }

    /// Fraction played, 0..1.
    pub fn progress(&self) -> f32 {
        self.position.load(Ordering::Relaxed) as f32 / self.total.max(1) as f32
    }
}

/// Write mono samples as a 16-bit PCM WAV, atomically: a temporary file in the same folder is
/// written, flushed and renamed over the target, so a crash never leaves a half-written file.
pub fn write_wav(path: &Path, samples: &[f32], sample_rate: u32) -> Result<(), CaptureError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    // hound needs a seekable writer: encode in memory, then write the bytes atomically.
    let mut bytes = std::io::Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    let encoded = (|| -> Result<(), hound::Error> {
        let mut writer = hound::WavWriter::new(&mut bytes, spec)?;
        for &s in samples {
            writer.write_sample((s.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16)?;
        }
        writer.finalize()
    })();
    let fail = |reason: String| CaptureError::Write {
        path: path.display().to_string(),
        reason,
    };
    encoded.map_err(|e| fail(e.to_string()))?;
    crate::export::write_atomic(path, |out| Ok(out.write_all(bytes.get_ref())?))
        .map_err(|e| fail(e.to_string()))
}
