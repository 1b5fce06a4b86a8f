//! Shared helpers: tiny datasets and configurations.

use fusionlab::data::{Dataset, LoadOptions, Quiet, load_dataset};
use fusionlab::engine::TrainConfig;
use fusionlab::model::FusionKind;
use fusionlab::model::device::DeviceChoice;

/// A small synthetic dataset.
pub fn synthetic(spec: &str) -> Dataset {
    load_dataset(
        &spec.parse().expect("spec"),
        &LoadOptions::default(),
        &Quiet,
    )
    .expect("dataset")
}

/// A tiny, fast training configuration.
pub fn tiny(fusion: FusionKind, epochs: usize) -> TrainConfig {
    TrainConfig {
        fusion,
        epochs,
        batch_size: 16,
        embed_dim: 16,
        learning_rate: 1e-2,
        patience: 0,
        device: DeviceChoice::Cpu,
        ..TrainConfig::default()
    }
}

/// Records what a training run reports.
#[derive(Default)]
pub struct Recorder {
    pub epochs: std::cell::RefCell<Vec<fusionlab::engine::EpochReport>>,
    pub cancel_after_progress: bool,
    pub progressed: std::cell::Cell<bool>,
}

impl fusionlab::engine::TrainObserver for Recorder {
    fn progress(&self, _: &fusionlab::engine::Progress) {
        self.progressed.set(true);
    }
    fn epoch(&self, report: &fusionlab::engine::EpochReport) {
        self.epochs.borrow_mut().push(report.clone());
    }
    fn cancelled(&self) -> bool {
        self.cancel_after_progress && (self.progressed.get() || !self.epochs.borrow().is_empty())
    }
}
