//! Export buttons' glue: file names in the export folder, PNGs of plots (a screenshot of the
//! window cropped to the plot), and a toast naming what was written.

use std::path::{Path, PathBuf};

use super::{FusionApp, Notifications};
use crate::export::{self, ExportError};

/// A plot PNG on its way: waiting for the screenshot, then for the file to be written.
pub struct PendingPng {
    rect: egui::Rect,
    stem: String,
    pixels_per_point: f32,
    shot: std::sync::mpsc::Receiver<std::sync::Arc<egui::ColorImage>>,
    written: Option<std::sync::mpsc::Receiver<Result<PathBuf, ExportError>>>,
}

/// The export state shared by the panels: the last file written and a plot PNG in flight.
#[derive(Default)]
pub struct Exports {
    /// The last file or folder written.
    pub last: Option<PathBuf>,
    pending_png: Option<PendingPng>,
}

/// Where an export's outcome is told.
pub struct Report<'a> {
    /// Toasts.
    pub notifications: &'a mut Notifications,
    /// The status bar line.
    pub status: &'a mut String,
}

/// A fresh path `<dir>/<stem>-<unix seconds>[-n].<ext>`, creating the folder.
pub fn fresh_path(dir: &Path, stem: &str, ext: &str) -> Result<PathBuf, ExportError> {
    std::fs::create_dir_all(dir).map_err(|source| ExportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut path = dir.join(format!("{stem}-{now}.{ext}"));
    let mut n = 2;
    while path.exists() {
        path = dir.join(format!("{stem}-{now}-{n}.{ext}"));
        n += 1;
    }
    Ok(path)
}

impl Exports {
    /// Is a plot PNG being taken or written (keep frames coming)?
    pub fn busy(&self) -> bool {
        self.pending_png.is_some()
    }

    /// Report an export's outcome in a toast and the status bar.
    pub fn report(
        &mut self,
        what: &str,
        result: Result<PathBuf, ExportError>,
        to: &mut Report<'_>,
    ) {
        match result {
            Ok(path) => {
                *to.status = format!("exported {what} to {}", path.display());
                to.notifications
                    .info(format!("Exported {what}"), path.display().to_string());
                self.last = Some(path);
            }
            Err(e) => to
                .notifications
                .error(format!("Exporting {what}"), e.to_string()),
        }
    }

    /// A button that saves the plot at `rect` as PNG (via a screenshot of the window).
    pub fn png_button(&mut self, ui: &mut egui::Ui, label: &str, rect: egui::Rect, stem: &str) {
        if !ui
            .button(label)
            .on_hover_text("Saved in the export folder (see the Model menu)")
            .clicked()
        {
            return;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let ctx = ui.ctx().clone();
        // The plot's rect is its data area: take the axes, their labels and a margin too.
        let rect = egui::Rect::from_min_max(
            rect.min - egui::vec2(64.0, 2.0),
            rect.max + egui::vec2(8.0, 36.0),
        );
        self.pending_png = Some(PendingPng {
            rect,
            stem: stem.to_owned(),
            pixels_per_point: ui.ctx().pixels_per_point(),
            shot: rx,
            written: None,
        });
        ui.ctx().request_screenshot(move |image| {
            tx.send(image).ok();
            ctx.request_repaint();
        });
    }

    /// Finish a pending plot PNG: crop the screenshot when it arrives and write the file on a
    /// short-lived thread (PNG encoding is too slow for a frame); report when it is written.
    pub fn take_screenshots(&mut self, dir: &Path, to: &mut Report<'_>) {
        let Some(pending) = &mut self.pending_png else {
            return;
        };
        if let Some(written) = &pending.written {
            if let Ok(result) = written.try_recv() {
                self.pending_png = None;
                self.report("plot", result, to);
            }
            return;
        }
        let Ok(image) = pending.shot.try_recv() else {
            return;
        };
        let path = match fresh_path(dir, &pending.stem, "png") {
            Ok(p) => p,
            Err(e) => {
                self.pending_png = None;
                self.report("plot", Err(e), to);
                return;
            }
        };
        let (rect, ppp) = (pending.rect, pending.pixels_per_point);
        let (tx, rx) = std::sync::mpsc::channel();
        pending.written = Some(rx);
        std::thread::spawn(move || {
            tx.send(crop_png(&path, &image, rect, ppp).map(|()| path))
                .ok();
        });
    }
}

impl FusionApp {
    /// Report an export's outcome in a toast and the status bar.
    pub fn exported(&mut self, what: &str, result: Result<PathBuf, ExportError>) {
        crate::app::panel::panel_ctx!(self).exported(what, result);
    }

    /// A fresh path in the export folder.
    pub fn export_path(&self, stem: &str, ext: &str) -> Result<PathBuf, ExportError> {
        fresh_path(&self.settings.export_dir, stem, ext)
    }

    /// Finish a plot PNG in flight (once a frame).
    pub fn take_screenshots(&mut self) {
        self.exports.take_screenshots(
            &self.settings.export_dir,
            &mut Report {
                notifications: &mut self.notifications,
                status: &mut self.status,
            },
        );
    }
}

/// Crop a window screenshot to `rect` (points) and save it as PNG.
fn crop_png(
    path: &std::path::Path,
    image: &egui::ColorImage,
    rect: egui::Rect,
    pixels_per_point: f32,
) -> Result<(), ExportError> {
    let [w, h] = image.size;
    let px = |v: f32, max: usize| ((v * pixels_per_point).round().max(0.0) as usize).min(max);
    let (x0, y0) = (px(rect.left(), w), px(rect.top(), h));
    let (x1, y1) = (px(rect.right(), w), px(rect.bottom(), h));
    if x1 <= x0 || y1 <= y0 {
        return Err(ExportError::Empty("the plot is not on screen".into()));
    }
    let mut rgba = Vec::with_capacity((x1 - x0) * (y1 - y0) * 4);
    for y in y0..y1 {
        for p in &image.pixels[y * w + x0..y * w + x1] {
            rgba.extend_from_slice(&p.to_array());
        }
    }
    export::png(path, (x1 - x0) as u32, (y1 - y0) as u32, &rgba)
}
