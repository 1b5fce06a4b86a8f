//! Adding, removing and moving examples. Files are written before the table lists them and
//! deleted only after the table no longer does, so the folder is valid at every moment.

use std::path::{Path, PathBuf};

use image::ImageEncoder as _;

use super::store::{format_id, write_error};
use super::{
    Example, FILES_DIR, FilesAdded, NewExample, NewImage, NewSound, Project, ProjectError,
};
use crate::data::audio::{AudioConfig, read_wav_from};
use crate::data::image::{ImageConfig, decode_image_bytes};
use crate::data::text::tokenize;

/// Image files [`Project::add_files`] takes.
pub use crate::data::image::IMAGE_EXTENSIONS;
/// Largest `.txt` file [`Project::add_files`] takes.
pub use crate::data::text::MAX_TEXT_BYTES;
/// Largest `.wav` file [`Project::add_files`] takes.
const MAX_WAV_BYTES: u64 = 512 << 20;
/// Sample rates a sound may have (as the WAV reader accepts).
const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 1_000..=384_000;

/// What kind of file a dropped path is, by its extension.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Image,
    Sound,
    Text,
    Other,
}

/// A dropped file that was read and checked.
enum Content {
    Image { bytes: Vec<u8>, ext: String },
    Sound(Vec<u8>),
    Text(String),
}

fn extension(path: &Path) -> String {
    path.extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default()
}

fn kind_of(path: &Path) -> Kind {
    let ext = extension(path);
    if IMAGE_EXTENSIONS.contains(&ext.as_str()) {
        Kind::Image
    } else if ext == "wav" {
        Kind::Sound
    } else if ext == "txt" {
        Kind::Text
    } else {
        Kind::Other
    }
}

/// A text as kept: trimmed, and none when it has no words (it would teach nothing).
fn clean_text(text: Option<String>) -> Option<String> {
    let text = text?;
    let text = text.trim();
    tokenize(text).map(|_| text.to_owned())
}

fn decode_error(path: &Path, reason: impl Into<String>) -> String {
    ProjectError::Decode {
        path: path.to_owned(),
        reason: reason.into(),
    }
    .to_string()
}

/// Read `path` whole, refusing files larger than `limit`.
fn read_limited(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, String> {
    let unreadable = |e: std::io::Error| {
        decode_error(
            path,
            format!(
                "it cannot be read ({e}); check that the file still exists and you may read it"
            ),
        )
    };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if !meta.is_file() {
        return Err(decode_error(
            path,
            "it is a folder, not a file; drop the files inside it",
        ));
    }
    if meta.len() > limit {
        return Err(decode_error(
            path,
            format!(
                "it is {} bytes, more than the {limit} a {what} may have",
                meta.len()
            ),
        ));
    }
    std::fs::read(path).map_err(unreadable)
}

/// Read and check one dropped file.
fn check_file(path: &Path, kind: Kind) -> Result<Content, String> {
    match kind {
        Kind::Image => {
            let cfg = ImageConfig::default();
            let bytes = read_limited(path, cfg.max_bytes, "picture")?;
            decode_image_bytes(&bytes, path, &cfg).map_err(|e| e.to_string())?;
            Ok(Content::Image {
                bytes,
                ext: extension(path),
            })
        }
        Kind::Sound => {
            let bytes = read_limited(path, MAX_WAV_BYTES, "sound")?;
            let max = AudioConfig::default().max_seconds;
            read_wav_from(std::io::Cursor::new(&bytes), path, max).map_err(|e| e.to_string())?;
            Ok(Content::Sound(bytes))
        }
        Kind::Text => {
            let bytes = read_limited(path, MAX_TEXT_BYTES, "text file")?;
            let text = String::from_utf8(bytes).map_err(|e| {
                decode_error(
                    path,
                    format!(
                        "it is not UTF-8 text (byte {}); save it as UTF-8",
                        e.utf8_error().valid_up_to() + 1
                    ),
                )
            })?;
            let line = text
                .trim_start_matches('\u{feff}')
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .ok_or_else(|| decode_error(path, "it is empty; write a sentence in it"))?;
            clean_text(Some(line.to_owned()))
                .map(Content::Text)
                .ok_or_else(|| {
                    decode_error(path, "its first line has no words; write a sentence in it")
                })
        }
        Kind::Other => Err(decode_error(
            path,
            format!(
                "unknown kind of file; expected an image ({}), a .wav sound or a .txt text",
                IMAGE_EXTENSIONS.join(", ")
            ),
        )),
    }
}

fn check_image(image: &NewImage) -> Result<(), ProjectError> {
    let expected = (image.width as usize)
        .checked_mul(image.height as usize)
        .and_then(|n| n.checked_mul(3))
        .unwrap_or(0);
    let max = ImageConfig::default().max_side;
    if expected == 0 || image.rgb.len() != expected || image.width > max || image.height > max {
        return Err(ProjectError::BadImage {
            width: image.width,
            height: image.height,
            len: image.rgb.len(),
            expected,
        });
    }
    Ok(())
}

fn check_sound(sound: &NewSound) -> Result<(), ProjectError> {
    let bad = |reason: String| Err(ProjectError::BadSound { reason });
    if !SAMPLE_RATES.contains(&sound.sample_rate) {
        return bad(format!(
            "its sample rate is {} Hz; expected {} to {} Hz",
            sound.sample_rate,
            SAMPLE_RATES.start(),
            SAMPLE_RATES.end()
        ));
    }
    if sound.samples.is_empty() {
        return bad("it is empty (no samples)".into());
    }
    let seconds = sound.samples.len() as f64 / f64::from(sound.sample_rate);
    let max = AudioConfig::default().max_seconds;
    if seconds > max {
        return bad(format!("it is {seconds:.0} s long, more than {max:.0} s"));
    }
    if let Some(i) = sound.samples.iter().position(|s| !s.is_finite()) {
        return bad(format!("sample {i} is not a number"));
    }
    Ok(())
}

fn write_png(path: &Path, image: &NewImage) -> Result<(), ProjectError> {
    crate::export::write_atomic(path, |out| {
        image::codecs::png::PngEncoder::new(out).write_image(
            &image.rgb,
            image.width,
            image.height,
            image::ExtendedColorType::Rgb8,
        )?;
        Ok(())
    })
    .map_err(|e| write_error(e, path))
}

fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), ProjectError> {
    crate::export::write_atomic(path, |out| Ok(out.write_all(bytes)?))
        .map_err(|e| write_error(e, path))
}

fn remove_all(paths: &[PathBuf]) {
    for p in paths {
        if let Err(err) = std::fs::remove_file(p) {
            log::warn!("could not delete {}: {err}", p.display());
        }
    }
}

/// One example of [`Project::add_files`] whose files are written, with the files it came from.
struct Made {
    example: Example,
    sources: Vec<PathBuf>,
    written: Vec<PathBuf>,
}

impl Project {
    /// Add one example to class `label`: its files first (PNG, WAV, atomically), then the table.
    /// The text is trimmed; a text without words counts as none. Nothing at all is
    /// [`ProjectError::EmptyExample`].
    pub fn add_example(
        &mut self,
        label: &str,
        example: NewExample,
    ) -> Result<Example, ProjectError> {
        let index = self.class_index(label)?;
        let label = self.classes[index].name.clone();
        let text = clean_text(example.text);
        if example.image.is_none() && example.audio.is_none() && text.is_none() {
            return Err(ProjectError::EmptyExample);
        }
        if let Some(image) = &example.image {
            check_image(image)?;
        }
        if let Some(sound) = &example.audio {
            check_sound(sound)?;
        }
        let id = format_id(self.next_id_number());
        let mut made = Example {
            id: id.clone(),
            label,
            image: None,
            text,
            audio: None,
        };
        if example.image.is_some() || example.audio.is_some() {
            self.ensure_files_dir()?;
        }
        let mut written = Vec::new();
        let result = (|| {
            if let Some(image) = &example.image {
                let rel = Path::new(FILES_DIR).join(format!("{id}.png"));
                let path = self.file(&rel);
                write_png(&path, image)?;
                written.push(path);
                made.image = Some(rel);
            }
            if let Some(sound) = &example.audio {
                let rel = Path::new(FILES_DIR).join(format!("{id}.wav"));
                let path = self.file(&rel);
                crate::audio::write_wav(&path, &sound.samples, sound.sample_rate).map_err(|e| {
                    ProjectError::Write {
                        path: path.clone(),
                        reason: e.to_string(),
                    }
                })?;
                written.push(path);
                made.audio = Some(rel);
            }
            let mut examples = self.examples.clone();
            examples.push(made.clone());
            self.write_table(&examples)
        })();
        if let Err(err) = result {
            remove_all(&written);
            return Err(err);
        }
        self.examples.push(made.clone());
        Ok(made)
    }

    /// Add dropped files to class `label`, one example each: images (PNG, JPEG, BMP, GIF,
    /// WebP), `.wav` sounds and `.txt` texts (the first non-empty line, at most 64 KiB). With
    /// `pair`, the i-th image given and the i-th sound given make one example (a pair whose
    /// image or sound cannot be used leaves the other alone). Usable files are checked to decode
    /// and copied into `files/<id>.<ext>`; the rest are listed in [`FilesAdded::skipped`] with
    /// why. The table is written once, after all files.
    pub fn add_files(&mut self, label: &str, paths: &[PathBuf], pair: bool) -> FilesAdded {
        let mut out = FilesAdded::default();
        let skip_all = |out: &mut FilesAdded, reason: &str| {
            out.skipped
                .extend(paths.iter().map(|p| (p.clone(), reason.to_owned())));
        };
        let label = match self.class_index(label) {
            Ok(i) => self.classes[i].name.clone(),
            Err(err) => {
                skip_all(&mut out, &err.to_string());
                return out;
            }
        };
        if let Err(err) = self.ensure_files_dir() {
            skip_all(&mut out, &err.to_string());
            return out;
        }
        let kinds: Vec<Kind> = paths.iter().map(|p| kind_of(p)).collect();
        let of_kind =
            |k: Kind| -> Vec<usize> { (0..paths.len()).filter(|&i| kinds[i] == k).collect() };
        let (images, sounds) = (of_kind(Kind::Image), of_kind(Kind::Sound));
        let rank = |list: &[usize], i: usize| list.iter().position(|&j| j == i).unwrap_or(0);
        let mut next = self.next_id_number();
        let mut made: Vec<Made> = Vec::new();
        let mut add = |out: &mut FilesAdded, parts: Vec<(usize, Content)>| {
            let id = format_id(next);
            next += 1;
            match self.write_parts(&id, &label, &parts) {
                Ok((example, written)) => made.push(Made {
                    example,
                    sources: parts.iter().map(|(i, _)| paths[*i].clone()).collect(),
                    written,
                }),
                Err(err) => out.skipped.extend(
                    parts
                        .iter()
                        .map(|(i, _)| (paths[*i].clone(), err.to_string())),
                ),
            }
        };
        for (i, path) in paths.iter().enumerate() {
            let partner = |k: usize| if pair { sounds.get(k).copied() } else { None };
            match kinds[i] {
                // A sound paired with an image is handled with that image.
                Kind::Sound if pair && rank(&sounds, i) < images.len() => {}
                Kind::Image => {
                    let sound = partner(rank(&images, i));
                    let check_sound = |out: &mut FilesAdded| {
                        let j = sound?;
                        match check_file(&paths[j], Kind::Sound) {
                            Ok(c) => Some((j, c)),
                            Err(reason) => {
                                out.skipped.push((paths[j].clone(), reason));
                                None
                            }
                        }
                    };
                    let mut parts = Vec::new();
                    match check_file(path, Kind::Image) {
                        Ok(c) => parts.push((i, c)),
                        Err(reason) => out.skipped.push((path.clone(), reason)),
                    }
                    parts.extend(check_sound(&mut out));
                    if !parts.is_empty() {
                        add(&mut out, parts);
                    }
                }
                kind => match check_file(path, kind) {
                    Ok(c) => add(&mut out, vec![(i, c)]),
                    Err(reason) => out.skipped.push((path.clone(), reason)),
                },
            }
        }
        if made.is_empty() {
            return out;
        }
        let mut examples = self.examples.clone();
        examples.extend(made.iter().map(|m| m.example.clone()));
        if let Err(err) = self.write_table(&examples) {
            for m in made {
                remove_all(&m.written);
                out.skipped
                    .extend(m.sources.into_iter().map(|p| (p, err.to_string())));
            }
            return out;
        }
        self.examples = examples;
        out.added = made.into_iter().map(|m| m.example).collect();
        out
    }

    /// Write the files of one example made from checked files; on failure nothing stays.
    fn write_parts(
        &self,
        id: &str,
        label: &str,
        parts: &[(usize, Content)],
    ) -> Result<(Example, Vec<PathBuf>), ProjectError> {
        let mut example = Example {
            id: id.to_owned(),
            label: label.to_owned(),
            image: None,
            text: None,
            audio: None,
        };
        let mut written = Vec::new();
        for (_, content) in parts {
            let (bytes, ext, slot) = match content {
                Content::Text(text) => {
                    example.text = Some(text.clone());
                    continue;
                }
                Content::Image { bytes, ext } => (bytes, ext.as_str(), &mut example.image),
                Content::Sound(bytes) => (bytes, "wav", &mut example.audio),
            };
            let rel = Path::new(FILES_DIR).join(format!("{id}.{ext}"));
            let path = self.file(&rel);
            if let Err(err) = write_bytes(&path, bytes) {
                remove_all(&written);
                return Err(err);
            }
            written.push(path);
            *slot = Some(rel);
        }
        Ok((example, written))
    }

    /// Remove one example: the id counter is saved, then the table, then its files are deleted.
    pub fn remove_example(&mut self, id: &str) -> Result<Example, ProjectError> {
        let index = self
            .examples
            .iter()
            .position(|e| e.id == id)
            .ok_or_else(|| ProjectError::UnknownExample { id: id.to_owned() })?;
        // Saved first so the id is never given out again once its files are gone.
        self.write_json(&self.classes, self.next_id_number())?;
        let mut kept = self.examples.clone();
        let removed = kept.remove(index);
        self.write_table(&kept)?;
        self.examples = kept;
        self.delete_files(std::slice::from_ref(&removed));
        Ok(removed)
    }

    /// Move one example to class `to` (its files stay).
    pub fn move_example(&mut self, id: &str, to: &str) -> Result<(), ProjectError> {
        let class = self.class_index(to)?;
        let to = self.classes[class].name.clone();
        let index = self
            .examples
            .iter()
            .position(|e| e.id == id)
            .ok_or_else(|| ProjectError::UnknownExample { id: id.to_owned() })?;
        if self.examples[index].label == to {
            return Ok(());
        }
        let mut examples = self.examples.clone();
        examples[index].label = to;
        self.write_table(&examples)?;
        self.examples = examples;
        Ok(())
    }
}
