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

/// A worker whose events wake nobody.
pub fn worker() -> fusionlab::worker::WorkerHandle {
    fusionlab::worker::WorkerHandle::spawn(std::sync::Arc::new(|| {})).expect("spawn")
}

/// What one job reported: its updates in order, then how it ended.
#[derive(Debug)]
pub struct Finished {
    /// Every update of the job.
    pub updates: Vec<fusionlab::worker::Update>,
    /// Its terminal outcome.
    pub outcome: fusionlab::worker::Outcome,
}

/// Every event until `done` says stop (or 120 s pass, which fails the test).
pub fn until(
    w: &fusionlab::worker::WorkerHandle,
    mut done: impl FnMut(&fusionlab::worker::Event) -> bool,
) -> Vec<fusionlab::worker::Event> {
    let start = std::time::Instant::now();
    let mut seen = Vec::new();
    while start.elapsed() < std::time::Duration::from_secs(120) {
        if let Some(e) = w.recv_timeout(std::time::Duration::from_millis(50)) {
            let stop = done(&e);
            seen.push(e);
            if stop {
                return seen;
            }
        }
    }
    panic!("timed out; saw {seen:?}");
}

/// Wait for job `id` to end, keeping its updates (other jobs' events are dropped).
pub fn finish(w: &fusionlab::worker::WorkerHandle, id: fusionlab::worker::JobId) -> Finished {
    use fusionlab::worker::Event;
    let mut updates = Vec::new();
    let events = until(w, |e| e.job() == id && e.is_terminal());
    for e in events {
        match e {
            Event::Update { job, update, .. } if job == id => updates.push(update),
            Event::End { job, outcome, .. } if job == id => return Finished { updates, outcome },
            _ => {}
        }
    }
    unreachable!("until returns at the job's end")
}

/// Start `job` and wait for its end.
pub fn run(w: &fusionlab::worker::WorkerHandle, job: fusionlab::worker::Job) -> Finished {
    let id = w.start(job);
    finish(w, id)
}
