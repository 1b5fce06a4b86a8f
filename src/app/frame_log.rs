//! Frame timing for the responsiveness measurement (`FUSIONLAB_FRAME_LOG=file`): CPU time of
//! each frame on the UI thread and the interval between frames, written as CSV.

use std::path::PathBuf;
use std::time::Instant;

/// Frame timing, for the responsiveness measurement (`FUSIONLAB_FRAME_LOG=file`).
pub(crate) struct FrameLog {
    pub(crate) path: PathBuf,
    /// CPU milliseconds spent in `logic` + `ui`, and the interval since the previous frame.
    pub(crate) frames: Vec<(f32, f32, bool)>,
    pub(crate) last: Option<Instant>,
    pub(crate) logic_start: Option<Instant>,
}

impl FrameLog {
    /// Write the log (CSV); done every 300 frames and at exit, so a killed run keeps most of it.
    pub(crate) fn write(&self) {
        let mut text = String::from("cpu_ms,interval_ms,training\n");
        for (c, i, t) in &self.frames {
            text += &format!("{c:.3},{i:.3},{}\n", u8::from(*t));
        }
        if let Err(e) = std::fs::write(&self.path, text) {
            log::warn!("cannot write the frame log {}: {e}", self.path.display());
        }
    }
}
