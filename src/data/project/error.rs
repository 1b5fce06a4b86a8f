//! Why a project operation failed. Every message names the folder, file, class or example, says
//! what was expected and what the user can do.

use std::path::PathBuf;

/// Why a project could not be made, opened or changed.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// The folder has no project file.
    #[error(
        "{dir} is not a fusionlab project: it has no fusionlab-project.json; choose a folder made \
         with New project"
    )]
    NotAProject {
        /// The folder.
        dir: PathBuf,
    },
    /// A new project needs an empty (or new) folder.
    #[error(
        "{dir} is not empty; a new project needs an empty folder: choose another folder or type \
         the name of a new one"
    )]
    NotEmpty {
        /// The folder.
        dir: PathBuf,
    },
    /// A file where a folder was expected.
    #[error("{path} is a file, not a folder; choose a folder for the project")]
    NotAFolder {
        /// The path.
        path: PathBuf,
    },
    /// Reading, listing or creating failed.
    #[error(
        "cannot access {path}: {source}; check that it exists and that you may read and write there"
    )]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Saving a file failed (nothing was changed: the old file, if any, is still whole).
    #[error(
        "could not save {path}: {reason}; check the free disk space and that you may write to the \
         folder"
    )]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The project file or the table cannot be understood.
    #[error("{path} is damaged: {reason}; fix it in a text editor or restore it from a backup")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The project file was written by a newer fusionlab.
    #[error(
        "{path} is a version {version} project, made by a newer fusionlab (this one reads version \
         {supported}); update fusionlab to open it"
    )]
    NewerVersion {
        /// The project file.
        path: PathBuf,
        /// Its version.
        version: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// No class has this name.
    #[error(
        "there is no class '{name}' in this project; add it first or choose one of its classes"
    )]
    UnknownClass {
        /// The name asked for.
        name: String,
    },
    /// Another class has this name (ignoring case).
    #[error(
        "'{name}' is taken: there is already a class with that name (names are compared ignoring \
         upper and lower case); choose another name"
    )]
    DuplicateClass {
        /// The name asked for.
        name: String,
    },
    /// A class or project name that cannot be used.
    #[error("'{name}' cannot be used as a name: {reason}")]
    BadName {
        /// The name as given.
        name: String,
        /// Why, and what is allowed.
        reason: String,
    },
    /// No example has this id.
    #[error("there is no example '{id}' in this project; it may have been removed already")]
    UnknownExample {
        /// The id asked for.
        id: String,
    },
    /// An example with nothing in it.
    #[error(
        "the example has no image, no sound and no text with words in it; take a picture, record \
         a sound or type a sentence"
    )]
    EmptyExample,
    /// The picture given does not have as many bytes as its size says.
    #[error(
        "the picture is not a {width}×{height} RGB image: it has {len} bytes where {expected} were \
         expected; take the picture again"
    )]
    BadImage {
        /// Width given.
        width: u32,
        /// Height given.
        height: u32,
        /// Bytes given.
        len: usize,
        /// Bytes a picture of that size has (0 when the size is 0 or too large).
        expected: usize,
    },
    /// The sound given cannot be saved.
    #[error("the sound cannot be saved: {reason}; record it again")]
    BadSound {
        /// What is wrong.
        reason: String,
    },
    /// A dropped file that cannot be used.
    #[error("{path} cannot be added: {reason}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// Why, and what would work.
        reason: String,
    },
}
