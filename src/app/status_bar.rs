//! The status bar (the job that runs with its progress and Stop, the status line, the current
//! model, device and microphone) and the frame log behind `FUSIONLAB_FRAME_LOG`.

use std::time::Instant;

use super::{FusionApp, MicStatus};

impl FusionApp {
    pub(super) fn status_bar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if let Some(job) = self.jobs.shown().cloned() {
                crate::app::widgets::quiet_spinner(ui);
                match &job.progress {
                    Some(p) => {
                        ui.label(format!("{}: {}", job.kind.context(), p.what));
                        ui.add(
                            egui::ProgressBar::new(job.fraction())
                                .desired_width(200.0)
                                .text(job.progress_text()),
                        );
                    }
                    None => {
                        ui.label(format!("{}…", job.kind.context()));
                    }
                }
                let stop = if job.stopping {
                    "Stopping…"
                } else {
                    "Cancel"
                };
                if ui
                    .add_enabled(!job.stopping, egui::Button::new(stop).small())
                    .on_hover_text(format!("stop {}", job.kind.context().to_lowercase()))
                    .clicked()
                {
                    self.jobs.cancel(job.id);
                }
            }
            ui.label(&self.status);
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                ui.small(format!("device: {}", self.model.device));
                ui.separator();
                ui.small(format!("model: {}", self.model.label()))
                    .on_hover_text(self.model.summary());
                ui.separator();
                ui.small(match &self.inputs.mic {
                    MicStatus::Ready(n) => format!("microphone: {n}"),
                    MicStatus::Checking => "microphone: checking…".into(),
                    MicStatus::Unavailable(_) => "microphone: none".into(),
                });
            });
        });
    }

    pub(super) fn log_frame_start(&mut self) {
        if let Some(log) = &mut self.frame_log {
            log.logic_start = Some(Instant::now());
        }
    }

    pub(super) fn log_frame_end(&mut self) {
        if !self.first_frame_logged {
            self.first_frame_logged = true;
            if let Some(t) = self.started {
                log::info!(
                    "first frame after {:.0} ms",
                    t.elapsed().as_secs_f64() * 1000.0
                );
                if self.frame_log.is_some() {
                    eprintln!(
                        "first frame after {:.1} ms",
                        t.elapsed().as_secs_f64() * 1000.0
                    );
                }
            }
        }
        let training = self.jobs.is_training();
        if let Some(log) = &mut self.frame_log {
            let now = Instant::now();
            let cpu = log
                .logic_start
                .map_or(0.0, |s| (now - s).as_secs_f32() * 1000.0);
            let interval = log.last.map_or(0.0, |l| (now - l).as_secs_f32() * 1000.0);
            log.last = Some(now);
            log.frames.push((cpu, interval, training));
            if log.frames.len().is_multiple_of(300) {
                log.write();
            }
        }
    }
}
