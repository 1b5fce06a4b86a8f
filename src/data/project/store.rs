//! Reading and writing a project's two files ([`PROJECT_FILE`] and [`TABLE`]), ids, and
//! deleting the files of removed examples.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use super::{
    ClassInfo, Example, FILES_DIR, PROJECT_FILE, PROJECT_VERSION, Project, ProjectError, TABLE,
    TABLE_COLUMNS, next_colour,
};

/// What [`PROJECT_FILE`] holds.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ProjectFile {
    version: u32,
    name: String,
    #[serde(default)]
    classes: Vec<ClassInfo>,
    /// The next id number to give out (ids of removed examples are never given out again).
    #[serde(default)]
    next_id: u64,
}

/// One row of the table as written, before it is checked.
#[derive(Debug, Default)]
struct RawRow {
    line: u64,
    id: Option<String>,
    label: Option<String>,
    image: Option<PathBuf>,
    text: Option<String>,
    audio: Option<PathBuf>,
}

/// The id for number `n`: `ex00001`.
pub(super) fn format_id(n: u64) -> String {
    format!("ex{n:05}")
}

/// The number of an id `ex<digits>`, or of a file named after one (`ex00001.png`, and the
/// hidden temporary `.ex00001.png.tmp123` of an interrupted write).
pub(super) fn id_number(name: &str) -> Option<u64> {
    let name = name.trim_start_matches('.');
    let stem = name.split('.').next()?;
    let digits = stem.strip_prefix("ex")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn file_name_of(path: &Path) -> Option<String> {
    path.file_name().map(|s| s.to_string_lossy().into_owned())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ProjectError + '_ {
    move |source| ProjectError::Io {
        path: path.to_owned(),
        source,
    }
}

pub(super) fn write_error(err: crate::export::ExportError, path: &Path) -> ProjectError {
    let reason = match err {
        crate::export::ExportError::Io { source, .. } => source.to_string(),
        crate::export::ExportError::Encode { source, .. } => source.to_string(),
        other => other.to_string(),
    };
    ProjectError::Write {
        path: path.to_owned(),
        reason,
    }
}

/// A path as written in the table: relative, with `/` between folders.
fn table_path(p: &Path) -> String {
    let s = p.to_string_lossy();
    if cfg!(windows) {
        s.replace('\\', "/")
    } else {
        s.into_owned()
    }
}

fn read_json(path: &Path) -> Result<ProjectFile, ProjectError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let corrupt = |reason: String| ProjectError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| corrupt(format!("it is not valid JSON ({e})")))?;
    let version = value.get("version").and_then(serde_json::Value::as_u64);
    match version {
        None => return Err(corrupt("it has no \"version\" number".into())),
        Some(v) if v > u64::from(PROJECT_VERSION) => {
            return Err(ProjectError::NewerVersion {
                path: path.to_owned(),
                version: u32::try_from(v).unwrap_or(u32::MAX),
                supported: PROJECT_VERSION,
            });
        }
        Some(0) => return Err(corrupt("its \"version\" is 0; expected 1".into())),
        Some(_) => {}
    }
    let file: ProjectFile = serde_json::from_value(value).map_err(|e| {
        corrupt(format!(
            "{e}; expected {{\"version\":1,\"name\":\"…\",\"classes\":[{{\"name\":\"…\",\"colour\":[r,g,b]}}]}}"
        ))
    })?;
    let mut seen = HashSet::new();
    for class in &file.classes {
        if !seen.insert(class.name.to_lowercase()) {
            return Err(corrupt(format!(
                "the class '{}' is listed twice; remove one of them",
                class.name
            )));
        }
    }
    Ok(file)
}

/// Every row of the table; a missing table is an empty one.
fn read_table(path: &Path) -> Result<Vec<RawRow>, ProjectError> {
    let corrupt = |reason: String| ProjectError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let handle = match std::fs::File::open(path) {
        Ok(h) => h,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(io(path)(source)),
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(std::io::BufReader::new(handle));
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| corrupt(format!("its header line cannot be read ({e})")))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_lowercase())
        .collect();
    let column = |name: &str| header.iter().position(|h| h == name);
    let [file_name, label, text, audio, id] = TABLE_COLUMNS.map(column);
    if label.is_none() {
        return Err(corrupt(format!(
            "it has no label column (found: {}); expected the header {}",
            header.join(","),
            TABLE_COLUMNS.join(",")
        )));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(err) => {
                log::warn!(
                    "{}: a row cannot be read and is left out: {err}",
                    path.display()
                );
                continue;
            }
        };
        let field = |i: Option<usize>| {
            i.and_then(|i| record.get(i))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        rows.push(RawRow {
            line: record.position().map_or(0, csv::Position::line),
            id: field(id),
            label: field(label),
            image: field(file_name).map(PathBuf::from),
            text: field(text),
            audio: field(audio).map(PathBuf::from),
        });
    }
    Ok(rows)
}

/// Usable as an id: short, and only letters, digits, `-` and `_`.
fn valid_id(id: &str) -> bool {
    id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The largest id number in the `files` folder (0 when none or unreadable).
fn max_file_id(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir.join(FILES_DIR)) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| id_number(&e.file_name().to_string_lossy()))
        .max()
        .unwrap_or(0)
}

fn max_row_id(rows: &[RawRow]) -> u64 {
    rows.iter()
        .flat_map(|r| {
            [
                r.id.as_deref().and_then(id_number),
                r.image
                    .as_deref()
                    .and_then(file_name_of)
                    .as_deref()
                    .and_then(id_number),
                r.audio
                    .as_deref()
                    .and_then(file_name_of)
                    .as_deref()
                    .and_then(id_number),
            ]
        })
        .flatten()
        .max()
        .unwrap_or(0)
}

pub(super) fn open(dir: &Path) -> Result<Project, ProjectError> {
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => {
            return Err(ProjectError::NotAFolder {
                path: dir.to_owned(),
            });
        }
        Ok(_) => {}
        Err(source) => return Err(io(dir)(source)),
    }
    let json_path = dir.join(PROJECT_FILE);
    if !json_path.is_file() {
        return Err(ProjectError::NotAProject {
            dir: dir.to_owned(),
        });
    }
    let file = read_json(&json_path)?;
    let table = dir.join(TABLE);
    let rows = read_table(&table)?;
    let mut next = file
        .next_id
        .max(max_row_id(&rows) + 1)
        .max(max_file_id(dir) + 1);
    let mut classes = file.classes;
    let mut examples: Vec<Example> = Vec::with_capacity(rows.len());
    let mut ids = HashSet::new();
    let mut dropped = 0usize;
    for row in rows {
        let exists = |p: &Option<PathBuf>| p.as_ref().is_none_or(|p| dir.join(p).is_file());
        let (Some(label), true, true) = (row.label, exists(&row.image), exists(&row.audio)) else {
            dropped += 1;
            log::warn!(
                "{}, row {}: no label or a missing file; the row is left out",
                table.display(),
                row.line
            );
            continue;
        };
        if row.image.is_none() && row.text.is_none() && row.audio.is_none() {
            dropped += 1;
            continue;
        }
        // The id column, else a file's name, else a new id.
        let candidates = [
            row.id,
            row.image
                .as_deref()
                .and_then(file_name_of)
                .map(|s| file_stem(&s)),
            row.audio
                .as_deref()
                .and_then(file_name_of)
                .map(|s| file_stem(&s)),
        ];
        let id = candidates
            .into_iter()
            .flatten()
            .find(|id| valid_id(id) && !id.is_empty() && !ids.contains(id))
            .unwrap_or_else(|| {
                let id = format_id(next);
                next += 1;
                id
            });
        ids.insert(id.clone());
        if !classes.iter().any(|c| c.name == label) {
            classes.push(ClassInfo {
                colour: next_colour(&classes),
                name: label.clone(),
            });
        }
        examples.push(Example {
            id,
            label,
            image: row.image,
            text: row.text,
            audio: row.audio,
        });
    }
    if dropped > 0 {
        log::warn!(
            "{}: {dropped} rows left out (no label, nothing in them, or a missing file)",
            table.display()
        );
    }
    Ok(Project {
        dir: dir.to_owned(),
        name: file.name,
        classes,
        examples,
    })
}

fn file_stem(name: &str) -> String {
    name.split('.').next().unwrap_or_default().to_owned()
}

impl Project {
    /// The number of the next id to give out: past every id in the project file's counter, the
    /// table on disk, the `files` folder (orphans of a crash included) and the examples.
    pub(super) fn next_id_number(&self) -> u64 {
        let stored = read_json(&self.dir.join(PROJECT_FILE)).map_or(0, |f| f.next_id);
        let table = read_table(&self.dir.join(TABLE)).map_or(0, |rows| max_row_id(&rows));
        let listed = self
            .examples
            .iter()
            .filter_map(|e| id_number(&e.id))
            .max()
            .unwrap_or(0);
        stored
            .max(table + 1)
            .max(listed + 1)
            .max(max_file_id(&self.dir) + 1)
    }

    pub(super) fn ensure_files_dir(&self) -> Result<(), ProjectError> {
        let files = self.dir.join(FILES_DIR);
        std::fs::create_dir_all(&files).map_err(io(&files))
    }

    /// Write [`PROJECT_FILE`] with these classes and id counter, atomically.
    pub(super) fn write_json(
        &self,
        classes: &[ClassInfo],
        next_id: u64,
    ) -> Result<(), ProjectError> {
        let path = self.dir.join(PROJECT_FILE);
        let file = ProjectFile {
            version: PROJECT_VERSION,
            name: self.name.clone(),
            classes: classes.to_vec(),
            next_id,
        };
        crate::export::write_atomic(&path, |out| {
            serde_json::to_writer_pretty(&mut *out, &file)?;
            Ok(out.write_all(b"\n")?)
        })
        .map_err(|e| write_error(e, &path))
    }

    /// Write [`TABLE`] listing these examples, atomically.
    pub(super) fn write_table(&self, examples: &[Example]) -> Result<(), ProjectError> {
        let path = self.dir.join(TABLE);
        crate::export::write_atomic(&path, |out| {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(TABLE_COLUMNS)?;
            for e in examples {
                let path = |p: &Option<PathBuf>| p.as_deref().map(table_path).unwrap_or_default();
                w.write_record([
                    path(&e.image).as_str(),
                    &e.label,
                    e.text.as_deref().unwrap_or_default(),
                    &path(&e.audio),
                    &e.id,
                ])?;
            }
            Ok(w.flush()?)
        })
        .map_err(|e| write_error(e, &path))
    }

    /// Delete the files of `removed` that lie in `files/` and no remaining example uses.
    /// Failures are logged: an unlisted file does no harm.
    pub(super) fn delete_files(&self, removed: &[Example]) {
        let in_use: HashSet<&Path> = self
            .examples
            .iter()
            .flat_map(|e| [e.image.as_deref(), e.audio.as_deref()])
            .flatten()
            .collect();
        for rel in removed
            .iter()
            .flat_map(|e| [e.image.as_deref(), e.audio.as_deref()])
            .flatten()
        {
            if in_use.contains(rel) || !in_files_dir(rel) {
                continue;
            }
            let path = self.file(rel);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => log::warn!("could not delete {}: {err}", path.display()),
            }
        }
    }
}

/// `files/…` without `..`: a file the project owns (only those are ever deleted).
fn in_files_dir(rel: &Path) -> bool {
    let mut parts = rel.components();
    parts.next() == Some(Component::Normal(FILES_DIR.as_ref()))
        && parts.all(|c| matches!(c, Component::Normal(_)))
}
