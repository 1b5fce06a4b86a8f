//! Errors of the data layer. Every message names the file (and row/column where there is one),
//! says what was expected and what the user can do.

use std::path::PathBuf;

/// Why an image could not be turned into model input.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file could not be read at all.
    #[error("cannot read image {path}: {source}")]
    Io {
        /// The image file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The file is larger than the byte limit.
    #[error(
        "image {path} is {bytes} bytes, more than the limit of {limit} bytes; use a smaller image"
    )]
    TooManyBytes {
        /// The image file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The declared dimensions exceed the limit (decompression-bomb guard).
    #[error(
        "image {path} declares {width}×{height} pixels, more than the limit of {limit} pixels per side; \
         it may be a decompression bomb — use a smaller image"
    )]
    TooManyPixels {
        /// The image file.
        path: PathBuf,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The per-side limit.
        limit: u32,
    },
    /// The bytes are not an image format we read.
    #[error("{path} is not a supported image (expected PNG, JPEG, BMP, GIF or WebP): {reason}")]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// The format was recognised but the data is broken (e.g. truncated).
    #[error("image {path} is corrupt or truncated: {reason}; re-export or re-download it")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// The image has a zero dimension.
    #[error("image {path} has no pixels ({width}×{height})")]
    Empty {
        /// The file.
        path: PathBuf,
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
}

/// Why an audio file could not be turned into model input.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The file could not be read at all.
    #[error("cannot read audio {path}: {source}")]
    Io {
        /// The audio file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Not a RIFF/WAVE file.
    #[error("{path} is not a WAV file ({reason}); convert it to WAV (PCM or 32-bit float)")]
    NotWav {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// The header promises more data than the file holds.
    #[error("WAV file {path} is truncated: {reason}; re-export or re-record it")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Details.
        reason: String,
    },
    /// The file has a valid header but no samples.
    #[error("WAV file {path} contains no samples; record or export at least a few milliseconds")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A WAV variant we do not decode.
    #[error(
        "WAV file {path} uses an unsupported format ({what}); expected 8/16/24/32-bit integer PCM \
         or 32-bit float"
    )]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// The format found.
        what: String,
    },
    /// Longer than the configured maximum.
    #[error(
        "audio {path} is {seconds:.1} s long, more than the limit of {limit:.0} s; trim it first"
    )]
    TooLong {
        /// The file.
        path: PathBuf,
        /// Its duration.
        seconds: f64,
        /// The limit.
        limit: f64,
    },
    /// A 32-bit float sample that is NaN, infinite or far outside the -1..1 range.
    #[error(
        "WAV file {path} is damaged: sample {index} is {value}, but float samples lie between -1 \
         and 1; re-export or re-record it"
    )]
    BadSample {
        /// The file.
        path: PathBuf,
        /// Position of the sample (interleaved, from 0).
        index: usize,
        /// Its value.
        value: f32,
    },
    /// The resampler refused the input.
    #[error("cannot resample audio {path} from {from} Hz: {reason}")]
    Resample {
        /// The file.
        path: PathBuf,
        /// Source rate.
        from: u32,
        /// What rubato said.
        reason: String,
    },
}

/// What is wrong with one row of a dataset table (reported, the rest still loads).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A referenced file does not exist.
    MissingFile,
    /// A referenced file exists but cannot be decoded.
    BadFile,
    /// The label is empty, or does not occur in the training split.
    UnknownLabel,
    /// A field is not valid UTF-8.
    NotUtf8,
    /// The split value is not train/val/test.
    BadSplit,
    /// The row has the wrong number of fields or no usable modality.
    BadRow,
}

/// One bad row: where it is, which column, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    /// The table file.
    pub file: PathBuf,
    /// 1-based line number in the file (the header is line 1).
    pub line: usize,
    /// The column at fault, if one.
    pub column: Option<String>,
    /// The category.
    pub kind: ProblemKind,
    /// A readable explanation.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} row {}", self.file.display(), self.line)?;
        if let Some(column) = &self.column {
            write!(f, ", column '{column}'")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Why a whole dataset could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The path does not exist or cannot be read.
    #[error("cannot read dataset {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A folder without a table we understand.
    #[error(
        "{path} has neither manifest.csv nor metadata.csv; add a manifest (label plus any of image, \
         audio, text columns) or use synthetic:<preset>"
    )]
    NoTable {
        /// The folder.
        path: PathBuf,
    },
    /// A required column is missing from the header.
    #[error("{file}: missing column '{column}' (found: {found}); {hint}")]
    MissingColumn {
        /// The table.
        file: PathBuf,
        /// The missing column.
        column: String,
        /// The header that was found.
        found: String,
        /// What the file needs.
        hint: String,
    },
    /// The table itself could not be parsed (header unreadable, not CSV).
    #[error("{file}: not a readable CSV table: {reason}")]
    Csv {
        /// The table.
        file: PathBuf,
        /// What the CSV reader said.
        reason: String,
    },
    /// Every row was bad, or there were none.
    #[error(
        "{file}: no usable samples ({} bad rows{}); fix the rows listed, or add rows with a label \
         and at least one of image, audio, text",
        problems.len(),
        problems.first().map(|p| format!("; the first: {p}")).unwrap_or_default()
    )]
    NoSamples {
        /// The table.
        file: PathBuf,
        /// Every bad row.
        problems: Vec<Problem>,
    },
    /// `--strict` and at least one bad row.
    #[error("{} bad rows (strict mode); the first: {}", .0.len(), .0.first().map(ToString::to_string).unwrap_or_default())]
    Strict(Vec<Problem>),
    /// A `synthetic:` spec that does not parse or is out of range.
    #[error("dataset '{spec}': {reason}")]
    BadSpec {
        /// The spec as given.
        spec: String,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// The user cancelled the load.
    #[error("loading was cancelled")]
    Cancelled,
}

impl DatasetError {
    /// The bad rows behind this error (strict mode, or no usable sample), for listing them all.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Strict(problems) | Self::NoSamples { problems, .. } => problems,
            _ => &[],
        }
    }
}
