//! Reading a dataset table: the header (which convention, which columns) and each row, with
//! every bad row kept as a problem (line, column, reason) instead of stopping the load.

use std::path::{Path, PathBuf};

use crate::data::image::IMAGE_EXTENSIONS;
use crate::data::text::tokenize;
use crate::data::{DatasetError, Problem, ProblemKind, Split};

/// One row of a table, before any file is opened.
#[derive(Clone, Debug, Default)]
pub(super) struct Row {
    pub(super) table: PathBuf,
    pub(super) line: usize,
    pub(super) id: String,
    pub(super) label: String,
    pub(super) split: Option<Split>,
    pub(super) image: Option<PathBuf>,
    pub(super) audio: Option<PathBuf>,
    pub(super) text: Option<String>,
}

/// Which convention a table follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    Manifest,
    HuggingFace,
}

/// Read one CSV table into rows, recording bad rows as problems.
pub(super) fn read_table(
    file: &Path,
    folder_split: Option<Split>,
    rows: &mut Vec<Row>,
    problems: &mut Vec<Problem>,
) -> Result<(), DatasetError> {
    let csv_error = |reason: String| DatasetError::Csv {
        file: file.to_owned(),
        reason,
    };
    let handle = std::fs::File::open(file).map_err(|source| DatasetError::Io {
        path: file.to_owned(),
        source,
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(std::io::BufReader::new(handle));
    let raw_header = reader
        .byte_headers()
        .map_err(|e| csv_error(e.to_string()))?;
    if raw_header.iter().all(<[u8]>::is_empty) {
        return Err(csv_error(
            "the file is empty; expected a header line such as label,image,audio,text".into(),
        ));
    }
    if raw_header
        .iter()
        .any(|h| h.contains(&0) || std::str::from_utf8(h).is_err())
    {
        return Err(csv_error(
            "the header line is binary or not UTF-8, so this is not a CSV text file; \
             expected a header line such as label,image,audio,text"
                .into(),
        ));
    }
    let header: Vec<String> = raw_header
        .iter()
        .map(|h| {
            String::from_utf8_lossy(h)
                .trim()
                .trim_start_matches('\u{feff}')
                .to_lowercase()
        })
        .collect();
    let column = |name: &str| header.iter().position(|h| h == name);
    let layout = if column("file_name").is_some() {
        Layout::HuggingFace
    } else {
        Layout::Manifest
    };
    let missing = |name: &str, hint: &str| DatasetError::MissingColumn {
        file: file.to_owned(),
        column: name.to_owned(),
        found: header.join(","),
        hint: hint.to_owned(),
    };
    let cols = Columns {
        id: column("id"),
        label: column("label"),
        split: column("split"),
        image: column("image"),
        audio: column("audio"),
        text: column("text"),
        file_name: column("file_name"),
    };
    if layout == Layout::Manifest {
        if cols.label.is_none() {
            return Err(missing(
                "label",
                "a manifest needs a label column plus any of image, audio, text",
            ));
        }
        if cols.image.is_none() && cols.audio.is_none() && cols.text.is_none() {
            return Err(missing(
                "image, audio or text",
                "a manifest needs at least one modality column",
            ));
        }
    }
    let table = Table {
        file,
        header: &header,
        cols,
        layout,
        base: file.parent().unwrap_or(Path::new(".")),
        folder_split,
    };
    for record in reader.byte_records() {
        let record = match record {
            Ok(r) => r,
            Err(err) => {
                let line = err.position().map_or(0, |p| p.line() as usize);
                problems.push(problem(
                    file,
                    line,
                    None,
                    ProblemKind::BadRow,
                    err.to_string(),
                ));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.len() != header.len() {
            problems.push(problem(
                file,
                line,
                None,
                ProblemKind::BadRow,
                format!(
                    "expected {} fields like the header, found {}",
                    header.len(),
                    record.len()
                ),
            ));
            continue;
        }
        match parse_row(&table, &record, line) {
            Ok(row) => rows.push(row),
            Err((column, kind, message)) => {
                problems.push(problem(file, line, Some(column), kind, message));
            }
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
struct Columns {
    id: Option<usize>,
    label: Option<usize>,
    split: Option<usize>,
    image: Option<usize>,
    audio: Option<usize>,
    text: Option<usize>,
    file_name: Option<usize>,
}

type RowError = (String, ProblemKind, String);

/// What every row of one table shares.
struct Table<'a> {
    file: &'a Path,
    header: &'a [String],
    cols: Columns,
    layout: Layout,
    base: &'a Path,
    folder_split: Option<Split>,
}

fn parse_row(t: &Table<'_>, record: &csv::ByteRecord, line: usize) -> Result<Row, RowError> {
    let Table {
        file: table,
        header,
        cols,
        layout,
        base,
        folder_split,
    } = *t;
    let field = |index: Option<usize>| -> Result<Option<String>, RowError> {
        let Some(i) = index else { return Ok(None) };
        let bytes = record.get(i).unwrap_or_default();
        let name = header.get(i).cloned().unwrap_or_default();
        let text = std::str::from_utf8(bytes).map_err(|e| {
            (
                name,
                ProblemKind::NotUtf8,
                format!(
                    "not valid UTF-8 (byte {} of the field); save the CSV as UTF-8",
                    e.valid_up_to() + 1
                ),
            )
        })?;
        let text = text.trim();
        Ok((!text.is_empty()).then(|| text.to_owned()))
    };
    let resolve = |p: String| -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { base.join(p) }
    };
    let mut row = Row {
        table: table.to_owned(),
        line,
        ..Row::default()
    };
    row.id = field(cols.id)?.unwrap_or_else(|| format!("line{line}"));
    row.text = field(cols.text)?;
    let split_text = field(cols.split)?;
    let mut label = field(cols.label)?;
    match layout {
        Layout::Manifest => {
            row.image = field(cols.image)?.map(resolve);
            row.audio = field(cols.audio)?.map(resolve);
        }
        Layout::HuggingFace => {
            // A project's rows may have no image: then the sound (audio column) or the text
            // carries the example.
            let name = field(cols.file_name)?;
            let audio = field(cols.audio)?;
            let has_text = row.text.as_deref().is_some_and(|t| tokenize(t).is_some());
            if name.is_none() && audio.is_none() && !has_text {
                return Err((
                    "file_name".to_owned(),
                    ProblemKind::BadRow,
                    "file_name is empty and the row has no audio and no text; give an image or \
                     .wav file name"
                        .to_owned(),
                ));
            }
            // The file that places the row: its folders may name the class and the split.
            if let Some(place) = name.as_deref().or(audio.as_deref()) {
                let rel = Path::new(place);
                if label.is_none() {
                    // Class sub-folders: the label is the file's parent folder.
                    label = rel
                        .parent()
                        .and_then(Path::file_name)
                        .map(|s| s.to_string_lossy().into_owned())
                        .filter(|s| Split::parse(s).is_none());
                }
                if split_text.is_none() && folder_split.is_none() {
                    row.split = rel
                        .components()
                        .next()
                        .and_then(|c| Split::parse(&c.as_os_str().to_string_lossy()));
                }
            }
            if let Some(name) = name {
                let ext = Path::new(&name)
                    .extension()
                    .map(|e| e.to_string_lossy().to_lowercase())
                    .unwrap_or_default();
                if ext == "wav" {
                    if audio.is_some() {
                        return Err((
                            "file_name, audio".into(),
                            ProblemKind::BadRow,
                            format!(
                                "two sounds: file_name is a .wav ('{name}') and audio is set; \
                                 keep one"
                            ),
                        ));
                    }
                    row.audio = Some(resolve(name));
                } else if IMAGE_EXTENSIONS.contains(&ext.as_str()) {
                    row.image = Some(resolve(name));
                } else {
                    return Err((
                        "file_name".into(),
                        ProblemKind::BadRow,
                        format!(
                            "'{name}' is neither an image ({}) nor a .wav file",
                            IMAGE_EXTENSIONS.join(", ")
                        ),
                    ));
                }
            }
            if let Some(audio) = audio {
                row.audio = Some(resolve(audio));
            }
        }
    }
    row.label = label.ok_or_else(|| {
        (
            "label".to_owned(),
            ProblemKind::UnknownLabel,
            "the label is empty".to_owned(),
        )
    })?;
    if let Some(s) = split_text {
        row.split = Some(Split::parse(&s).ok_or_else(|| {
            (
                "split".to_owned(),
                ProblemKind::BadSplit,
                format!("'{s}' is not train, val or test"),
            )
        })?);
    } else if folder_split.is_some() {
        row.split = folder_split;
    }
    let has_text = row.text.as_deref().is_some_and(|t| tokenize(t).is_some());
    if row.image.is_none() && row.audio.is_none() && !has_text {
        return Err((
            "image, audio, text".into(),
            ProblemKind::BadRow,
            "the row has no image, no audio and no text".into(),
        ));
    }
    Ok(row)
}

pub(super) fn problem(
    file: &Path,
    line: usize,
    column: Option<String>,
    kind: ProblemKind,
    message: String,
) -> Problem {
    Problem {
        file: file.to_owned(),
        line,
        column,
        kind,
        message,
    }
}
