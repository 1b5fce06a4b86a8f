//! Choosing where the network runs.

use std::fmt;
use std::str::FromStr;

use candle_core::Device;

/// The device asked for on the command line or in the app.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// A GPU when the binary was built with one and it works, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA device 0 (needs `--features cuda`).
    Cuda,
    /// The Metal device (needs `--features metal`).
    Metal,
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda),
            "metal" => Ok(Self::Metal),
            other => Err(format!(
                "unknown device '{other}'; choose auto, cpu, cuda or metal"
            )),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
            Self::Metal => "metal",
        })
    }
}

/// Why the chosen device cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// This binary was built without the backend asked for.
    #[error("this fusionlab was built without {backend}; {rebuild} or use --device cpu")]
    NotBuiltWith {
        /// The backend (`CUDA`, `Metal`).
        backend: &'static str,
        /// How to build a binary that has it.
        rebuild: &'static str,
    },
    /// The backend is there but the device did not open.
    #[error("cannot open {device}: {source}")]
    Open {
        /// The device (`CUDA device 0`, `the Metal device`).
        device: &'static str,
        /// The cause.
        source: candle_core::Error,
    },
}

/// Open the chosen device. Asking for a backend this binary was built without is an error
/// that says how to build with it; `Auto` falls back to the CPU.
pub fn open(choice: DeviceChoice) -> Result<Device, DeviceError> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda if !cfg!(feature = "cuda") => Err(DeviceError::NotBuiltWith {
            backend: "CUDA",
            rebuild: "build one with `make build-cuda` (or `cargo build --release --features cuda`; see README, Building for NVIDIA GPUs)",
        }),
        DeviceChoice::Metal if !cfg!(feature = "metal") => Err(DeviceError::NotBuiltWith {
            backend: "Metal",
            rebuild: "rebuild with `cargo build --release --features metal`",
        }),
        DeviceChoice::Cuda => Device::new_cuda(0).map_err(|source| DeviceError::Open {
            device: "CUDA device 0",
            source,
        }),
        DeviceChoice::Metal => Device::new_metal(0).map_err(|source| DeviceError::Open {
            device: "the Metal device",
            source,
        }),
        DeviceChoice::Auto => {
            if cfg!(feature = "cuda")
                && let Ok(device) = Device::new_cuda(0)
            {
                return Ok(device);
            }
            if cfg!(feature = "metal")
                && let Ok(device) = Device::new_metal(0)
            {
                return Ok(device);
            }
            Ok(Device::Cpu)
        }
    }
}

/// A short human name: `cpu`, `cuda:0`, `metal`.
pub fn label(device: &Device) -> String {
    match device {
        Device::Cpu => "cpu".to_owned(),
        Device::Cuda(_) => "cuda:0".to_owned(),
        Device::Metal(_) => "metal".to_owned(),
    }
}

/// Fixes candle's CPU threading for the whole process, for each variable that is unset:
/// * `RAYON_NUM_THREADS` to the count candle would pick. Without it candle works the count out
///   again on every matrix product by parsing `/proc/cpuinfo`: a quarter of a one-sentence MiniLM
///   pass.
/// * `CANDLE_NUM_THREADS` to 1, which leaves candle's own pool for large element-wise ops without
///   workers. Its workers spin between ops and fought the rayon threads that run the parts of a
///   training step (`engine::step`): a step took twice as long on two cores as with this set.
///
/// Call it first thing in `main`; it does nothing once a second thread exists, or where the
/// thread count cannot be read (the environment must not change while another thread reads it).
#[allow(unsafe_code)] // setting an environment variable, unsafe since edition 2024
pub fn pin_thread_count() {
    if process_threads() != Some(1) {
        return;
    }
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let threads = candle_core::utils::get_num_threads();
        // SAFETY: this process has one thread (checked above), so nothing reads the environment
        // while it changes.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", threads.to_string()) };
    }
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: as above, one thread.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
}

/// Treats subnormal floats as zero on this thread and on every thread of the current rayon pool
/// (x86-64 flush-to-zero and denormals-are-zero; nothing elsewhere). Gradients through tensor and
/// low-rank fusion reach subnormal values, on which the CPU's multiply-add is many times slower:
/// their training step took twice as long as attention's with the same encoders. Values this
/// small (under 1.2e-38) change no prediction; PyTorch offers the same (`set_flush_denormal`).
/// Training calls it before its first step.
pub fn flush_subnormals() {
    #[cfg(target_arch = "x86_64")]
    {
        set_flush_to_zero();
        rayon::broadcast(|_| set_flush_to_zero());
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code, deprecated)] // the MXCSR register has no safe interface in std
fn set_flush_to_zero() {
    use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
    // SAFETY: SSE is part of every x86-64 CPU; only the FTZ (bit 15) and DAZ (bit 6) flags are
    // set, the rounding mode and exception masks stay as they were, and no memory is touched.
    unsafe { _mm_setcsr(_mm_getcsr() | 0x8040) };
}

/// Threads in this process (Linux `/proc/self/status`).
fn process_threads() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After the call, a subnormal input reads as zero on this thread and on the pool's threads.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn subnormals_are_flushed_here_and_on_the_pool() {
        let tiny = f32::MIN_POSITIVE / 4.0;
        let scaled = || std::hint::black_box(tiny) * std::hint::black_box(2.0f32);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("pool");
        pool.install(|| {
            assert_ne!(scaled(), 0.0, "flushed before the call");
            flush_subnormals();
            assert_eq!(scaled(), 0.0);
            let on_pool = rayon::broadcast(|_| scaled());
            assert_eq!(on_pool, vec![0.0, 0.0]);
        });
    }

    /// The environment is only changed while the process has a single thread: a test binary has
    /// several, so the variables stay as they were.
    #[test]
    fn pin_thread_count_leaves_a_threaded_process_alone() {
        let other =
            std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_millis(200)));
        assert!(
            process_threads().is_some_and(|n| n >= 2),
            "{:?}",
            process_threads()
        );
        let before = ["RAYON_NUM_THREADS", "CANDLE_NUM_THREADS"].map(std::env::var_os);
        pin_thread_count();
        let after = ["RAYON_NUM_THREADS", "CANDLE_NUM_THREADS"].map(std::env::var_os);
        assert_eq!(after, before);
        other.join().ok();
    }
}
