//! Tests that cannot run on this machine (a resource is missing) pass, but say so.
//!
//! Included by each test crate that needs it: `#[path = "support/skip.rs"] mod skip;`.

use std::io::Write as _;
use std::path::PathBuf;

/// Report that `test` did not run because of `reason`: a `SKIP <test>: <reason>` line on stderr
/// and at the end of the skip log (`$FUSIONLAB_SKIP_LOG`, else `target/test-skips.txt`), which
/// `make test` lists after the run.
pub fn skip(test: &str, reason: &str) {
    let line = format!("SKIP {test}: {reason}\n");
    // Straight to the handle: cargo test captures `eprintln!` of passing tests, not this.
    std::io::stderr().write_all(line.as_bytes()).ok();
    let log = std::env::var_os("FUSIONLAB_SKIP_LOG").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-skips.txt"),
        PathBuf::from,
    );
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).ok();
    }
    // One append-mode write per line, so tests skipping in parallel do not interleave.
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut file| file.write_all(line.as_bytes()));
    if let Err(e) = written {
        let note = format!("note: could not append to {}: {e}\n", log.display());
        std::io::stderr().write_all(note.as_bytes()).ok();
    }
}
