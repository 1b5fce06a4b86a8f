//! Exports: training metrics and analysis tables as CSV, embeddings in the TensorBoard projector
//! format (`vectors.tsv` + `metadata.tsv`) and as CSV with 2-D coordinates, prediction reports as
//! JSON, and plots as PNG. Every file is written to a temporary file in the same folder and then
//! renamed, so a crash never leaves a half-written export.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::engine::robustness::RobustnessReport;
use crate::engine::{EpochReport, Prediction};

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing the file failed.
    #[error("could not write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Encoding or writing the contents failed (CSV, JSON or PNG).
    #[error("could not encode {path}: {source}")]
    Encode {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: EncodeError,
    },
    /// The pixels given for a PNG do not make an RGBA image of the size given.
    #[error("could not encode {path}: {len} bytes is not a {width} × {height} RGBA image")]
    NotAnImage {
        /// The file.
        path: PathBuf,
        /// Bytes given.
        len: usize,
        /// Width given.
        width: u32,
        /// Height given.
        height: u32,
    },
    /// Nothing to export.
    #[error("nothing to export: {0}")]
    Empty(String),
}

/// Why the contents of a file could not be written (returned by the `fill` of [`write_atomic`]).
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// Writing the bytes failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// CSV encoding failed.
    #[error(transparent)]
    Csv(#[from] csv::Error),
    /// JSON encoding failed.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Image encoding failed.
    #[error(transparent)]
    Image(#[from] image::ImageError),
}

/// Write `path` atomically: `fill` writes into a temporary file next to it, which is synced and
/// renamed over `path` only when everything succeeded.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> Result<(), EncodeError>,
) -> Result<(), ExportError> {
    let io = |source| ExportError::Io {
        path: path.to_owned(),
        source,
    };
    let name = path.file_name().ok_or_else(|| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file name",
        ))
    })?;
    let tmp = path.with_file_name(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(io)?;
        let mut out = std::io::BufWriter::new(file);
        fill(&mut out).map_err(|source| ExportError::Encode {
            path: path.to_owned(),
            source,
        })?;
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    })();
    if result.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    result
}

fn csv_file(
    path: &Path,
    header: &[&str],
    rows: impl IntoIterator<Item = Vec<String>>,
) -> Result<(), ExportError> {
    write_atomic(path, |out| {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(header)?;
        for row in rows {
            w.write_record(&row)?;
        }
        Ok(w.flush()?)
    })
}

fn opt(v: Option<f32>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}

/// One row per epoch: losses, accuracies, macro-F1, per-modality-only accuracy, mean weights.
pub fn metrics_csv(path: &Path, history: &[EpochReport]) -> Result<(), ExportError> {
    if history.is_empty() {
        return Err(ExportError::Empty(
            "the run has no finished epoch yet".into(),
        ));
    }
    let header = [
        "epoch",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "val_macro_f1",
        "image_only_accuracy",
        "text_only_accuracy",
        "audio_only_accuracy",
        "image_weight",
        "text_weight",
        "audio_weight",
        "learning_rate",
        "seconds",
        "best",
    ];
    let rows = history.iter().map(|e| {
        let mut row = vec![
            e.epoch.to_string(),
            e.train_loss.to_string(),
            e.train_accuracy.to_string(),
            e.val.loss.to_string(),
            e.val.accuracy.to_string(),
            e.val.macro_f1.to_string(),
        ];
        row.extend(e.val.modality_only.iter().map(|v| opt(*v)));
        row.extend(e.val.mean_weights.iter().map(ToString::to_string));
        row.extend([
            e.learning_rate.to_string(),
            e.seconds.to_string(),
            e.best.to_string(),
        ]);
        row
    });
    csv_file(path, &header, rows)
}

/// Robustness curves in long form: model, fusion, corruption, level, accuracy, area,
/// effective robustness.
pub fn robustness_csv(path: &Path, reports: &[RobustnessReport]) -> Result<(), ExportError> {
    if reports.is_empty() {
        return Err(ExportError::Empty("no robustness results yet".into()));
    }
    let header = [
        "model",
        "fusion",
        "corruption",
        "level",
        "accuracy",
        "area",
        "effective",
    ];
    let rows = reports.iter().flat_map(|r| {
        r.curves.iter().flat_map(move |c| {
            c.levels.iter().zip(&c.accuracy).map(move |(l, a)| {
                vec![
                    r.model.clone(),
                    r.fusion.name().to_owned(),
                    c.corruption.name().to_owned(),
                    l.to_string(),
                    a.to_string(),
                    c.relative.to_string(),
                    opt(c.effective),
                ]
            })
        })
    });
    csv_file(path, &header, rows)
}

/// A generic table as CSV (for the comparison and contribution tables).
pub fn table_csv(path: &Path, header: &[&str], rows: &[Vec<String>]) -> Result<(), ExportError> {
    if rows.is_empty() {
        return Err(ExportError::Empty("the table is empty".into()));
    }
    csv_file(path, header, rows.iter().cloned())
}

/// One point of an embedding export.
#[derive(Clone, Debug, PartialEq)]
pub struct EmbeddingRow<'a> {
    /// Sample id.
    pub id: &'a str,
    /// True class name.
    pub label: &'a str,
    /// Predicted class name (empty without a model).
    pub predicted: &'a str,
    /// Split name.
    pub split: &'a str,
    /// The embedding.
    pub vector: &'a [f32],
    /// Its 2-D coordinates in the current projection.
    pub xy: [f32; 2],
}

/// The TensorBoard projector pair in `dir`: `vectors.tsv` (tab-separated, no header) and
/// `metadata.tsv` (header `id label predicted split`). Returns the two paths.
pub fn tensorboard(dir: &Path, rows: &[EmbeddingRow<'_>]) -> Result<[PathBuf; 2], ExportError> {
    if rows.is_empty() {
        return Err(ExportError::Empty("no embeddings to export".into()));
    }
    std::fs::create_dir_all(dir).map_err(|source| ExportError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let vectors = dir.join("vectors.tsv");
    let metadata = dir.join("metadata.tsv");
    write_atomic(&vectors, |out| {
        for r in rows {
            let line: Vec<String> = r.vector.iter().map(ToString::to_string).collect();
            writeln!(out, "{}", line.join("\t"))?;
        }
        Ok(())
    })?;
    // Tabs and newlines inside a field would break the format.
    let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    write_atomic(&metadata, |out| {
        writeln!(out, "id\tlabel\tpredicted\tsplit")?;
        for r in rows {
            writeln!(
                out,
                "{}\t{}\t{}\t{}",
                clean(r.id),
                clean(r.label),
                clean(r.predicted),
                clean(r.split)
            )?;
        }
        Ok(())
    })?;
    Ok([vectors, metadata])
}

/// The 2-D coordinates with id, label, prediction and split, as CSV.
pub fn coordinates_csv(path: &Path, rows: &[EmbeddingRow<'_>]) -> Result<(), ExportError> {
    if rows.is_empty() {
        return Err(ExportError::Empty("no points to export".into()));
    }
    let header = ["id", "label", "predicted", "split", "x", "y"];
    let rows = rows.iter().map(|r| {
        vec![
            r.id.to_owned(),
            r.label.to_owned(),
            r.predicted.to_owned(),
            r.split.to_owned(),
            r.xy[0].to_string(),
            r.xy[1].to_string(),
        ]
    });
    csv_file(path, &header, rows)
}

/// What the user gave for a prediction report.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReportInputs {
    /// Image name (file or sample), if any.
    pub image: Option<String>,
    /// The sentence, if any.
    pub text: Option<String>,
    /// Sound name, if any.
    pub audio: Option<String>,
}

/// A prediction report: inputs, model, probabilities per class, modality weights, attention.
pub fn prediction_json(
    path: &Path,
    model: &str,
    inputs: &ReportInputs,
    prediction: &Prediction,
) -> Result<(), ExportError> {
    let probabilities: serde_json::Map<String, serde_json::Value> = prediction
        .classes
        .iter()
        .zip(&prediction.probs)
        .map(|(c, p)| (c.clone(), serde_json::json!(p)))
        .collect();
    let json = serde_json::json!({
        "format": "fusionlab-prediction",
        "model": model,
        "inputs": inputs,
        "predicted": prediction.classes.get(prediction.predicted),
        "probabilities": probabilities,
        "weights": {
            "kind": prediction.weight_kind,
            "image": prediction.weights[0],
            "text": prediction.weights[1],
            "audio": prediction.weights[2],
        },
        "prediction": prediction,
    });
    write_atomic(path, |out| {
        serde_json::to_writer_pretty(&mut *out, &json)?;
        Ok(writeln!(out)?)
    })
}

/// An RGBA image as PNG.
pub fn png(path: &Path, width: u32, height: u32, rgba: &[u8]) -> Result<(), ExportError> {
    let image = image::RgbaImage::from_raw(width, height, rgba.to_vec()).ok_or_else(|| {
        ExportError::NotAnImage {
            path: path.to_owned(),
            len: rgba.len(),
            width,
            height,
        }
    })?;
    write_atomic(path, |out| {
        let mut bytes = std::io::Cursor::new(Vec::new());
        image.write_to(&mut bytes, image::ImageFormat::Png)?;
        Ok(out.write_all(bytes.get_ref())?)
    })
}
