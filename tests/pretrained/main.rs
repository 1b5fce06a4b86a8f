//! The pretrained backbones: the store, and each backbone proven to be the real model against
//! reference outputs committed in `tests/fixtures/pretrained/`.
#![allow(clippy::unwrap_used)]

#[path = "../support/harness.rs"]
mod harness;
#[path = "../support/skip.rs"]
mod skip;

mod app;
mod audio;
mod image;
mod robustness;
mod store;
mod support;
mod text;
mod train;
