//! Export buttons' glue: file names in the export folder, PNGs of plots (a screenshot of the
//! window cropped to the plot), and a toast naming what was written.

use std::path::PathBuf;

use super::FusionApp;
use crate::engine::robustness::RobustnessReport;
use crate::export::{self, ExportError, ReportInputs};
use crate::worker::{Job, SPACES};

/// A plot PNG on its way: waiting for the screenshot, then for the file to be written.
pub struct PendingPng {
    rect: egui::Rect,
    stem: String,
    pixels_per_point: f32,
    shot: std::sync::mpsc::Receiver<std::sync::Arc<egui::ColorImage>>,
    written: Option<std::sync::mpsc::Receiver<Result<PathBuf, ExportError>>>,
}

impl FusionApp {
    /// A fresh path `<export folder>/<stem>-<unix seconds>[-n].<ext>`, creating the folder.
    pub fn export_path(&self, stem: &str, ext: &str) -> Result<PathBuf, ExportError> {
        let dir = &self.settings.export_dir;
        std::fs::create_dir_all(dir).map_err(|source| ExportError::Io {
            path: dir.clone(),
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

    /// Report an export's outcome in a toast and the status bar.
    pub fn exported(&mut self, what: &str, result: Result<PathBuf, ExportError>) {
        match result {
            Ok(path) => {
                self.status = format!("exported {what} to {}", path.display());
                self.notifications
                    .info(format!("Exported {what}"), path.display().to_string());
                self.last_export = Some(path);
            }
            Err(e) => self
                .notifications
                .error(format!("Exporting {what}"), e.to_string()),
        }
    }

    /// A table as CSV.
    pub fn export_table(&mut self, stem: &str, header: &[&str], rows: &[Vec<String>]) {
        let result = self
            .export_path(stem, "csv")
            .and_then(|p| export::table_csv(&p, header, rows).map(|()| p));
        self.exported(stem, result);
    }

    /// Robustness curves as CSV.
    pub fn export_robustness(&mut self, reports: &[RobustnessReport]) {
        let result = self
            .export_path("robustness", "csv")
            .and_then(|p| export::robustness_csv(&p, reports).map(|()| p));
        self.exported("robustness curves", result);
    }

    /// A training run's metrics per epoch as CSV.
    pub fn export_metrics(&mut self, run: usize) {
        let Some(r) = self.training.runs.get(run) else {
            return;
        };
        let stem = format!("metrics-{}", r.name.replace([' ', '#'], ""));
        let history = r.history.clone();
        let result = self
            .export_path(&stem, "csv")
            .and_then(|p| export::metrics_csv(&p, &history).map(|()| p));
        self.exported("training metrics", result);
    }

    /// The current prediction as a JSON report.
    pub fn export_prediction(&mut self) {
        let Some(prediction) = self.predict.current.clone() else {
            self.notifications.error(
                "Exporting the prediction",
                "there is no prediction yet: give an input first",
            );
            return;
        };
        let inputs = ReportInputs {
            image: self.inputs.image.as_ref().map(|i| i.name.clone()),
            text: Some(self.inputs.text.clone()).filter(|t| !t.trim().is_empty()),
            audio: self.inputs.audio.as_ref().map(|a| a.name.clone()),
        };
        let model = self.model.dir.as_ref().map_or_else(
            || {
                self.model
                    .card
                    .as_ref()
                    .map(|c| format!("{} (not saved)", c.model.fusion.name()))
                    .unwrap_or_default()
            },
            |d| d.display().to_string(),
        );
        let result = self
            .export_path("prediction", "json")
            .and_then(|p| export::prediction_json(&p, &model, &inputs, &prediction).map(|()| p));
        self.exported("prediction report", result);
    }

    /// One embedding space of the exploration, as shown (PCA or t-SNE): the worker writes the
    /// TensorBoard projector pair and the 2-D coordinates into a new folder.
    pub fn export_embeddings(&mut self) {
        let space = self.projections.space;
        let Some(exploration) = &self.browser.exploration else {
            self.exported(
                "embeddings",
                Err(ExportError::Empty(
                    "the dataset has not been explored yet".into(),
                )),
            );
            return;
        };
        let name = |k: usize| exploration.classes.get(k).cloned().unwrap_or_default();
        let points: Vec<(usize, [f32; 2], String)> = self
            .projections
            .layout(Some(exploration))
            .into_iter()
            .map(|(i, xy)| {
                let predicted = exploration
                    .samples
                    .get(i)
                    .and_then(|s| s.outcome.as_ref())
                    .map(|o| name(o.predicted))
                    .unwrap_or_default();
                (i, xy, predicted)
            })
            .collect();
        if points.is_empty() {
            self.exported(
                "embeddings",
                Err(ExportError::Empty("no points in this projection".into())),
            );
            return;
        }
        let stem = format!("embeddings-{}", SPACES[space.min(3)]);
        match self.export_path(&stem, "tensorboard") {
            Ok(dir) => {
                self.jobs
                    .start(Job::ExportEmbeddings { space, dir, points });
            }
            Err(e) => self.exported("embeddings", Err(e)),
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
    pub fn take_screenshots(&mut self) {
        let Some(pending) = &mut self.pending_png else {
            return;
        };
        if let Some(written) = &pending.written {
            if let Ok(result) = written.try_recv() {
                self.pending_png = None;
                self.exported("plot", result);
            }
            return;
        }
        let Ok(image) = pending.shot.try_recv() else {
            return;
        };
        let stem = pending.stem.clone();
        let path = match self.export_path(&stem, "png") {
            Ok(p) => p,
            Err(e) => {
                self.pending_png = None;
                self.exported("plot", Err(e));
                return;
            }
        };
        let Some(pending) = &mut self.pending_png else {
            return;
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
