//! Shared by the benchmarks (included with `#[path]`): per-iteration timings of criterion's calls.

use std::time::Duration;

/// Per-iteration times of each call criterion makes; the last `sample_size` calls are the
/// measurement (the earlier ones are its warm-up).
#[derive(Default)]
pub struct Timings {
    calls: Vec<Vec<Duration>>,
}

impl Timings {
    /// Run `iters` timed iterations and keep their times; returns the total for criterion.
    pub fn record(&mut self, iters: u64, mut run: impl FnMut() -> Duration) -> Duration {
        let times: Vec<Duration> = (0..iters).map(|_| run()).collect();
        let total = times.iter().sum();
        self.calls.push(times);
        total
    }

    /// Median seconds per iteration over the measured calls, and how many iterations that is.
    pub fn median(&self, sample_size: usize) -> Option<(f64, usize)> {
        let start = self.calls.len().saturating_sub(sample_size);
        let mut all: Vec<f64> = self.calls[start..]
            .iter()
            .flatten()
            .map(Duration::as_secs_f64)
            .collect();
        if all.is_empty() {
            return None;
        }
        all.sort_by(f64::total_cmp);
        let n = all.len();
        let median = if n % 2 == 1 {
            all[n / 2]
        } else {
            0.5 * (all[n / 2 - 1] + all[n / 2])
        };
        Some((median, n))
    }
}
