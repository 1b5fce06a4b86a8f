//! Data layer tests: loading each modality, the built-in dataset, folder datasets.

mod audio;
mod common;
mod folder;
mod image;
mod project;
#[path = "../support/skip.rs"]
mod skip;
mod synthetic;
mod text;
