//! The desktop app. For now one window that loads a dataset in the background and says what was
//! loaded; the full panels (inputs, training, predictions, projections) build on this.

use std::sync::mpsc;

use crate::data::{DatasetSpec, LoadOptions, Modality, Quiet, Split, Summary, load_dataset};

/// What the window knows about the dataset.
#[derive(Debug)]
pub enum DatasetStatus {
    /// The background thread is still loading.
    Loading,
    /// Loaded; its counts.
    Ready(Box<Summary>),
    /// Loading failed; the message names the file and the fix.
    Failed(String),
}

/// The eframe application.
pub struct FusionApp {
    spec: String,
    status: DatasetStatus,
    loaded: Option<mpsc::Receiver<Result<Summary, String>>>,
}

impl FusionApp {
    /// Start loading `spec` in a background thread; `wake` is called when it is done
    /// (pass `ctx.request_repaint`).
    pub fn new(spec: DatasetSpec, wake: impl Fn() + Send + 'static) -> Self {
        let (tx, rx) = mpsc::channel();
        let name = spec.to_string();
        let spawned = std::thread::Builder::new()
            .name("dataset_loader".into())
            .spawn(move || {
                let result = load_dataset(&spec, &LoadOptions::default(), &Quiet)
                    .map(|d| d.summary())
                    .map_err(|e| format!("Loading {spec} failed: {e}"));
                tx.send(result).ok();
                wake();
            });
        let (status, loaded) = match spawned {
            Ok(_) => (DatasetStatus::Loading, Some(rx)),
            Err(e) => (
                DatasetStatus::Failed(format!("cannot start the loader thread: {e}")),
                None,
            ),
        };
        Self {
            spec: name,
            status,
            loaded,
        }
    }

    /// The dataset status (for tests and the status bar).
    pub fn status(&self) -> &DatasetStatus {
        &self.status
    }

    /// Take a finished load, if any; call once per frame.
    pub fn poll(&mut self) {
        let Some(rx) = &self.loaded else { return };
        match rx.try_recv() {
            Ok(Ok(summary)) => self.status = DatasetStatus::Ready(Box::new(summary)),
            Ok(Err(message)) => self.status = DatasetStatus::Failed(message),
            Err(mpsc::TryRecvError::Empty) => return,
            Err(mpsc::TryRecvError::Disconnected) => {
                self.status =
                    DatasetStatus::Failed("the loader thread stopped unexpectedly".into());
            }
        }
        self.loaded = None;
    }

    fn dataset_ui(&self, ui: &mut egui::Ui) {
        match &self.status {
            DatasetStatus::Loading => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(format!("Loading {}…", self.spec));
                });
            }
            DatasetStatus::Failed(message) => {
                ui.colored_label(ui.visuals().error_fg_color, message);
            }
            DatasetStatus::Ready(summary) => summary_ui(ui, summary),
        }
    }
}

fn summary_ui(ui: &mut egui::Ui, s: &Summary) {
    ui.heading(format!("Dataset: {}", s.name));
    ui.label(&s.description);
    ui.add_space(8.0);
    let count = |split| s.split(split).map_or(0, |x| x.total.samples);
    ui.label(format!(
        "{} samples · {} classes · train {} · val {} · test {}",
        s.samples,
        s.classes.len(),
        count(Split::Train),
        count(Split::Val),
        count(Split::Test)
    ));
    ui.add_space(8.0);
    egui::Grid::new("counts").striped(true).show(ui, |ui| {
        ui.strong("class");
        for split in Split::ALL {
            ui.strong(split.name());
        }
        for m in Modality::ALL {
            ui.strong(format!("with {}", m.name()));
        }
        ui.end_row();
        for (c, name) in s.classes.iter().enumerate() {
            ui.label(name);
            for split in Split::ALL {
                ui.label(
                    s.split(split)
                        .and_then(|x| x.classes.get(c))
                        .map_or(0, |x| x.samples)
                        .to_string(),
                );
            }
            for m in Modality::ALL {
                let n: usize = s
                    .splits
                    .iter()
                    .filter_map(|x| x.classes.get(c))
                    .map(|x| x.present(m))
                    .sum();
                ui.label(n.to_string());
            }
            ui.end_row();
        }
    });
    if !s.problems.is_empty() {
        ui.add_space(8.0);
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!("{} rows were skipped:", s.problems.len()),
        );
        for p in s.problems.iter().take(20) {
            ui.label(p.to_string());
        }
    }
}

impl eframe::App for FusionApp {
    fn logic(&mut self, _ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.poll();
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::Panel::top("top_bar").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.strong("fusionlab");
                ui.separator();
                ui.label(format!("dataset: {}", self.spec));
            });
        });
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| self.dataset_ui(ui));
        });
    }
}
