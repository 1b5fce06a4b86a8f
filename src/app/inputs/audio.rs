//! The sound part of the inputs panel: record, load, play, save or clear the sound; the
//! recording's level, the waveform with its play head and the spectrogram the model heard.

use std::path::Path;

use egui::{Color32, TextureHandle};

use super::super::panel::{PanelCtx, Request};
use super::super::widgets::{self, clock};
use super::{Inputs, MicStatus, Pick};
use crate::audio::{Player, write_wav};

impl Inputs {
    /// The sound row (see `sound_buttons_ui`), the recording's level, and the sound: its
    /// waveform and `spectrogram`, the current prediction's.
    pub(super) fn audio_ui(
        &mut self,
        ui: &mut egui::Ui,
        ctx: &mut PanelCtx<'_>,
        spectrogram: Option<&TextureHandle>,
    ) {
        ui.horizontal_wrapped(|ui| {
            ui.strong("Sound");
            self.sound_buttons_ui(ui, ctx);
        });
        if let Some(rec) = &self.recorder {
            ui.horizontal(|ui| {
                ui.colored_label(Color32::from_rgb(230, 60, 60), "recording");
                ui.label(clock(rec.seconds() as f32));
                ui.add(
                    egui::ProgressBar::new(self.level.clamp(0.0, 1.0))
                        .desired_width(120.0)
                        .text(format!("level {:.0}%", self.level * 100.0)),
                );
            });
        }
        if let Some(audio) = &self.audio {
            let seconds = audio.samples.len() as f32 / audio.sample_rate.max(1) as f32;
            ui.small(format!(
                "{} · {seconds:.2} s · {} Hz",
                audio.name, audio.sample_rate
            ));
            let progress = self.player.as_ref().map(Player::progress);
            waveform_ui(ui, &audio.samples, progress);
            if let Some(tex) = spectrogram {
                ui.small("log-mel spectrogram (what the model hears):");
                widgets::texture(ui, tex, egui::vec2(ui.available_width(), 90.0));
            }
        } else if self.recorder.is_none() {
            ui.weak("no sound — record one, load a WAV, or pick an example");
        }
    }

    /// Record or stop, load a WAV; with a sound: play or stop, save, clear.
    fn sound_buttons_ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>) {
        if self.recorder.is_some() {
            if ui.button("Stop recording").clicked() {
                self.stop_recording();
            }
        } else {
            let (enabled, why) = match &self.mic {
                MicStatus::Ready(name) => (true, format!("record from {name}")),
                MicStatus::Checking => (true, "looking for a microphone…".to_owned()),
                MicStatus::Unavailable(reason) => (false, reason.clone()),
            };
            let button = ui
                .add_enabled(enabled, egui::Button::new("Record"))
                .on_hover_text(&why)
                .on_disabled_hover_text(&why);
            if button.clicked()
                && let Err(err) = self.start_recording()
            {
                let err = err.to_string();
                ctx.notifications.error("Recording", err.clone());
                self.mic = MicStatus::Unavailable(err.clone());
                self.error = Some(err);
            }
        }
        if ui.button("Load WAV…").clicked()
            && let Some(path) = ctx.pick(
                Pick::File {
                    name: "WAV",
                    extensions: &["wav"],
                },
                None,
            )
        {
            ctx.request(Request::Open(path));
        }
        let Some(audio) = &self.audio else {
            return;
        };
        if self.player.is_some() {
            if ui.button("Stop playing").clicked() {
                self.player = None;
            }
        } else if ui.button("Play").clicked() {
            match Player::play(audio.samples.clone(), audio.sample_rate) {
                Ok(p) => self.player = Some(p),
                Err(e) => ctx.notifications.error("Playing the sound", e.to_string()),
            }
        }
        if ui.button("Save WAV…").clicked() {
            let default = format!("{}.wav", sanitize(&audio.name));
            if let Some(path) = ctx.pick(
                Pick::Save {
                    file_name: &default,
                },
                None,
            ) {
                self.save_recording(&path, ctx);
            }
        }
        if ui.button("Clear sound").clicked() {
            self.audio = None;
            self.player = None;
            self.changed = true;
        }
    }

    /// Save the current sound as a WAV file (atomically), saying so in a toast and the status
    /// bar.
    pub fn save_recording(&mut self, path: &Path, ctx: &mut PanelCtx<'_>) {
        let Some(audio) = &self.audio else {
            return;
        };
        match write_wav(path, &audio.samples, audio.sample_rate) {
            Ok(()) => {
                ctx.notifications
                    .info("Sound saved", path.display().to_string());
                *ctx.status = format!("saved {}", path.display());
            }
            Err(e) => {
                self.error = Some(e.to_string());
                ctx.notifications.error("Saving the sound", e.to_string());
            }
        }
    }
}

/// A file name made of `name`'s letters, digits and dashes ("recording" when none is left).
fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_matches('_').to_owned();
    if s.is_empty() { "recording".into() } else { s }
}

/// The waveform as a min/max envelope; `progress` draws the play head.
fn waveform_ui(ui: &mut egui::Ui, samples: &[f32], progress: Option<f32>) {
    let width = ui.available_width().max(50.0);
    let (rect, _) = ui.allocate_exact_size(egui::vec2(width, 48.0), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let columns = rect.width().max(1.0) as usize;
    let colour = widgets::MODALITY_COLOURS[2];
    let mid = rect.center().y;
    let half = rect.height() / 2.0 - 2.0;
    for (c, [lo, hi]) in crate::viz::envelope(samples, columns)
        .into_iter()
        .enumerate()
    {
        let x = rect.left() + c as f32 + 0.5;
        painter.line_segment(
            [
                egui::pos2(x, mid - hi.clamp(-1.0, 1.0) * half),
                egui::pos2(x, mid - lo.clamp(-1.0, 1.0) * half + 0.5),
            ],
            egui::Stroke::new(1.0, colour),
        );
    }
    if let Some(p) = progress {
        let x = rect.left() + rect.width() * p.clamp(0.0, 1.0);
        painter.line_segment(
            [egui::pos2(x, rect.top()), egui::pos2(x, rect.bottom())],
            egui::Stroke::new(1.5, ui.visuals().strong_text_color()),
        );
    }
}
