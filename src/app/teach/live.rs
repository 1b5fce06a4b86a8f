//! Live audio in the Teach panel: a recorded series (countdown, then N clips with gaps, each an
//! example), a clip recorded while Space is held, and Listen — the last second of the microphone
//! predicted again and again, the bars moving with the sound. Listen measures its latency: from
//! the audio callback that delivered the newest sound in a window to the frame whose bars show
//! the answer for it.

use std::time::{Duration, Instant};

use super::super::Inputs;
use super::super::inputs::MicStatus;
use super::super::panel::PanelCtx;
use super::super::widgets::clock;
use super::TeachView;
use crate::audio::{Listener, Recorder, Series, SeriesPhase};
use crate::worker::DecodedAudio;

/// Seconds of sound Listen predicts from.
pub const LISTEN_SECONDS: f32 = 1.0;
/// Least time between two Listen predictions.
pub const LISTEN_EVERY: Duration = Duration::from_millis(100);
/// A held-Space clip shorter than this is dropped (a tap, not a recording).
const MIN_HOLD_SECONDS: f64 = 0.2;
/// Longest held-Space clip.
const MAX_HOLD_SECONDS: f64 = 10.0;

/// What the microphone is being used for.
enum Capture {
    /// A series into `class`.
    Series { class: String, series: Series },
    /// A clip while Space is held, into `class`.
    Hold { class: String },
    /// Continuous prediction.
    Listen {
        listener: Listener,
        /// The window waiting for its answer: when its newest audio arrived, the prediction
        /// view's generation then, and when it was sent.
        sent: Option<Sent>,
        /// When the last window was sent.
        last: Option<Instant>,
    },
}

/// A Listen window waiting for its answer.
#[derive(Clone, Copy, Debug)]
struct Sent {
    audio_at: Instant,
    generation: usize,
    at: Instant,
}

/// Sound-to-bars latency of Listen, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListenStats {
    /// Every measured latency, in order.
    pub latencies_ms: Vec<f32>,
}

impl ListenStats {
    /// Median and largest, when any was measured.
    pub fn summary(&self) -> Option<(f32, f32)> {
        if self.latencies_ms.is_empty() {
            return None;
        }
        let mut v = self.latencies_ms.clone();
        v.sort_by(f32::total_cmp);
        Some((v[v.len() / 2], v[v.len() - 1]))
    }
}

/// Live audio: the microphone when in use and what for.
#[derive(Default)]
pub struct Live {
    recorder: Option<Recorder>,
    capture: Option<Capture>,
    /// Peak level of the audio taken in the last frame (0..1).
    pub level: f32,
    /// Listen's latencies.
    pub stats: ListenStats,
}

/// Why recording cannot start, or `None` when it can (or may: still checking).
pub fn mic_reason(mic: &MicStatus) -> Option<String> {
    match mic {
        MicStatus::Unavailable(reason) => Some(format!("no microphone: {reason}")),
        _ => None,
    }
}

impl Live {
    /// Is the microphone in use?
    pub fn is_active(&self) -> bool {
        self.capture.is_some()
    }

    /// What the microphone is used for: `series`, `hold` or `listen`.
    pub fn mode(&self) -> Option<&'static str> {
        self.capture.as_ref().map(|c| match c {
            Capture::Series { .. } => "series",
            Capture::Hold { .. } => "hold",
            Capture::Listen { .. } => "listen",
        })
    }

    /// Is Listen on?
    pub fn is_listening(&self) -> bool {
        matches!(self.capture, Some(Capture::Listen { .. }))
    }

    fn open(&mut self) -> Result<&mut Recorder, String> {
        if self.recorder.is_none() {
            self.recorder = Some(Recorder::start().map_err(|e| e.to_string())?);
        }
        self.recorder
            .as_mut()
            .ok_or_else(|| "the microphone closed".to_owned())
    }

    /// Start recording a series into `class`.
    pub fn start_series(
        &mut self,
        class: &str,
        config: crate::audio::SeriesConfig,
    ) -> Result<(), String> {
        config.validate()?;
        let rate = self.open()?.sample_rate();
        self.capture = Some(Capture::Series {
            class: class.to_owned(),
            series: Series::new(config, rate),
        });
        Ok(())
    }

    /// Start listening continuously.
    pub fn start_listening(&mut self) -> Result<(), String> {
        let rate = self.open()?.sample_rate();
        self.stats = ListenStats::default();
        self.capture = Some(Capture::Listen {
            listener: Listener::new(rate, LISTEN_SECONDS),
            sent: None,
            last: None,
        });
        Ok(())
    }

    /// Start a held-Space clip into `class`.
    pub fn start_hold(&mut self, class: &str) -> Result<(), String> {
        self.open()?.take();
        self.capture = Some(Capture::Hold {
            class: class.to_owned(),
        });
        Ok(())
    }

    /// Stop whatever runs (a series keeps the clips already finished).
    pub fn stop(&mut self) {
        self.capture = None;
        self.recorder = None;
        self.level = 0.0;
    }
}

/// Clips finished this frame, to add to a class: `(class, samples, rate)`.
type Clips = Vec<(String, Vec<f32>, u32)>;

impl TeachView {
    /// Once per frame, after the worker's events: take the microphone's audio, hand finished
    /// clips to their class, start and end held-Space clips, and feed Listen's window to the
    /// inputs (a prediction follows) while measuring its latency. `shown`: the panel is on screen.
    pub fn tick(
        &mut self,
        ctx: &egui::Context,
        jobs: &mut super::super::Jobs,
        inputs: &mut Inputs,
        prediction_generation: usize,
        shown: bool,
    ) {
        self.hold_key(ctx, jobs, inputs, shown);
        if self.live.capture.is_none() {
            return;
        }
        ctx.request_repaint_after(Duration::from_millis(30));
        let Some(rec) = self.live.recorder.as_mut() else {
            self.live.capture = None;
            return;
        };
        self.live.level = rec.poll();
        if matches!(self.live.capture, Some(Capture::Hold { .. })) {
            return; // held audio stays in the recorder until Space is let go
        }
        let rate = rec.sample_rate();
        let newest = rec.newest_at();
        let audio = rec.take();
        let mut clips: Clips = Vec::new();
        let mut done = false;
        match &mut self.live.capture {
            Some(Capture::Series { class, series }) => {
                for clip in series.feed(&audio) {
                    clips.push((class.clone(), clip, rate));
                }
                done = series.phase() == SeriesPhase::Done;
            }
            Some(Capture::Listen {
                listener,
                sent,
                last,
            }) => {
                listener.feed(&audio);
                listen_step(
                    listener,
                    (sent, last),
                    newest,
                    inputs,
                    prediction_generation,
                    &mut self.live.stats,
                );
            }
            Some(Capture::Hold { .. }) | None => {}
        }
        for (class, samples, rate) in clips {
            self.add_clip(jobs, &class, samples, rate);
        }
        if done {
            self.live.stop();
            self.done = Some("series recorded".into());
        }
    }

    /// Space held (no text field focused, the panel shown, a class selected) records a clip.
    fn hold_key(
        &mut self,
        ctx: &egui::Context,
        jobs: &mut super::super::Jobs,
        inputs: &Inputs,
        shown: bool,
    ) {
        let typing = ctx.text_edit_focused();
        let down = shown && !typing && ctx.input(|i| i.key_down(egui::Key::Space));
        let holding = matches!(self.live.capture, Some(Capture::Hold { .. }));
        if down && self.live.capture.is_none() {
            let Some(class) = self.selected.clone() else {
                return;
            };
            if let Some(why) = mic_reason(&inputs.mic) {
                self.error = Some(why);
                return;
            }
            if let Err(e) = self.live.start_hold(&class) {
                self.error = Some(e);
            }
        } else if holding {
            let too_long = self
                .live
                .recorder
                .as_ref()
                .is_some_and(|r| r.seconds() >= MAX_HOLD_SECONDS);
            if !down || too_long {
                self.finish_hold(jobs);
            }
        }
    }

    fn finish_hold(&mut self, jobs: &mut super::super::Jobs) {
        let Some(Capture::Hold { class }) = self.live.capture.take() else {
            return;
        };
        let Some(mut rec) = self.live.recorder.take() else {
            return;
        };
        rec.poll();
        let rate = rec.sample_rate();
        let samples = rec.take();
        self.live.level = 0.0;
        let seconds = samples.len() as f64 / f64::from(rate.max(1));
        if seconds < MIN_HOLD_SECONDS {
            self.error = Some(format!(
                "the clip was {seconds:.2} s: hold Space for as long as the sound lasts"
            ));
            return;
        }
        self.add_clip(jobs, &class, samples, rate);
    }

    /// Series settings, the live state (countdown, level), Listen and its latency.
    pub(super) fn live_ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>, inputs: &Inputs) {
        ui.strong("Microphone");
        ui.horizontal_wrapped(|ui| {
            ui.label("Series:");
            ui.add(
                egui::DragValue::new(&mut self.series.clips)
                    .range(1..=100)
                    .suffix(" clips"),
            );
            ui.add(
                egui::DragValue::new(&mut self.series.clip_seconds)
                    .range(0.2..=10.0)
                    .speed(0.1)
                    .suffix(" s each"),
            );
            ui.add(
                egui::DragValue::new(&mut self.series.gap_seconds)
                    .range(0.0..=10.0)
                    .speed(0.1)
                    .suffix(" s gap"),
            );
        });
        if let Some(why) = mic_reason(&inputs.mic) {
            ui.colored_label(ui.visuals().warn_fg_color, why);
        } else if let Some(class) = &self.selected {
            ui.small(format!("Hold Space to record a clip into '{class}'."));
        }
        match &self.live.capture {
            Some(Capture::Series { class, series }) => {
                let text = match series.phase() {
                    SeriesPhase::Countdown(left) => format!("get ready… {:.0}", left.ceil()),
                    SeriesPhase::Recording { clip, of, left } => {
                        format!("recording {} of {of} for '{class}' — {left:.1} s", clip + 1)
                    }
                    SeriesPhase::Gap { next, left } => {
                        format!("next clip ({}) in {left:.1} s", next + 1)
                    }
                    SeriesPhase::Done => "done".into(),
                };
                ui.colored_label(egui::Color32::from_rgb(230, 60, 60), text);
            }
            Some(Capture::Hold { class }) => {
                let secs = self.live.recorder.as_ref().map_or(0.0, Recorder::seconds);
                ui.colored_label(
                    egui::Color32::from_rgb(230, 60, 60),
                    format!("recording into '{class}' — {}", clock(secs as f32)),
                );
            }
            _ => {}
        }
        if self.live.is_active() {
            ui.add(
                egui::ProgressBar::new(self.live.level.clamp(0.0, 1.0))
                    .desired_width(160.0)
                    .text(format!("level {:.0}%", self.live.level * 100.0)),
            );
        }
        ui.horizontal(|ui| {
            if self.live.is_listening() {
                if ui.button("Stop listening").clicked() {
                    self.live.stop();
                }
            } else {
                let why = mic_reason(&inputs.mic).or_else(|| {
                    ctx.model
                        .card
                        .is_none()
                        .then(|| "train or load a model first".to_owned())
                });
                let busy = self.live.is_active();
                if ui
                    .add_enabled(why.is_none() && !busy, egui::Button::new("Listen"))
                    .on_hover_text(
                        "predict from the last second of the microphone, several times a \
                         second, together with the picture and sentence in Inputs",
                    )
                    .on_disabled_hover_text(why.unwrap_or_else(|| "a recording is going on".into()))
                    .clicked()
                    && let Err(e) = self.live.start_listening()
                {
                    self.error = Some(e);
                }
            }
            if self.live.is_active() && !self.live.is_listening() && ui.button("Stop").clicked() {
                self.live.stop();
            }
        });
        if let Some((median, max)) = self.live.stats.summary() {
            ui.small(format!(
                "sound to bars: {median:.0} ms median, {max:.0} ms at most ({} updates)",
                self.live.stats.latencies_ms.len()
            ));
        }
    }
}

/// One Listen step: record the latency of the answer to the window sent, and send the next
/// window (into the inputs' sound) when the last answer came and enough time has passed.
fn listen_step(
    listener: &mut Listener,
    (sent, last): (&mut Option<Sent>, &mut Option<Instant>),
    newest: Option<Instant>,
    inputs: &mut Inputs,
    generation: usize,
    stats: &mut ListenStats,
) {
    if let Some(waiting) = *sent {
        if generation != waiting.generation {
            let ms = waiting.audio_at.elapsed().as_secs_f32() * 1000.0;
            stats.latencies_ms.push(ms);
            if stats.latencies_ms.len().is_multiple_of(20)
                && let Some((median, max)) = stats.summary()
            {
                log::info!(
                    "listen: sound → bars {median:.0} ms median, {max:.0} ms max over {} updates",
                    stats.latencies_ms.len()
                );
            }
            *sent = None;
        } else if waiting.at.elapsed() < Duration::from_secs(2) {
            return; // still waiting for the answer (after 2 s: sent again)
        }
    }
    if last.is_some_and(|at| at.elapsed() < LISTEN_EVERY) {
        return;
    }
    let Some(audio_at) = newest else {
        return;
    };
    if !listener.has_fresh() || listener.seconds() < 0.25 {
        return;
    }
    let samples = listener.window();
    inputs.audio = Some(DecodedAudio {
        name: "microphone (live)".into(),
        sample_rate: listener.sample_rate(),
        samples,
    });
    inputs.changed = true;
    let now = Instant::now();
    *sent = Some(Sent {
        audio_at,
        generation,
        at: now,
    });
    *last = Some(now);
}
