//! The system's file dialogs, as the app (top bar) and the panels (through [`PanelCtx`]) ask
//! for them: starting in the last folder used, and off in headless tests.

use std::path::{Path, PathBuf};

use super::super::panel::PanelCtx;
use super::super::{FusionApp, Settings};

/// What [`FusionApp::pick`] asks for.
#[derive(Clone, Copy, Debug)]
pub enum Pick<'a> {
    /// An existing file; the filter's name and extensions.
    File {
        /// Filter name ("images").
        name: &'a str,
        /// Extensions without the dot.
        extensions: &'a [&'a str],
    },
    /// An existing folder.
    Folder,
    /// A file to write, suggesting `file_name`.
    Save {
        /// Suggested name.
        file_name: &'a str,
    },
}

/// Show the dialog for `what`, starting in `start`, else in the settings' last folder when it
/// still exists. `None` when cancelled or when `enabled` is false.
fn pick(
    enabled: bool,
    settings: &Settings,
    what: Pick<'_>,
    start: Option<&Path>,
) -> Option<PathBuf> {
    if !enabled {
        return None;
    }
    let mut dialog = rfd::FileDialog::new();
    match (start, &settings.last_dir) {
        (Some(dir), _) => dialog = dialog.set_directory(dir),
        (None, Some(dir)) if dir.is_dir() => dialog = dialog.set_directory(dir),
        _ => {}
    }
    match what {
        Pick::File { name, extensions } => dialog.add_filter(name, extensions).pick_file(),
        Pick::Folder => dialog.pick_folder(),
        Pick::Save { file_name } => dialog.set_file_name(file_name).save_file(),
    }
}

impl FusionApp {
    /// Ask the user for a path with the system's file dialog (starting in the last folder
    /// used, or `start`). `None` when cancelled, or when dialogs are off (headless tests).
    pub fn pick(&self, what: Pick<'_>, start: Option<&Path>) -> Option<PathBuf> {
        pick(self.native_dialogs, &self.settings, what, start)
    }
}

impl PanelCtx<'_> {
    /// Ask the user for a path with the system's file dialog, as [`FusionApp::pick`] does.
    pub fn pick(&self, what: Pick<'_>, start: Option<&Path>) -> Option<PathBuf> {
        pick(self.native_dialogs, self.settings, what, start)
    }
}
