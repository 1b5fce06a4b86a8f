//! Teach-it-yourself projects on the input thread: every change to a project (a class added, an
//! example recorded, files dropped) is one job that writes the folder and answers with the whole
//! project and its thumbnails, so the UI never touches the disk and never waits on a write.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::data::project::{FilesAdded, NewExample, Project, ProjectError};

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
        Ok(Outcome::Project(Box::new(ProjectSnapshot {
            thumbnails: self.thumbnails.clone(),
            project,
            done,
            skipped,
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
