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

mod table;

use table::{Row, problem, read_table};

use super::audio::MelSpectrogram;
use super::image::load_image;
use super::text::tokenize;
use super::{
    Dataset, DatasetError, LoadObserver, Origin, Problem, ProblemKind, Sample, Split, TextInput,
    spec::LoadOptions, stratified_splits,
};

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
