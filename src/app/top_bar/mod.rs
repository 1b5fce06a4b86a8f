//! The top bar: dataset, fusion method, model load/save, device, and Train / Stop with progress.

mod dataset_menu;
mod model_menu;

pub use dataset_menu::DatasetEditor;
pub use model_menu::{FolderCache, saved_models};

use super::FusionApp;
use crate::model::FusionKind;
use crate::worker::{JobId, JobKind};

impl FusionApp {
    pub(crate) fn top_bar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.strong("fusionlab");
            ui.separator();
            self.dataset_menu_ui(ui);
            ui.separator();
            let running = self.jobs.is_training();
            let fusion = &mut self.settings.train.fusion;
            ui.add_enabled_ui(!running, |ui| {
                ui.label("Fusion");
                egui::ComboBox::from_id_salt("fusion")
                    .selected_text(fusion.name())
                    .show_ui(ui, |ui| {
                        for f in FusionKind::ALL {
                            ui.selectable_value(fusion, f, f.name())
                                .on_hover_text(f.explanation());
                        }
                    })
                    .response
                    .on_hover_text(fusion.explanation());
            });
            ui.separator();
            self.model_menu_ui(ui);
            ui.separator();
            self.lessons_menu_ui(ui);
            ui.separator();
            self.train_button_ui(ui);
        });
    }

    fn lessons_menu_ui(&mut self, ui: &mut egui::Ui) {
        let running = self.jobs.is_training();
        ui.menu_button("Lessons", |ui| {
            ui.set_max_width(380.0);
            self.refresh_folders();
            for entry in self.folders.lessons.clone() {
                match entry {
                    Ok(lesson) => {
                        if ui
                            .add_enabled(!running, egui::Button::new(&lesson.title))
                            .on_hover_text(&lesson.question)
                            .clicked()
                        {
                            self.apply_lesson(lesson);
                            ui.close();
                        }
                    }
                    Err(e) => {
                        ui.weak(e.to_string());
                    }
                }
            }
            ui.separator();
            if ui
                .add_enabled(!running, egui::Button::new("Open lesson file…"))
                .clicked()
                && let Some(path) = self.pick(
                    crate::app::inputs::Pick::File {
                        name: "fusionlab lesson",
                        extensions: &["json"],
                    },
                    None,
                )
            {
                self.open_lesson(&path);
                ui.close();
            }
            if ui
                .button("Save current setup as lesson")
                .on_hover_text("Dataset with its knobs, method, hyper-parameters and visible panels, as a .fusionlab.json file in the export folder")
                .clicked()
            {
                self.save_lesson();
                ui.close();
            }
        });
    }

    fn train_button_ui(&mut self, ui: &mut egui::Ui) {
        if let Some(job) = self.jobs.training().cloned() {
            let (label, hint) = if job.stopping {
                ("Stopping…", "stopping at the end of this batch")
            } else {
                ("Stop", "stop training (keeps the best weights so far)")
            };
            if ui
                .add_enabled(!job.stopping, egui::Button::new(label))
                .on_hover_text(hint)
                .clicked()
            {
                self.jobs.cancel(job.id);
            }
            // Before the first step the job is still loading its dataset.
            let (fraction, text) = match (&self.training.progress, &job.progress) {
                _ if !job.active => (0.0, self.queued_text(job.id)),
                (None, Some(p)) => (
                    job.fraction(),
                    format!("loading {}: {}", p.what, job.progress_text()),
                ),
                _ => (self.training.fraction(), self.training.progress_text()),
            };
            ui.label(self.training_what(job.id, job.kind))
                .on_hover_text(format!(
                    "the current model stays {} until this ends",
                    self.model.label()
                ));
            ui.add(
                egui::ProgressBar::new(fraction)
                    .desired_width(330.0)
                    .text(text),
            );
        } else {
            let fusion = self.settings.train.fusion.name();
            if ui
                .button(format!("Train {fusion}"))
                .on_hover_text(format!(
                    "train a new {fusion} model on {}",
                    self.settings.dataset
                ))
                .clicked()
            {
                self.start_training();
            }
            // The current model's score, as the status bar names it (not the last run's: after
            // a comparison the best method is current, not the last one trained).
            // The model's name is on the Model menu button already; one line, cut if narrow.
            if let Some((split, acc)) = self.model.accuracy() {
                let text = egui::RichText::new(format!("{split} accuracy {acc:.3}")).small();
                ui.add(egui::Label::new(text).truncate())
                    .on_hover_text(self.model.summary());
            }
        }
    }

    /// What the training job `id` trains now: "training late #2", "comparing: gated (2 of 7)".
    fn training_what(&self, id: JobId, kind: JobKind) -> String {
        if kind == JobKind::Compare
            && let Some((_, i, n, fusion)) = self.analysis.comparing
        {
            return format!("comparing: {} ({} of {n})", fusion.name(), i + 1);
        }
        let run = self
            .training
            .runs
            .iter()
            .rev()
            .find(|r| r.job == Some(id) && !r.ended());
        match run.and_then(|r| r.name.split(" · ").next()) {
            Some(name) => format!("training {name}"),
            None => "training".to_owned(),
        }
    }

    /// What a queued job waits for ("queued behind exploring the dataset…").
    fn queued_text(&self, id: crate::worker::JobId) -> String {
        match self.jobs.iter().find(|j| j.active && j.id != id) {
            Some(before) => format!("queued behind {}…", before.kind.context().to_lowercase()),
            None => "starting…".to_owned(),
        }
    }
}
