//! Cutting live audio into examples: a [`Series`] turns one continuous recording into N clips
//! of a fixed length with gaps between them (after a countdown); a [`Listener`] keeps the last
//! second for continuous prediction. Both count time in samples, not wall-clock time, so what
//! they cut is exactly what the microphone delivered, and tests can feed them any audio.

/// How a series is recorded.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SeriesConfig {
    /// Clips to record.
    pub clips: usize,
    /// Length of each clip in seconds.
    pub clip_seconds: f32,
    /// Pause between clips in seconds (time to change what you say or do).
    pub gap_seconds: f32,
    /// Countdown before the first clip in seconds.
    pub countdown_seconds: f32,
}

impl Default for SeriesConfig {
    fn default() -> Self {
        Self {
            clips: 5,
            clip_seconds: 1.0,
            gap_seconds: 0.5,
            countdown_seconds: 2.0,
        }
    }
}

impl SeriesConfig {
    /// Check the ranges; the message names the setting.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=100).contains(&self.clips) {
            return Err("clips in a series: choose 1 to 100".into());
        }
        if !(0.2..=10.0).contains(&self.clip_seconds) {
            return Err("clip length: choose 0.2 to 10 seconds".into());
        }
        if !(0.0..=10.0).contains(&self.gap_seconds) {
            return Err("gap between clips: choose 0 to 10 seconds".into());
        }
        if !(0.0..=10.0).contains(&self.countdown_seconds) {
            return Err("countdown: choose 0 to 10 seconds".into());
        }
        Ok(())
    }
}

/// Where a series is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SeriesPhase {
    /// Before the first clip; seconds left.
    Countdown(f32),
    /// Recording clip `clip` (0-based) of `of`; seconds left in it.
    Recording {
        /// The clip.
        clip: usize,
        /// Clips in all.
        of: usize,
        /// Seconds left of this clip.
        left: f32,
    },
    /// Between clips: the next one starts in this many seconds.
    Gap {
        /// The clip that comes next (0-based).
        next: usize,
        /// Seconds until it starts.
        left: f32,
    },
    /// Every clip is recorded.
    Done,
}

/// A series being recorded: feed it the audio as it arrives; it hands back each finished clip.
#[derive(Clone, Debug)]
pub struct Series {
    config: SeriesConfig,
    sample_rate: u32,
    /// Samples fed so far.
    position: usize,
    /// The clip being filled.
    current: Vec<f32>,
    /// Clips finished.
    finished: usize,
}

impl Series {
    /// A series at the microphone's `sample_rate`.
    pub fn new(config: SeriesConfig, sample_rate: u32) -> Self {
        Self {
            config,
            sample_rate: sample_rate.max(1),
            position: 0,
            current: Vec::new(),
            finished: 0,
        }
    }

    fn samples(&self, seconds: f32) -> usize {
        (f64::from(seconds.max(0.0)) * f64::from(self.sample_rate)).round() as usize
    }

    /// Where clip `k` starts and its length, in samples.
    fn clip_span(&self, k: usize) -> (usize, usize) {
        let clip = self.samples(self.config.clip_seconds).max(1);
        let step = clip + self.samples(self.config.gap_seconds);
        (self.samples(self.config.countdown_seconds) + k * step, clip)
    }

    /// Take newly captured audio; returns the clips it completed, in order.
    pub fn feed(&mut self, mut audio: &[f32]) -> Vec<Vec<f32>> {
        let mut done = Vec::new();
        while !audio.is_empty() && self.finished < self.config.clips {
            let (start, len) = self.clip_span(self.finished);
            let end = start + len;
            if self.position < start {
                // Countdown or gap: skip up to the clip's start.
                let skip = (start - self.position).min(audio.len());
                self.position += skip;
                audio = &audio[skip..];
                continue;
            }
            let take = (end - self.position).min(audio.len());
            self.current.extend_from_slice(&audio[..take]);
            self.position += take;
            audio = &audio[take..];
            if self.position == end {
                done.push(std::mem::take(&mut self.current));
                self.finished += 1;
            }
        }
        done
    }

    /// Where the series is now.
    pub fn phase(&self) -> SeriesPhase {
        let of = self.config.clips;
        if self.finished >= of {
            return SeriesPhase::Done;
        }
        let (start, len) = self.clip_span(self.finished);
        let seconds = |n: usize| n as f32 / self.sample_rate as f32;
        if self.position < start {
            let left = seconds(start - self.position);
            if self.finished == 0 {
                SeriesPhase::Countdown(left)
            } else {
                SeriesPhase::Gap {
                    next: self.finished,
                    left,
                }
            }
        } else {
            SeriesPhase::Recording {
                clip: self.finished,
                of,
                left: seconds(start + len - self.position),
            }
        }
    }

    /// Clips finished so far.
    pub fn finished(&self) -> usize {
        self.finished
    }

    /// Samples per second.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }
}

/// The last few seconds of live audio, for predicting continuously.
#[derive(Clone, Debug)]
pub struct Listener {
    sample_rate: u32,
    keep: usize,
    window: std::collections::VecDeque<f32>,
    /// Samples fed since the last [`Listener::window`].
    fresh: usize,
}

impl Listener {
    /// Keep the last `seconds` at `sample_rate`.
    pub fn new(sample_rate: u32, seconds: f32) -> Self {
        let keep = ((f64::from(seconds) * f64::from(sample_rate.max(1))).round() as usize).max(1);
        Self {
            sample_rate: sample_rate.max(1),
            keep,
            window: std::collections::VecDeque::with_capacity(keep),
            fresh: 0,
        }
    }

    /// Take newly captured audio (older audio beyond the window is dropped).
    pub fn feed(&mut self, audio: &[f32]) {
        let audio = &audio[audio.len().saturating_sub(self.keep)..];
        let over = (self.window.len() + audio.len()).saturating_sub(self.keep);
        self.window.drain(..over);
        self.window.extend(audio.iter().copied());
        self.fresh += audio.len();
    }

    /// Seconds held (up to the window's length).
    pub fn seconds(&self) -> f32 {
        self.window.len() as f32 / self.sample_rate as f32
    }

    /// Audio arrived since the last call to [`Listener::window`].
    pub fn has_fresh(&self) -> bool {
        self.fresh > 0
    }

    /// The held audio, oldest first; marks it seen.
    pub fn window(&mut self) -> Vec<f32> {
        self.fresh = 0;
        self.window.iter().copied().collect()
    }

    /// Samples per second.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Peak level of the held audio (0..1).
    pub fn peak(&self) -> f32 {
        self.window.iter().fold(0f32, |p, s| p.max(s.abs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_cuts_exact_clips_after_the_countdown_and_between_gaps() {
        let config = SeriesConfig {
            clips: 3,
            clip_seconds: 1.0,
            gap_seconds: 0.5,
            countdown_seconds: 2.0,
        };
        let mut series = Series::new(config, 10);
        // Sample i has value i, so each clip's content shows where it was cut.
        let audio: Vec<f32> = (0..100).map(|i| i as f32).collect();
        assert_eq!(series.phase(), SeriesPhase::Countdown(2.0));
        let mut clips = Vec::new();
        for chunk in audio.chunks(7) {
            clips.extend(series.feed(chunk));
        }
        assert_eq!(clips.len(), 3);
        assert_eq!(clips[0], (20..30).map(|i| i as f32).collect::<Vec<_>>());
        assert_eq!(clips[1], (35..45).map(|i| i as f32).collect::<Vec<_>>());
        assert_eq!(clips[2], (50..60).map(|i| i as f32).collect::<Vec<_>>());
        assert_eq!(series.phase(), SeriesPhase::Done);
        assert!(series.feed(&[1.0; 10]).is_empty());
    }

    #[test]
    fn a_series_reports_its_phase() {
        let config = SeriesConfig {
            clips: 2,
            clip_seconds: 1.0,
            gap_seconds: 1.0,
            countdown_seconds: 1.0,
        };
        let mut s = Series::new(config, 10);
        s.feed(&[0.0; 5]);
        assert_eq!(s.phase(), SeriesPhase::Countdown(0.5));
        s.feed(&[0.0; 8]);
        assert_eq!(
            s.phase(),
            SeriesPhase::Recording {
                clip: 0,
                of: 2,
                left: 0.7
            }
        );
        assert_eq!(s.feed(&[0.0; 7]).len(), 1);
        assert_eq!(s.phase(), SeriesPhase::Gap { next: 1, left: 1.0 });
        assert_eq!(s.finished(), 1);
    }

    #[test]
    fn the_listener_keeps_the_last_window() {
        let mut l = Listener::new(10, 1.0);
        l.feed(&[1.0; 4]);
        assert!((l.seconds() - 0.4).abs() < 1e-6);
        let audio: Vec<f32> = (0..25).map(|i| i as f32).collect();
        l.feed(&audio);
        assert!(l.has_fresh());
        assert_eq!(l.window(), (15..25).map(|i| i as f32).collect::<Vec<_>>());
        assert!(!l.has_fresh());
        assert_eq!(l.peak(), 24.0);
    }

    #[test]
    fn series_settings_out_of_range_name_the_setting() {
        let bad = SeriesConfig {
            clips: 0,
            ..SeriesConfig::default()
        };
        assert!(bad.validate().is_err_and(|e| e.contains("clips")));
        assert!(SeriesConfig::default().validate().is_ok());
    }
}
