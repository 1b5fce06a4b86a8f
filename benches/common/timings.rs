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

/// Threads the benchmark computes on.
#[allow(dead_code)] // not every benchmark reports it
pub fn threads() -> usize {
    // RAYON_NUM_THREADS (or the core count): the threads a training step's parts and the matrix
    // products run on. CANDLE_NUM_THREADS only sizes candle's element-wise pool, which
    // `pin_thread_count` leaves without workers.
    candle_core::utils::get_num_threads()
}

/// `target/bench` (or `$CARGO_TARGET_DIR/bench`), where the benchmarks write their JSON.
pub fn output_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
            std::path::PathBuf::from,
        )
        .join("bench")
}

/// The value, or the error printed and exit status 1.
#[allow(dead_code)] // not every benchmark has a fallible set-up
pub fn unwrap_or_die<T>(r: anyhow::Result<T>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => {
            eprintln!("benchmark setup failed: {e:#}");
            std::process::exit(1);
        }
    }
}

/// Writes `json` to `target/bench/<file>` and says where (or why not).
#[allow(dead_code)] // not every benchmark writes JSON this way
pub fn write_json(file: &str, json: &serde_json::Value) {
    let path = output_dir().join(file);
    let written = std::fs::create_dir_all(output_dir())
        .map_err(anyhow::Error::from)
        .and_then(|()| {
            Ok(std::fs::write(
                &path,
                serde_json::to_string_pretty(json)? + "\n",
            )?)
        });
    match written {
        Ok(()) => println!("wrote {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e:#}", path.display()),
    }
}
