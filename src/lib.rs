//! fusionlab: explore multimodal fusion models (image + text + audio) in a desktop app.
//!
//! Pipeline layout: [`data`] (files and built-in datasets → samples) → [`model`] (candle network) →
//! [`engine`] (training, evaluation) → `worker` (background thread) →
//! [`app`] (egui). Only `app` and the binary use egui.

pub mod app;
pub mod audio;
pub mod capture;
pub mod cli;
pub mod data;
pub mod engine;
pub mod export;
pub mod model;
pub mod viz;
pub mod worker;
