//! Teach-it-yourself projects on the input thread: every change to a project (a class added, an
//! example recorded, files dropped) is one job that writes the folder and answers with the whole
//! project and its thumbnails, so the UI never touches the disk and never waits on a write.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::data::project::{FilesAdded, NewExample, Project, ProjectError};
use crate::engine::TrainConfig;
use crate::model::{Backbone, Backbones};

use super::error::JobError;
use super::protocol::Outcome;

/// Side of the thumbnails sent with a project, in pixels.
pub const THUMB_SIZE: u32 = 56;

/// One change to a project (or opening one).
#[derive(Clone, Debug, PartialEq)]
pub enum ProjectOp {
    /// Make a new, empty project in the job's folder.
    Create {
        /// Its name.
        name: String,
    },
    /// Open the project in the job's folder.
    Open,
    /// Add a class.
    AddClass(String),
    /// Rename a class (its examples follow).
    RenameClass {
        /// The current name.
        from: String,
        /// The new name.
        to: String,
    },
    /// Delete a class and its examples.
    DeleteClass(String),
    /// Give a class another colour.
    SetColour {
        /// The class.
        class: String,
        /// sRGB.
        colour: [u8; 3],
    },
    /// Add one example (any subset of image, text, sound) to a class.
    AddExample {
        /// The class.
        class: String,
        /// What it holds.
        example: NewExample,
    },
    /// Add image, WAV and text files to a class, one example each (or images paired with
    /// sounds by order).
    AddFiles {
        /// The class.
        class: String,
        /// The files, in the order given.
        paths: Vec<PathBuf>,
        /// Pair the i-th image with the i-th sound.
        pair: bool,
    },
    /// Remove one example (and its files).
    RemoveExample(String),
    /// Move one example to another class.
    MoveExample {
        /// The example's id.
        id: String,
        /// The class it goes to.
        to: String,
    },
}

/// A small picture of an example's image.
#[derive(Clone, Debug, PartialEq)]
pub struct Thumbnail {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// RGB bytes, row-major.
    pub rgb: Vec<u8>,
}

/// The project after a change: the whole of it, its thumbnails and what the change did.
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectSnapshot {
    /// The project as saved.
    pub project: Project,
    /// Thumbnail per image file (relative path as in the examples).
    pub thumbnails: HashMap<PathBuf, Arc<Thumbnail>>,
    /// What happened, for the status bar ("added ex00004 to cup").
    pub done: String,
    /// Files that were not added, with why.
    pub skipped: Vec<(PathBuf, String)>,
    /// The encoders Train will use ([`teach_backbones`]: checked here, off the UI thread).
    pub encoders: Backbones,
    /// What that means, for the panel.
    pub encoder_note: String,
}

/// The input thread's open project and its thumbnails.
#[derive(Default)]
pub(super) struct Projects {
    open: Option<Project>,
    thumbnails: HashMap<PathBuf, Arc<Thumbnail>>,
}

impl Projects {
    /// Carry out `op` on the project in `dir` (opened first when another one, or none, is open).
    pub(super) fn run(&mut self, dir: &Path, op: ProjectOp) -> Result<Outcome, JobError> {
        let mut skipped = Vec::new();
        let project = match &op {
            ProjectOp::Create { name } => {
                self.thumbnails.clear();
                self.open = Some(Project::create(dir, name)?);
                self.project(dir)?
            }
            _ => self.project(dir)?,
        };
        let done = match op {
            ProjectOp::Create { name } => format!("made project '{name}' in {}", dir.display()),
            ProjectOp::Open => format!("opened project '{}'", project.name),
            ProjectOp::AddClass(name) => {
                project.add_class(&name)?;
                format!("added class '{}'", name.trim())
            }
            ProjectOp::RenameClass { from, to } => {
                project.rename_class(&from, &to)?;
                format!("renamed class '{from}' to '{}'", to.trim())
            }
            ProjectOp::DeleteClass(name) => {
                let removed = project.delete_class(&name)?;
                format!("deleted class '{name}' and its {} examples", removed.len())
            }
            ProjectOp::SetColour { class, colour } => {
                project.set_colour(&class, colour)?;
                format!("new colour for '{class}'")
            }
            ProjectOp::AddExample { class, example } => {
                let added = project.add_example(&class, example)?;
                format!("added {} to '{class}'", added.id)
            }
            ProjectOp::AddFiles { class, paths, pair } => {
                let FilesAdded {
                    added,
                    skipped: not_added,
                } = project.add_files(&class, &paths, pair);
                skipped = not_added;
                format!(
                    "added {} examples from {} files to '{class}'",
                    added.len(),
                    paths.len()
                )
            }
            ProjectOp::RemoveExample(id) => {
                let removed = project.remove_example(&id)?;
                format!("removed {} from '{}'", removed.id, removed.label)
            }
            ProjectOp::MoveExample { id, to } => {
                project.move_example(&id, &to)?;
                format!("moved {id} to '{to}'")
            }
        };
        let project = project.clone();
        self.refresh_thumbnails(&project);
        let (encoders, encoder_note) = teach_backbones(&project);
        Ok(Outcome::Project(Box::new(ProjectSnapshot {
            thumbnails: self.thumbnails.clone(),
            project,
            done,
            skipped,
            encoders,
            encoder_note,
        })))
    }

    /// The open project, opening `dir` when another one (or none) is open.
    fn project(&mut self, dir: &Path) -> Result<&mut Project, ProjectError> {
        let same = self.open.as_ref().is_some_and(|p| p.dir == dir);
        if !same {
            self.thumbnails.clear();
            self.open = None;
            self.open = Some(Project::open(dir)?);
        }
        // Just set above when it was not open.
        self.open.as_mut().ok_or_else(|| ProjectError::NotAProject {
            dir: dir.to_owned(),
        })
    }

    /// Make thumbnails for new images and forget those of images no longer in the project.
    fn refresh_thumbnails(&mut self, project: &Project) {
        let images: Vec<&PathBuf> = project
            .examples
            .iter()
            .filter_map(|e| e.image.as_ref())
            .collect();
        self.thumbnails.retain(|k, _| images.contains(&k));
        for rel in images {
            if self.thumbnails.contains_key(rel) {
                continue;
            }
            if let Some(thumb) = thumbnail(&project.file(rel)) {
                self.thumbnails.insert(rel.clone(), Arc::new(thumb));
            }
        }
    }
}

/// A thumbnail of an image file (`None` when it cannot be decoded: the card then shows its name).
fn thumbnail(path: &Path) -> Option<Thumbnail> {
    let image = ::image::open(path).ok()?;
    let small = image.thumbnail(THUMB_SIZE, THUMB_SIZE).to_rgb8();
    Some(Thumbnail {
        width: small.width(),
        height: small.height(),
        rgb: small.into_raw(),
    })
}

/// The pretrained backbones for the modalities the project has, where installed, and a note
/// on what that means (from scratch, with why, where not).
pub fn teach_backbones(project: &Project) -> (Backbones, String) {
    let store = crate::model::pretrained::store::Store::from_env();
    let has: [bool; 3] = std::array::from_fn(|m| {
        project
            .classes
            .iter()
            .any(|c| project.counts(&c.name)[m] > 0)
    });
    let wanted = [
        Backbone::EfficientNetLite0,
        Backbone::MiniLm,
        Backbone::SpeechEmbedding,
    ];
    let mut chosen = Backbones::default();
    let mut pretrained = Vec::new();
    let mut missing = Vec::new();
    for m in 0..3 {
        if !has[m] {
            continue;
        }
        let backbone = wanted[m];
        if store.installed(backbone).is_ok() {
            match m {
                0 => chosen.image = Some(backbone),
                1 => chosen.text = Some(backbone),
                _ => chosen.audio = Some(backbone),
            }
            pretrained.push(backbone.name());
        } else {
            missing.push(backbone.name());
        }
    }
    let install = "run `fusionlab pretrained install`: from a handful of examples pretrained \
                   encoders learn far better";
    let note = match (pretrained.is_empty(), missing.is_empty()) {
        (true, true) => "Encoders trained from scratch".to_owned(),
        (true, false) => format!(
            "Encoders trained from scratch: {} not installed ({install})",
            missing.join(", ")
        ),
        (false, true) => format!("Pretrained encoders: {}", pretrained.join(", ")),
        (false, false) => format!(
            "Pretrained encoders: {}; from scratch for the rest: {} not installed ({install})",
            pretrained.join(", "),
            missing.join(", ")
        ),
    };
    (chosen, note)
}

/// Training settings for a small project: the method and seed of the top bar, more epochs
/// (a few dozen examples make short epochs), small batches, no early stop, and modality dropout
/// so each modality is learned on its own too (without it, on a demo project of photos,
/// sentences and spoken words the model leant on the pictures alone and its sounds alone were
/// at chance, so Listen could not tell the classes apart).
pub fn teach_config(base: &TrainConfig, backbones: Backbones) -> TrainConfig {
    let scratch = backbones.is_scratch();
    TrainConfig {
        epochs: if scratch { 60 } else { 40 },
        batch_size: 8,
        patience: 0,
        warmup: 0.1,
        modality_dropout: 0.3,
        backbones,
        ..base.clone()
    }
}
