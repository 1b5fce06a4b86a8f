//! MultiBench-style robustness: corrupt one modality at a time at levels 0…1 and measure
//! accuracy. Every corruption draws its randomness once per sample and scales it with the level
//! (the same noise, a growing patch, nested sets of dropped words), so a curve shows the effect of
//! the level and not of fresh dice.

mod corrupt;

pub use corrupt::Corrupter;

use super::extract::{BackboneInput, ExtractObserver, Extractor};
use super::{Batcher, EngineError, evaluate};
use crate::data::Sample;
use crate::model::{Backbones, FusionKind, FusionModel};

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

/// Blur σ in pixels at level 1.
const BLUR_SIGMA: f32 = 2.5;

/// Signal-to-noise ratio of the audio noise at a level.
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

/// The corruptions of `cfg` that apply to `samples`: those whose modality some sample has.
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

/// Measure `model` on `samples` under every applicable corruption and level. For a modality
/// the model reads through a frozen backbone, the corruption damages the original input (the
/// picture, sentence or recording) and `extractor` runs the backbone on it — cached by content,
/// so a second run only reads the cache. `progress(done, total)` counts samples evaluated or
/// re-extracted; return `false` from it to cancel (→ `Ok(None)`).
pub fn robustness(
    model: &FusionModel,
    batcher: &Batcher<'_>,
    corrupter: &Corrupter<'_>,
    extractor: &mut Extractor,
    samples: &[&Sample],
    cfg: &RobustnessConfig,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Option<(f32, Vec<RobustnessCurve>)>, EngineError> {
    cfg.validate()?;
    if samples.is_empty() {
        return Err(EngineError::Data(
            "no samples to measure robustness on".into(),
        ));
    }
    let corruptions = applicable(cfg, samples);
    if corruptions.is_empty() {
        return Err(EngineError::Data(
            "none of the chosen corruptions applies: the samples lack those modalities".into(),
        ));
    }
    let backbones: &Backbones = &model.config().backbones;
    let rerun = |c: Corruption| backbones.get(c.modality()).filter(|_| !c.is_missing());
    let levels = cfg.level_values();
    let n = samples.len();
    let steps: usize = corruptions
        .iter()
        .map(|&c| (levels.len() - 1) * if rerun(c).is_some() { 2 } else { 1 })
        .sum();
    let total = n * (1 + steps);
    let classes = model.config().classes;
    let never = || false;
    let accuracy = |set: &[&Sample]| -> Result<f32, EngineError> {
        Ok(evaluate(model, batcher, set, classes, false, &never)?
            .map_or(0.0, |e| e.metrics.accuracy))
    };
    let clean = accuracy(samples)?;
    let mut done = n;
    if !progress(done, total) {
        return Ok(None);
    }
    let mut curves = Vec::with_capacity(corruptions.len());
    for corruption in corruptions {
        let mut acc = vec![clean];
        for &level in &levels[1..] {
            let damaged: Vec<Sample> = match rerun(corruption) {
                None => samples
                    .iter()
                    .enumerate()
                    .map(|(i, s)| corrupter.corrupt(s, i, corruption, level))
                    .collect(),
                Some(backbone) => {
                    let mut copies: Vec<Sample> = samples.iter().map(|&s| s.clone()).collect();
                    let observer = Steps::new(done, total, progress);
                    let damage = |i: usize, input: &mut BackboneInput| {
                        corrupter.corrupt_input(input, i, corruption, level)
                    };
                    let finished = extractor.damaged(
                        &mut copies,
                        corrupter.features(),
                        backbone,
                        corruption.modality(),
                        &damage,
                        &observer,
                    )?;
                    if finished.is_none() || observer.stopped.get() {
                        return Ok(None);
                    }
                    done += n;
                    copies
                }
            };
            let refs: Vec<&Sample> = damaged.iter().collect();
            acc.push(accuracy(&refs)?);
            done += n;
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

/// Extraction progress inside one level, reported as part of the whole run.
struct Steps<'a, 'p> {
    before: usize,
    total: usize,
    progress: std::cell::RefCell<&'a mut (dyn FnMut(usize, usize) -> bool + 'p)>,
    stopped: std::cell::Cell<bool>,
}

impl<'a, 'p> Steps<'a, 'p> {
    fn new(
        before: usize,
        total: usize,
        progress: &'a mut (dyn FnMut(usize, usize) -> bool + 'p),
    ) -> Self {
        Self {
            before,
            total,
            progress: std::cell::RefCell::new(progress),
            stopped: std::cell::Cell::new(false),
        }
    }
}

impl ExtractObserver for Steps<'_, '_> {
    fn progress(&self, done: usize, _total: usize) {
        if let Ok(mut report) = self.progress.try_borrow_mut()
            && !report(self.before + done, self.total)
        {
            self.stopped.set(true);
        }
    }
    fn cancelled(&self) -> bool {
        self.stopped.get()
    }
}
