//! Folder datasets: (a) a manifest CSV (`label` plus any of `image`, `audio`, `text`; optional
//! `split`, `id`; paths relative to the CSV), or (b) the Hugging Face imagefolder/audiofolder
//! convention (`metadata.csv` with `file_name`, plus `label` or class sub-folders, optional
//! `text` and `audio`; `file_name` may be empty when the row has a sound or a text, as in a
//! [`super::project`] folder, whose `fusionlab-project.json` the loader ignores). Every bad row
//! is reported with its line, column and reason; the rest loads.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::audio::MelSpectrogram;
use super::image::load_image;
use super::text::tokenize;
use super::{
    Dataset, DatasetError, LoadObserver, Origin, Problem, ProblemKind, Sample, Split, TextInput,
    spec::LoadOptions, stratified_splits,
};

const IMAGE_EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "bmp", "gif", "webp"];

/// One row of a table, before any file is opened.
#[derive(Clone, Debug, Default)]
struct Row {
    table: PathBuf,
    line: usize,
    id: String,
    label: String,
    split: Option<Split>,
    image: Option<PathBuf>,
    audio: Option<PathBuf>,
    text: Option<String>,
}

/// Which convention a table follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    Manifest,
    HuggingFace,
}

/// Load a folder or a CSV file.
pub fn load(
    path: &Path,
    options: &LoadOptions,
    observer: &dyn LoadObserver,
) -> Result<Dataset, DatasetError> {
    let meta = std::fs::metadata(path).map_err(|source| DatasetError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let name;
    let tables = if meta.is_dir() {
        name = dir_name(path);
        find_tables(path)?
    } else {
        name = path
            .file_stem()
            .map_or_else(|| "dataset".into(), |s| s.to_string_lossy().into_owned());
        vec![(path.to_owned(), None)]
    };
    for (table, split) in &tables {
        read_table(table, *split, &mut rows, &mut problems)?;
    }
    let listed: Vec<String> = tables
        .iter()
        .map(|(t, _)| t.display().to_string())
        .collect();
    let description = format!("Files listed in {}", listed.join(", "));
    build(name, description, path, rows, problems, options, observer)
}

fn dir_name(path: &Path) -> String {
    std::fs::canonicalize(path)
        .ok()
        .and_then(|p| p.file_name().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| path.display().to_string())
}

/// The tables of a folder: its `manifest.csv`, its `metadata.csv`, or one `metadata.csv` per
/// split sub-folder (`train/`, `validation/`, `test/`).
fn find_tables(dir: &Path) -> Result<Vec<(PathBuf, Option<Split>)>, DatasetError> {
    for name in ["manifest.csv", "metadata.csv"] {
        let table = dir.join(name);
        if table.is_file() {
            return Ok(vec![(table, None)]);
        }
    }
    let entries = std::fs::read_dir(dir).map_err(|source| DatasetError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut tables: Vec<(PathBuf, Option<Split>)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let split = Split::parse(&e.file_name().to_string_lossy())?;
            let table = e.path().join("metadata.csv");
            table.is_file().then_some((table, Some(split)))
        })
        .collect();
    tables.sort();
    if tables.is_empty() {
        return Err(DatasetError::NoTable {
            path: dir.to_owned(),
        });
    }
    Ok(tables)
}

/// Read one CSV table into rows, recording bad rows as problems.
fn read_table(
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

fn problem(
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

/// Sort class names numerically when they are all numbers, else alphabetically.
fn class_order(labels: BTreeSet<String>) -> Vec<String> {
    let mut classes: Vec<String> = labels.into_iter().collect();
    if classes.iter().all(|c| c.parse::<f64>().is_ok()) {
        classes.sort_by(|a, b| {
            let (x, y) = (
                a.parse::<f64>().unwrap_or(0.0),
                b.parse::<f64>().unwrap_or(0.0),
            );
            x.total_cmp(&y)
        });
    }
    classes
}

/// Decode every row's files in parallel and assemble the dataset.
fn build(
    name: String,
    description: String,
    source: &Path,
    rows: Vec<Row>,
    mut problems: Vec<Problem>,
    options: &LoadOptions,
    observer: &dyn LoadObserver,
) -> Result<Dataset, DatasetError> {
    let given_splits = rows.iter().any(|r| r.split.is_some());
    // Labels seen in training define the classes when splits are given.
    let train_labels: BTreeSet<String> = rows
        .iter()
        .filter(|r| !given_splits || r.split == Some(Split::Train))
        .map(|r| r.label.clone())
        .collect();
    let mut kept = Vec::with_capacity(rows.len());
    for row in rows {
        if given_splits && row.split.is_none() {
            problems.push(problem(
                &row.table,
                row.line,
                Some("split".into()),
                ProblemKind::BadSplit,
                "no split given while other rows have one; write train, val or test".into(),
            ));
        } else if !train_labels.contains(&row.label) {
            problems.push(problem(&row.table, row.line, Some("label".into()), ProblemKind::UnknownLabel,
                format!("label '{}' does not occur in the training split; add training examples of it or fix the label", row.label)));
        } else {
            kept.push(row);
        }
    }
    let classes = class_order(train_labels);
    let class_index: BTreeMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();

    let mel = MelSpectrogram::new(&options.features.audio);
    let done = AtomicUsize::new(0);
    let total = kept.len();
    let decoded: Vec<Option<Result<Sample, Vec<Problem>>>> = kept
        .par_iter()
        .map(|row| {
            if observer.cancelled() {
                return None;
            }
            let result = decode_row(row, &class_index, options, &mel, &row.table);
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_multiple_of(32) || n == total {
                observer.progress(n, total);
            }
            Some(result)
        })
        .collect();
    let mut samples = Vec::with_capacity(total);
    for result in decoded {
        match result.ok_or(DatasetError::Cancelled)? {
            Ok(sample) => samples.push(sample),
            Err(mut p) => problems.append(&mut p),
        }
    }
    problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    if options.strict && !problems.is_empty() {
        return Err(DatasetError::Strict(problems));
    }
    if samples.is_empty() {
        return Err(DatasetError::NoSamples {
            file: source.to_owned(),
            problems,
        });
    }
    if !given_splits {
        let labels: Vec<usize> = samples.iter().map(|s| s.label).collect();
        for (s, split) in
            samples
                .iter_mut()
                .zip(stratified_splits(&labels, options.split, options.seed))
        {
            s.split = split;
        }
    }
    let mut dataset = Dataset {
        name,
        description,
        classes,
        samples,
        vocab: Default::default(),
        features: options.features.clone(),
        problems,
    };
    dataset.build_vocab();
    Ok(dataset)
}

fn decode_row(
    row: &Row,
    classes: &BTreeMap<&str, usize>,
    options: &LoadOptions,
    mel: &MelSpectrogram,
    table: &Path,
) -> Result<Sample, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut report = |column: &str, kind: ProblemKind, message: String| {
        problems.push(problem(
            table,
            row.line,
            Some(column.to_owned()),
            kind,
            message,
        ));
    };
    let mut check_exists = |column: &str, path: &Option<PathBuf>| -> bool {
        let Some(p) = path else { return true };
        match std::fs::metadata(p) {
            Ok(meta) if meta.is_file() => true,
            Ok(meta) => {
                let what = if meta.is_dir() {
                    "a folder"
                } else {
                    "not a regular file"
                };
                report(
                    column,
                    ProblemKind::BadFile,
                    format!("{} is {what}, expected a file", p.display()),
                );
                false
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                report(
                    column,
                    ProblemKind::MissingFile,
                    format!("file {} not found", p.display()),
                );
                false
            }
            Err(err) => {
                report(
                    column,
                    ProblemKind::BadFile,
                    format!("cannot read {}: {err}", p.display()),
                );
                false
            }
        }
    };
    let image_ok = check_exists("image", &row.image);
    let audio_ok = check_exists("audio", &row.audio);
    let image = match (&row.image, image_ok) {
        (Some(p), true) => load_image(p, &options.features.image)
            .map_err(|e| report("image", ProblemKind::BadFile, e.to_string()))
            .ok(),
        _ => None,
    };
    let audio = match (&row.audio, audio_ok) {
        (Some(p), true) => mel
            .features_from_file(p)
            .map_err(|e| report("audio", ProblemKind::BadFile, e.to_string()))
            .ok(),
        _ => None,
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let text = row.text.as_ref().and_then(|raw| {
        tokenize(raw).map(|words| TextInput {
            raw: raw.clone(),
            words,
            ids: Vec::new(),
        })
    });
    Ok(Sample {
        id: row.id.clone(),
        label: classes.get(row.label.as_str()).copied().unwrap_or(0),
        split: row.split.unwrap_or(Split::Train),
        image,
        text,
        audio,
        origin: Origin::Files {
            image: row.image.clone(),
            audio: row.audio.clone(),
        },
        backbone: Default::default(),
    })
}
