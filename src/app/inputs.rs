//! The inputs panel: an image, a sentence and a sound — any subset — from files, drag & drop,
//! the microphone, the shipped examples or a dataset sample.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use egui::{Color32, TextureHandle};

use super::widgets::{self, clock};
use super::{FusionApp, Purpose};
use crate::audio::{Player, Recorder, probe_input, write_wav};
use crate::engine::{AudioInput, ImageInput, RawInput};
use crate::worker::{DecodedAudio, DecodedImage, DecodedInput, Source};

/// Longest recording; it stops by itself here.
pub const MAX_RECORDING_SECONDS: f64 = 30.0;

/// Is a microphone usable?
#[derive(Clone, Debug, PartialEq)]
pub enum MicStatus {
    /// Still checking (in a background thread).
    Checking,
    /// Usable; the device name.
    Ready(String),
    /// Not usable; why.
    Unavailable(String),
}

/// The current inputs.
pub struct Inputs {
    /// The picture, decoded.
    pub image: Option<DecodedImage>,
    image_texture: Option<TextureHandle>,
    /// The sentence.
    pub text: String,
    /// The sound.
    pub audio: Option<DecodedAudio>,
    /// A recording in progress.
    pub recorder: Option<Recorder>,
    /// Peak level of the recording (0..1).
    pub level: f32,
    /// Clip playing.
    pub player: Option<Player>,
    /// Microphone availability.
    pub mic: MicStatus,
    mic_probe: Option<mpsc::Receiver<Result<String, String>>>,
    /// The "paste a path" field.
    pub path: String,
    /// The last input error, shown inline.
    pub error: Option<String>,
    /// Inputs changed since the last prediction request.
    pub changed: bool,
}

impl Default for Inputs {
    fn default() -> Self {
        Self {
            image: None,
            image_texture: None,
            text: String::new(),
            audio: None,
            recorder: None,
            level: 0.0,
            player: None,
            mic: MicStatus::Checking,
            mic_probe: None,
            path: String::new(),
            error: None,
            changed: false,
        }
    }
}

impl Inputs {
    /// Start checking for a microphone in the background.
    pub fn probe_microphone(&mut self, wake: impl Fn() + Send + 'static) {
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("mic_probe".into())
            .spawn(move || {
                tx.send(probe_input().map_err(|e| e.to_string())).ok();
                wake();
            });
        match spawned {
            Ok(_) => self.mic_probe = Some(rx),
            Err(e) => self.mic = MicStatus::Unavailable(format!("cannot check: {e}")),
        }
    }

    /// Once per frame: microphone probe result and recording level.
    pub fn poll(&mut self, ctx: &egui::Context) {
        if let Some(rx) = &self.mic_probe
            && let Ok(result) = rx.try_recv()
        {
            self.mic = match result {
                Ok(name) => MicStatus::Ready(name),
                Err(reason) => MicStatus::Unavailable(reason),
            };
            self.mic_probe = None;
        }
        if let Some(rec) = &mut self.recorder {
            self.level = rec.poll();
            ctx.request_repaint_after(Duration::from_millis(33));
            if rec.seconds() >= MAX_RECORDING_SECONDS {
                self.stop_recording();
            }
        }
        if let Some(player) = &self.player {
            if player.finished() {
                self.player = None;
            } else {
                ctx.request_repaint_after(Duration::from_millis(50));
            }
        }
    }

    /// Start recording from the default microphone.
    pub fn start_recording(&mut self) -> Result<(), String> {
        self.player = None;
        let recorder = Recorder::start().map_err(|e| e.to_string())?;
        self.mic = MicStatus::Ready(recorder.device().to_owned());
        self.recorder = Some(recorder);
        self.level = 0.0;
        Ok(())
    }

    /// Stop recording; the recording becomes the sound input.
    pub fn stop_recording(&mut self) {
        let Some(rec) = self.recorder.take() else {
            return;
        };
        let (samples, sample_rate) = rec.finish();
        let seconds = samples.len() as f32 / sample_rate.max(1) as f32;
        let peak = samples.iter().fold(0f32, |p, s| p.max(s.abs()));
        self.error = if samples.is_empty() {
            Some("nothing was recorded: the microphone delivered no audio".into())
        } else if peak < 1e-3 {
            Some("the recording is silent: check that the microphone is on and not muted".into())
        } else {
            None
        };
        if !samples.is_empty() {
            self.audio = Some(DecodedAudio {
                name: format!("recording ({seconds:.1} s)"),
                sample_rate,
                samples,
            });
            self.changed = true;
        }
    }

    /// Put decoded parts into the inputs (parts the source lacks are left as they are, unless
    /// `replace_all`, as for a dataset sample, where they are cleared).
    pub fn apply(&mut self, input: DecodedInput, replace_all: bool) {
        if replace_all || input.image.is_some() {
            self.image = input.image;
            self.image_texture = None;
        }
        if replace_all || input.text.is_some() {
            self.text = input.text.unwrap_or_default();
        }
        if replace_all || input.audio.is_some() {
            self.audio = input.audio;
        }
        self.error = None;
        self.changed = true;
    }

    /// What to send for a prediction, with the modalities in `keep` only.
    pub fn raw(&self, keep: [bool; 3]) -> RawInput {
        RawInput {
            image: self
                .image
                .as_ref()
                .filter(|_| keep[0])
                .map(|i| ImageInput::Rgb {
                    width: i.width,
                    height: i.height,
                    pixels: i.rgb.clone(),
                }),
            text: Some(self.text.clone()).filter(|t| keep[1] && !t.trim().is_empty()),
            audio: self
                .audio
                .as_ref()
                .filter(|_| keep[2])
                .map(|a| AudioInput::Samples {
                    sample_rate: a.sample_rate,
                    samples: a.samples.clone(),
                }),
        }
    }

    /// Which modalities are given.
    pub fn present(&self) -> [bool; 3] {
        [
            self.image.is_some(),
            !self.text.trim().is_empty(),
            self.audio.is_some(),
        ]
    }

    /// The image as a texture (made on first use).
    pub fn image_texture(&mut self, ctx: &egui::Context) -> Option<TextureHandle> {
        if self.image_texture.is_none()
            && let Some(img) = &self.image
        {
            self.image_texture = widgets::rgb_texture(
                ctx,
                "input_image",
                img.width as usize,
                img.height as usize,
                &img.rgb,
                img.width > 64,
            );
        }
        self.image_texture.clone()
    }
}

/// Decide from the extension what a dropped or pasted file is.
pub fn source_for_path(path: &Path) -> Source {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "wav" | "wave" => Source::AudioFile(path.to_owned()),
        "txt" | "text" => Source::TextFile(path.to_owned()),
        _ if path.is_dir() => Source::Example(path.to_owned()),
        _ => Source::ImageFile(path.to_owned()),
    }
}

/// The shipped example folders (`assets/examples/*`), sorted.
pub fn examples() -> Vec<PathBuf> {
    let dir = super::asset_dir().join("examples");
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

impl FusionApp {
    /// Files dropped on the window become inputs.
    pub(crate) fn handle_dropped_files(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .filter_map(|f| Some(f.path().to_owned()).filter(|p| !p.as_os_str().is_empty()))
                .collect()
        });
        for path in dropped {
            self.open_path(&path);
        }
    }

    /// Decode a file (by its extension) into the inputs.
    pub fn open_path(&mut self, path: &Path) {
        if let Some(dir) = path.parent() {
            self.settings.last_dir = Some(dir.to_owned());
        }
        self.decode(source_for_path(path), Purpose::Input);
    }

    pub(crate) fn inputs_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("Inputs");
        ui.label("Any subset: a picture, a sentence, a sound. Drop files on the window.");
        ui.add_space(4.0);
        ui.horizontal_wrapped(|ui| {
            ui.menu_button("Examples", |ui| {
                let found = examples();
                if found.is_empty() {
                    ui.label("no examples found under assets/examples");
                }
                for dir in found {
                    let name = dir
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    if ui.button(format!("Example: {name}")).clicked() {
                        self.decode(Source::Example(dir), Purpose::Sample);
                        ui.close();
                    }
                }
            });
            let has_samples = self
                .browser
                .exploration
                .as_ref()
                .is_some_and(|e| !e.samples.is_empty());
            if ui
                .add_enabled(has_samples, egui::Button::new("Random dataset sample"))
                .on_disabled_hover_text("the dataset is still loading")
                .clicked()
            {
                self.load_random_sample();
            }
            if ui.button("Clear all").clicked() {
                self.inputs.apply(DecodedInput::default(), true);
            }
        });
        ui.horizontal(|ui| {
            let label = ui.label("Path");
            let field = ui
                .add(
                    egui::TextEdit::singleline(&mut self.inputs.path)
                        .hint_text("paste a file path")
                        .desired_width((ui.available_width() - 60.0).max(80.0)),
                )
                .labelled_by(label.id);
            let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Open").clicked() || enter) && !self.inputs.path.trim().is_empty() {
                let path = PathBuf::from(self.inputs.path.trim());
                self.open_path(&path);
            }
        });
        if let Some(err) = &self.inputs.error {
            ui.colored_label(ui.visuals().error_fg_color, err);
        }
        ui.separator();
        self.image_input_ui(ui);
        ui.separator();
        self.text_input_ui(ui);
        ui.separator();
        self.audio_input_ui(ui);
    }

    fn image_input_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.strong("Image");
            if ui.button("Open image…").clicked()
                && let Some(path) = self.pick(
                    Pick::File {
                        name: "images",
                        extensions: &["png", "jpg", "jpeg", "bmp", "gif", "webp"],
                    },
                    None,
                )
            {
                self.open_path(&path);
            }
            if self.inputs.image.is_some() && ui.button("Clear image").clicked() {
                self.inputs.image = None;
                self.inputs.changed = true;
            }
        });
        let ctx = ui.ctx().clone();
        match (self.inputs.image_texture(&ctx), &self.inputs.image) {
            (Some(tex), Some(img)) => {
                let (_, response) = widgets::texture(ui, &tex, egui::vec2(160.0, 160.0));
                response.on_hover_text(format!("{} · {}×{}", img.name, img.width, img.height));
                ui.small(format!("{} · {}×{}", img.name, img.width, img.height));
            }
            _ => {
                ui.weak("no image — open one, drop one here, or pick an example");
            }
        }
    }

    fn text_input_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.strong("Text");
            if !self.inputs.text.is_empty() && ui.button("Clear text").clicked() {
                self.inputs.text.clear();
                self.inputs.changed = true;
            }
        });
        let label = ui.label("Sentence");
        let response = ui
            .add(
                egui::TextEdit::multiline(&mut self.inputs.text)
                    .hint_text("type a sentence, e.g. \"a big red circle\"")
                    .desired_rows(2)
                    .desired_width(ui.available_width()),
            )
            .labelled_by(label.id);
        if response.changed() {
            self.inputs.changed = true;
        }
    }

    fn audio_input_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.strong("Sound");
            if self.inputs.recorder.is_some() {
                if ui.button("Stop recording").clicked() {
                    self.inputs.stop_recording();
                }
            } else {
                let (enabled, why) = match &self.inputs.mic {
                    MicStatus::Ready(name) => (true, format!("record from {name}")),
                    MicStatus::Checking => (true, "looking for a microphone…".to_owned()),
                    MicStatus::Unavailable(reason) => (false, reason.clone()),
                };
                let button = ui
                    .add_enabled(enabled, egui::Button::new("Record"))
                    .on_hover_text(&why)
                    .on_disabled_hover_text(&why);
                if button.clicked()
                    && let Err(err) = self.inputs.start_recording()
                {
                    self.notifications.error("Recording", err.clone());
                    self.inputs.mic = MicStatus::Unavailable(err.clone());
                    self.inputs.error = Some(err);
                }
            }
            if ui.button("Load WAV…").clicked()
                && let Some(path) = self.pick(
                    Pick::File {
                        name: "WAV",
                        extensions: &["wav"],
                    },
                    None,
                )
            {
                self.open_path(&path);
            }
            if let Some(audio) = &self.inputs.audio {
                let playing = self.inputs.player.is_some();
                if playing {
                    if ui.button("Stop playing").clicked() {
                        self.inputs.player = None;
                    }
                } else if ui.button("Play").clicked() {
                    match Player::play(audio.samples.clone(), audio.sample_rate) {
                        Ok(p) => self.inputs.player = Some(p),
                        Err(e) => self.notifications.error("Playing the sound", e.to_string()),
                    }
                }
                if ui.button("Save WAV…").clicked() {
                    let default = format!("{}.wav", sanitize(&audio.name));
                    if let Some(path) = self.pick(
                        Pick::Save {
                            file_name: &default,
                        },
                        None,
                    ) {
                        self.save_recording(&path);
                    }
                }
                if ui.button("Clear sound").clicked() {
                    self.inputs.audio = None;
                    self.inputs.player = None;
                    self.inputs.changed = true;
                }
            }
        });
        if let Some(rec) = &self.inputs.recorder {
            ui.horizontal(|ui| {
                ui.colored_label(Color32::from_rgb(230, 60, 60), "recording");
                ui.label(clock(rec.seconds() as f32));
                ui.add(
                    egui::ProgressBar::new(self.inputs.level.clamp(0.0, 1.0))
                        .desired_width(120.0)
                        .text(format!("level {:.0}%", self.inputs.level * 100.0)),
                );
            });
        }
        if let Some(audio) = &self.inputs.audio {
            let seconds = audio.samples.len() as f32 / audio.sample_rate.max(1) as f32;
            ui.small(format!(
                "{} · {seconds:.2} s · {} Hz",
                audio.name, audio.sample_rate
            ));
            let progress = self.inputs.player.as_ref().map(Player::progress);
            waveform_ui(ui, &audio.samples, progress);
            if let Some(p) = &self.predict.current
                && !p.spectrogram.is_empty()
            {
                ui.small("log-mel spectrogram (what the model hears):");
                let tex = self.predict.spectrogram_texture(ui.ctx());
                if let Some(tex) = tex {
                    widgets::texture(ui, &tex, egui::vec2(ui.available_width(), 90.0));
                }
            }
        } else if self.inputs.recorder.is_none() {
            ui.weak("no sound — record one, load a WAV, or pick an example");
        }
    }

    /// Save the current sound as a WAV file (atomically).
    pub fn save_recording(&mut self, path: &Path) {
        let Some(audio) = &self.inputs.audio else {
            return;
        };
        match write_wav(path, &audio.samples, audio.sample_rate) {
            Ok(()) => {
                self.notifications
                    .info("Sound saved", path.display().to_string());
                self.status = format!("saved {}", path.display());
            }
            Err(e) => {
                self.inputs.error = Some(e.to_string());
                self.notifications.error("Saving the sound", e.to_string());
            }
        }
    }

    /// Ask the user for a path with the system's file dialog (starting in the last folder
    /// used, or `start`). `None` when cancelled, or when dialogs are off (headless tests).
    pub fn pick(&self, what: Pick<'_>, start: Option<&std::path::Path>) -> Option<PathBuf> {
        if !self.native_dialogs {
            return None;
        }
        let mut dialog = rfd::FileDialog::new();
        match (start, &self.settings.last_dir) {
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
}

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
    let colour = super::widgets::MODALITY_COLOURS[2];
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
