//! The engine: models, fusion weights, training, checkpoints and the worker.
#![allow(clippy::unwrap_used)]

mod analysis;
mod checkpoint;
mod common;
mod model;
mod pretrained;
#[path = "../support/skip.rs"]
mod skip;
mod training;
mod worker;
