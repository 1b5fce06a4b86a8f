//! Shared by the benchmarks on real data (included with `#[path]`): loading a dataset, and an
//! observer for extraction and training.

use std::path::Path;

use fusionlab::data::{Dataset, LoadOptions, Quiet, load_dataset};
use fusionlab::engine::extract::ExtractObserver;
use fusionlab::engine::{EpochReport, Progress, TrainObserver};

/// Prints extraction progress every 10 % of a long extraction; otherwise silent; never stops.
pub struct Observer;

impl ExtractObserver for Observer {
    fn progress(&self, done: usize, total: usize) {
        if total >= 500 && done % (total / 10).max(1) < 16 && done < total {
            eprintln!("  extracting: {done}/{total}");
        }
    }
    fn cancelled(&self) -> bool {
        false
    }
}

impl TrainObserver for Observer {
    fn progress(&self, _: &Progress) {}
    fn epoch(&self, _: &EpochReport) {}
    fn cancelled(&self) -> bool {
        false
    }
}

/// The dataset at `path` (a folder or a manifest), loaded as the app loads it.
pub fn load(path: &Path) -> anyhow::Result<Dataset> {
    let spec = path.display().to_string().parse()?;
    Ok(load_dataset(&spec, &LoadOptions::default(), &Quiet)?)
}
