//! The microphone: checking for one in the background, recording (with its level) and the
//! recording becoming the sound input; the clip playing.

use std::sync::mpsc;
use std::time::Duration;

use super::Inputs;
use crate::audio::{CaptureError, Recorder, probe_input};
use crate::worker::DecodedAudio;

/// Longest recording; it stops by itself here.
pub const MAX_RECORDING_SECONDS: f64 = 30.0;

/// Is a microphone usable?
#[derive(Clone, Debug, PartialEq)]
pub enum MicStatus {
    /// Still checking (in a background thread).
    Checking,
    /// Usable; the device name.
    Ready(String),
    /// Not usable; why.
    Unavailable(String),
}

/// The answer of the background microphone check: the device name, or why there is none.
pub(super) type Probe = mpsc::Receiver<Result<String, crate::audio::CaptureError>>;

impl Inputs {
    /// Start checking for a microphone in the background.
    pub fn probe_microphone(&mut self, wake: impl Fn() + Send + 'static) {
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("mic_probe".into())
            .spawn(move || {
                tx.send(probe_input()).ok();
                wake();
            });
        match spawned {
            Ok(_) => self.mic_probe = Some(rx),
            Err(e) => self.mic = MicStatus::Unavailable(format!("cannot check: {e}")),
        }
    }

    /// Once per frame: microphone probe result and recording level.
    pub fn poll(&mut self, ctx: &egui::Context) {
        if let Some(rx) = &self.mic_probe
            && let Ok(result) = rx.try_recv()
        {
            self.mic = match result {
                Ok(name) => MicStatus::Ready(name),
                Err(reason) => MicStatus::Unavailable(reason.to_string()),
            };
            self.mic_probe = None;
        }
        if let Some(rec) = &mut self.recorder {
            self.level = rec.poll();
            ctx.request_repaint_after(Duration::from_millis(33));
            if rec.seconds() >= MAX_RECORDING_SECONDS {
                self.stop_recording();
            }
        }
        if let Some(player) = &self.player {
            if player.finished() {
                self.player = None;
            } else {
                ctx.request_repaint_after(Duration::from_millis(50));
            }
        }
    }

    /// Start recording from the default microphone.
    pub fn start_recording(&mut self) -> Result<(), CaptureError> {
        self.player = None;
        let recorder = Recorder::start()?;
        self.mic = MicStatus::Ready(recorder.device().to_owned());
        self.recorder = Some(recorder);
        self.level = 0.0;
        Ok(())
    }

    /// Stop recording; the recording becomes the sound input.
    pub fn stop_recording(&mut self) {
        let Some(rec) = self.recorder.take() else {
            return;
        };
        let (samples, sample_rate) = rec.finish();
        let seconds = samples.len() as f32 / sample_rate.max(1) as f32;
        let peak = samples.iter().fold(0f32, |p, s| p.max(s.abs()));
        self.error = if samples.is_empty() {
            Some("nothing was recorded: the microphone delivered no audio".into())
        } else if peak < 1e-3 {
            Some("the recording is silent: check that the microphone is on and not muted".into())
        } else {
            None
        };
        if !samples.is_empty() {
            self.audio = Some(DecodedAudio {
                name: format!("recording ({seconds:.1} s)"),
                sample_rate,
                samples,
            });
            self.changed = true;
        }
    }
}
