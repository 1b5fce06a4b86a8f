//! Naming a dataset: a folder, a CSV file, or `synthetic:<preset>[?knob=value&…]`.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::synthetic::{Preset, SyntheticConfig};
use super::{Dataset, DatasetError, FeatureConfig, LoadObserver, Modality, SplitFractions};

/// Where a dataset comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum DatasetSpec {
    /// The built-in generator with its knobs.
    Synthetic(SyntheticConfig),
    /// A folder (with `manifest.csv` or `metadata.csv`) or a CSV file.
    Path(PathBuf),
}

impl Default for DatasetSpec {
    fn default() -> Self {
        Self::Synthetic(SyntheticConfig::new(Preset::Redundant))
    }
}

/// The knobs a `synthetic:` spec accepts, for error messages and help.
pub const SYNTHETIC_KNOBS: &str = "samples, classes, seed, noise, image_noise, text_noise, \
     audio_noise, missing, image_missing, text_missing, audio_missing, split=TRAIN,VAL,TEST";

impl FromStr for DatasetSpec {
    type Err = DatasetError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let Some(rest) = spec.strip_prefix("synthetic") else {
            return Ok(Self::Path(PathBuf::from(spec)));
        };
        let bad = |reason: String| DatasetError::BadSpec {
            spec: spec.to_owned(),
            reason,
        };
        let rest = rest.strip_prefix(':').unwrap_or(rest);
        let (name, query) = rest.split_once('?').unwrap_or((rest, ""));
        let preset = if name.is_empty() {
            Preset::Redundant
        } else {
            Preset::parse(name).ok_or_else(|| {
                let names: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
                bad(format!(
                    "unknown preset '{name}'; presets: {}",
                    names.join(", ")
                ))
            })?
        };
        let mut cfg = SyntheticConfig::new(preset);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| bad(format!("'{pair}' is not knob=value")))?;
            let num = |what: &str| -> Result<f32, DatasetError> {
                value
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| bad(format!("{key}={value}: expected {what}")))
            };
            let int = || -> Result<u64, DatasetError> {
                value
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| bad(format!("{key}={value}: expected a whole number")))
            };
            let modality =
                |prefix: &str| Modality::ALL.iter().find(|m| m.name() == prefix).copied();
            match key {
                "samples" => cfg.samples = usize::try_from(int()?).unwrap_or(usize::MAX),
                "classes" => cfg.classes = usize::try_from(int()?).unwrap_or(usize::MAX),
                "seed" => cfg.seed = int()?,
                "noise" => cfg.noise = [num("a number 0–1")?; 3],
                "missing" => cfg.missing = [num("a probability 0–1")?; 3],
                "split" => {
                    let parts: Vec<f32> = value
                        .split(',')
                        .map(|p| p.trim().parse::<f32>())
                        .collect::<Result<_, _>>()
                        .map_err(|_| {
                            bad(format!("split={value}: expected TRAIN,VAL,TEST fractions"))
                        })?;
                    let [train, val, test] = parts[..] else {
                        return Err(bad(format!(
                            "split={value}: expected three fractions TRAIN,VAL,TEST"
                        )));
                    };
                    cfg.split = SplitFractions { train, val, test };
                }
                _ => match key.split_once('_') {
                    Some((m, "noise")) if modality(m).is_some() => {
                        cfg.noise[modality(m).map_or(0, Modality::index)] = num("a number 0–1")?;
                    }
                    Some((m, "missing")) if modality(m).is_some() => {
                        cfg.missing[modality(m).map_or(0, Modality::index)] =
                            num("a probability 0–1")?;
                    }
                    _ => {
                        return Err(bad(format!(
                            "unknown knob '{key}'; knobs: {SYNTHETIC_KNOBS}"
                        )));
                    }
                },
            }
        }
        cfg.validate().map_err(|e| bad(e.to_string()))?;
        Ok(Self::Synthetic(cfg))
    }
}

impl std::fmt::Display for DatasetSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Synthetic(cfg) => f.write_str(&cfg.spec()),
            Self::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

/// How to load: preprocessing, strictness, and the split used when the data gives none.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadOptions {
    /// Preprocessing settings.
    pub features: FeatureConfig,
    /// Turn any bad row into an error instead of skipping it.
    pub strict: bool,
    /// Seed of the stratified split of folder datasets without a `split` column.
    pub seed: u64,
    /// Fractions of that split.
    pub split: SplitFractions,
}

/// Load any dataset.
pub fn load_dataset(
    spec: &DatasetSpec,
    options: &LoadOptions,
    observer: &dyn LoadObserver,
) -> Result<Dataset, DatasetError> {
    match spec {
        DatasetSpec::Synthetic(cfg) => super::synthetic::generate(cfg, &options.features, observer),
        DatasetSpec::Path(path) => super::folder::load(Path::new(path), options, observer),
    }
}
