//! "Teach it yourself" projects: a small dataset the user makes inside the app — classes, and
//! examples per class holding any subset of image, text and sound.
//!
//! A project is a folder in the Hugging Face layout that [`crate::data::folder`] reads
//! (`metadata.csv` with `file_name,label,text,audio,id`, the files in `files/`), plus
//! [`PROJECT_FILE`] for what the table cannot hold: the project's name, the class order, the
//! class colours, empty classes and the id counter.
//!
//! Every write is atomic (temporary file + rename), and the order of writes keeps the folder
//! valid at every moment: an example's files are written before the table lists them, and a
//! removed example leaves the table before its files are deleted. A crash can at worst leave an
//! unlisted file in `files/`, whose id is then never given out again.

mod advice;
mod error;
mod examples;
mod store;

use std::path::{Path, PathBuf};

pub use advice::Advice;
pub use error::ProjectError;
pub use examples::{IMAGE_EXTENSIONS, MAX_TEXT_BYTES};

/// The project's own file, beside the table: name, classes (order and colours), version.
pub const PROJECT_FILE: &str = "fusionlab-project.json";
/// The table of examples, in the Hugging Face layout the folder loader reads.
pub const TABLE: &str = "metadata.csv";
/// The folder holding the examples' images and sounds (`files/<id>.png`, `files/<id>.wav`).
pub const FILES_DIR: &str = "files";
/// The fewest examples a class needs before the project can be trained.
pub const MIN_EXAMPLES: usize = 3;
/// How many examples per class we recommend.
pub const GOOD_EXAMPLES: usize = 8;
/// The columns of [`TABLE`], in order. `id` keeps the ids of examples without a file (text only).
pub const TABLE_COLUMNS: [&str; 5] = ["file_name", "label", "text", "audio", "id"];
/// Version of [`PROJECT_FILE`] written by this fusionlab.
pub const PROJECT_VERSION: u32 = 1;
/// Longest class name, in characters.
pub const MAX_CLASS_NAME: usize = 64;

/// Class colours: distinct and readable on light and dark backgrounds (Tableau 10).
pub const PALETTE: [[u8; 3]; 10] = [
    [78, 121, 167],
    [242, 142, 43],
    [225, 87, 89],
    [118, 183, 178],
    [89, 161, 79],
    [237, 201, 72],
    [176, 122, 161],
    [255, 157, 167],
    [156, 117, 95],
    [186, 176, 172],
];

/// A class of a project: its name and the colour the app shows it in.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassInfo {
    /// The label written in the table.
    pub name: String,
    /// sRGB.
    pub colour: [u8; 3],
}

/// One example of a project.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    /// `ex00001`: unique, never reused within a project.
    pub id: String,
    /// Its class.
    pub label: String,
    /// The image, relative to the project folder (`files/ex00001.png`).
    pub image: Option<PathBuf>,
    /// The sentence.
    pub text: Option<String>,
    /// The sound, relative to the project folder (`files/ex00001.wav`).
    pub audio: Option<PathBuf>,
}

/// A project as read from (and kept in step with) its folder.
#[derive(Clone, Debug, PartialEq)]
pub struct Project {
    /// The project folder.
    pub dir: PathBuf,
    /// Its name.
    pub name: String,
    /// The classes, in the order the user made them.
    pub classes: Vec<ClassInfo>,
    /// The examples, in table order.
    pub examples: Vec<Example>,
}

/// A picture to add: RGB8, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct NewImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width × height × 3` bytes.
    pub rgb: Vec<u8>,
}

/// A sound to add: mono samples in −1..1.
#[derive(Clone, Debug, PartialEq)]
pub struct NewSound {
    /// Samples per second.
    pub sample_rate: u32,
    /// The samples.
    pub samples: Vec<f32>,
}

/// An example to add: any subset of image, text and sound (at least one).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewExample {
    /// The picture, if any.
    pub image: Option<NewImage>,
    /// The sentence, if any (trimmed; empty counts as none).
    pub text: Option<String>,
    /// The sound, if any.
    pub audio: Option<NewSound>,
}

/// What [`Project::add_files`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FilesAdded {
    /// The examples made, in the order of the files given.
    pub added: Vec<Example>,
    /// The files not added, each with why (cannot be decoded, unknown extension…).
    pub skipped: Vec<(PathBuf, String)>,
}

impl Project {
    /// Make a new, empty project in `dir`, which must not exist yet or be an empty folder.
    /// Writes the empty table (header only), the files folder and [`PROJECT_FILE`] (last, so a
    /// folder is only a project once it is complete).
    pub fn create(dir: &Path, name: &str) -> Result<Self, ProjectError> {
        let name = check_project_name(name)?;
        match std::fs::read_dir(dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(ProjectError::NotEmpty {
                        dir: dir.to_owned(),
                    });
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) if dir.exists() && !dir.is_dir() => {
                return Err(ProjectError::NotAFolder {
                    path: dir.to_owned(),
                });
            }
            Err(source) => {
                return Err(ProjectError::Io {
                    path: dir.to_owned(),
                    source,
                });
            }
        }
        let project = Self {
            dir: dir.to_owned(),
            name,
            classes: Vec::new(),
            examples: Vec::new(),
        };
        project.ensure_files_dir()?;
        project.write_table(&[])?;
        project.write_json(&project.classes, 1)?;
        Ok(project)
    }

    /// Open the project in `dir`. Labels in the table that [`PROJECT_FILE`] does not list become
    /// classes (with a palette colour); rows without a label, without any modality or whose files
    /// are missing are left out of [`Project::examples`]. Nothing is written: the next change
    /// saves the cleaned-up table.
    pub fn open(dir: &Path) -> Result<Self, ProjectError> {
        store::open(dir)
    }

    /// Does `dir` hold a project (a [`PROJECT_FILE`])?
    pub fn is_project(dir: &Path) -> bool {
        dir.join(PROJECT_FILE).is_file()
    }

    /// `dir` joined with `rel` (a path of an example).
    pub fn file(&self, rel: &Path) -> PathBuf {
        self.dir.join(rel)
    }

    /// The class called `name`, if any.
    pub fn class(&self, name: &str) -> Option<&ClassInfo> {
        self.classes.iter().find(|c| c.name == name.trim())
    }

    /// The example with this id, if any.
    pub fn example(&self, id: &str) -> Option<&Example> {
        self.examples.iter().find(|e| e.id == id)
    }

    /// Examples of `class` with an image, a text, a sound.
    pub fn counts(&self, class: &str) -> [usize; 3] {
        let mut counts = [0; 3];
        for e in self.examples_of(class) {
            counts[0] += usize::from(e.image.is_some());
            counts[1] += usize::from(e.text.is_some());
            counts[2] += usize::from(e.audio.is_some());
        }
        counts
    }

    /// The examples of `class`, in table order.
    pub fn examples_of(&self, class: &str) -> impl Iterator<Item = &Example> {
        let class = class.trim().to_owned();
        self.examples.iter().filter(move |e| e.label == class)
    }

    /// Add a class with the next palette colour not in use. The name is trimmed; it may not be
    /// empty, hold commas, quotes, slashes or line breaks, or equal another class ignoring case.
    pub fn add_class(&mut self, name: &str) -> Result<(), ProjectError> {
        let name = check_class_name(name)?;
        if self.find_ignoring_case(&name).is_some() {
            return Err(ProjectError::DuplicateClass { name });
        }
        let mut classes = self.classes.clone();
        classes.push(ClassInfo {
            colour: next_colour(&classes),
            name,
        });
        self.write_json(&classes, self.next_id_number())?;
        self.classes = classes;
        Ok(())
    }

    /// Rename a class; its examples are relabelled, their files stay. Writes the table, then
    /// [`PROJECT_FILE`] (the table is put back when the second write fails).
    pub fn rename_class(&mut self, old: &str, new: &str) -> Result<(), ProjectError> {
        let index = self.class_index(old)?;
        let new = check_class_name(new)?;
        let old = self.classes[index].name.clone();
        if new == old {
            return Ok(());
        }
        if self.find_ignoring_case(&new).is_some_and(|i| i != index) {
            return Err(ProjectError::DuplicateClass { name: new });
        }
        let next = self.next_id_number();
        let mut classes = self.classes.clone();
        classes[index].name.clone_from(&new);
        let mut examples = self.examples.clone();
        for e in examples.iter_mut().filter(|e| e.label == old) {
            e.label.clone_from(&new);
        }
        self.write_table(&examples)?;
        if let Err(err) = self.write_json(&classes, next) {
            self.restore_table();
            return Err(err);
        }
        self.classes = classes;
        self.examples = examples;
        Ok(())
    }

    /// Delete a class and its examples: writes the table, then [`PROJECT_FILE`], then deletes
    /// the examples' files. Returns the examples removed.
    pub fn delete_class(&mut self, name: &str) -> Result<Vec<Example>, ProjectError> {
        let index = self.class_index(name)?;
        let name = self.classes[index].name.clone();
        let next = self.next_id_number();
        let (removed, kept): (Vec<Example>, Vec<Example>) =
            self.examples.iter().cloned().partition(|e| e.label == name);
        let mut classes = self.classes.clone();
        classes.remove(index);
        self.write_table(&kept)?;
        if let Err(err) = self.write_json(&classes, next) {
            self.restore_table();
            return Err(err);
        }
        self.classes = classes;
        self.examples = kept;
        self.delete_files(&removed);
        Ok(removed)
    }

    /// Give a class another colour.
    pub fn set_colour(&mut self, name: &str, colour: [u8; 3]) -> Result<(), ProjectError> {
        let index = self.class_index(name)?;
        let mut classes = self.classes.clone();
        classes[index].colour = colour;
        self.write_json(&classes, self.next_id_number())?;
        self.classes = classes;
        Ok(())
    }

    fn class_index(&self, name: &str) -> Result<usize, ProjectError> {
        let name = name.trim();
        self.classes
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| ProjectError::UnknownClass {
                name: name.to_owned(),
            })
    }

    fn find_ignoring_case(&self, name: &str) -> Option<usize> {
        let lower = name.to_lowercase();
        self.classes
            .iter()
            .position(|c| c.name.to_lowercase() == lower)
    }

    /// Write the table of `self.examples` again (after a later write failed), logging failure.
    fn restore_table(&self) {
        if let Err(err) = self.write_table(&self.examples) {
            log::warn!("could not put the project table back: {err}");
        }
    }
}

/// The first palette colour no class uses (cycling through the palette when all are taken).
pub fn next_colour(classes: &[ClassInfo]) -> [u8; 3] {
    PALETTE
        .iter()
        .find(|p| classes.iter().all(|c| c.colour != **p))
        .copied()
        .unwrap_or(PALETTE[classes.len() % PALETTE.len()])
}

/// A class name, trimmed, or why it cannot be one.
pub fn check_class_name(name: &str) -> Result<String, ProjectError> {
    let trimmed = name.trim();
    let bad = |reason: &str| ProjectError::BadName {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    if trimmed.is_empty() {
        return Err(bad(
            "the name is empty; type a name such as 'cup' or 'keys'",
        ));
    }
    if trimmed.chars().count() > MAX_CLASS_NAME {
        return Err(bad(&format!(
            "it is longer than {MAX_CLASS_NAME} characters; choose a shorter name"
        )));
    }
    if let Some(c) = trimmed
        .chars()
        .find(|c| matches!(c, ',' | '"' | '\'' | '/' | '\\') || c.is_control())
    {
        let what = match c {
            ',' => "a comma".to_owned(),
            '"' | '\'' => "a quote".to_owned(),
            '/' | '\\' => "a slash".to_owned(),
            '\n' | '\r' => "a line break".to_owned(),
            c => format!("the control character U+{:04X}", u32::from(c)),
        };
        return Err(bad(&format!(
            "it contains {what}; class names may not contain commas, quotes, slashes or line breaks"
        )));
    }
    Ok(trimmed.to_owned())
}

fn check_project_name(name: &str) -> Result<String, ProjectError> {
    let trimmed = name.trim();
    let bad = |reason: &str| ProjectError::BadName {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    if trimmed.is_empty() {
        return Err(bad(
            "the project name is empty; type a name for the project",
        ));
    }
    if trimmed.chars().count() > 200 {
        return Err(bad(
            "the project name is longer than 200 characters; choose a shorter one",
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(bad(
            "the project name contains a line break or control character; use one line of text",
        ));
    }
    Ok(trimmed.to_owned())
}
