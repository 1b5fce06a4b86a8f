//! A scratch folder per fuzzing process (under TMPDIR; `make fuzz` points it at /dev/shm).

use std::path::PathBuf;
use std::sync::OnceLock;

/// This process's own empty-at-start folder.
pub fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("fusionlab-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the fuzz scratch folder");
        dir
    })
}
