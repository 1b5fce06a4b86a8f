//! Shared by the benchmarks (included with `#[path]`): an observer for extraction and training.

use fusionlab::engine::extract::ExtractObserver;
use fusionlab::engine::{EpochReport, Progress, TrainObserver};

/// Prints extraction progress every 10 % of a long extraction; otherwise silent; never stops.
pub struct Quiet;

impl ExtractObserver for Quiet {
    fn progress(&self, done: usize, total: usize) {
        if total >= 500 && done % (total / 10).max(1) < 16 && done < total {
            eprintln!("  extracting: {done}/{total}");
        }
    }
    fn cancelled(&self) -> bool {
        false
    }
}

impl TrainObserver for Quiet {
    fn progress(&self, _: &Progress) {}
    fn epoch(&self, _: &EpochReport) {}
    fn cancelled(&self) -> bool {
        false
    }
}
