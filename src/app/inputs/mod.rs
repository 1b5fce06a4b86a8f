//! The inputs panel: an image, a sentence and a sound — any subset — from files, drag & drop,
//! the microphone, the shipped examples or a dataset sample. This file holds the inputs, what
//! is sent for a prediction and the panel's layout; the microphone, each part's drawing and the
//! file dialogs are in their own files.

mod audio;
mod dialog;
mod image;
mod recording;
mod text;

use std::path::{Path, PathBuf};

use egui::TextureHandle;

pub use dialog::Pick;
pub use recording::MicStatus;

use super::panel::{PanelCtx, Request};
use super::{FusionApp, Purpose};
use crate::audio::{Player, Recorder};
use crate::engine::{AudioInput, ImageInput, RawInput};
use crate::worker::{DecodedAudio, DecodedImage, DecodedInput, Source};

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
    mic_probe: Option<recording::Probe>,
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

    /// Draw the panel. Besides the [`PanelCtx`] it gets `spectrogram`, the current
    /// prediction's log-mel spectrogram, shown under the sound: the prediction view owns it
    /// (and makes its texture), and a panel context carries no other panel's state.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        ctx: &mut PanelCtx<'_>,
        spectrogram: Option<&TextureHandle>,
    ) {
        ui.heading("Inputs");
        ui.label("Any subset: a picture, a sentence, a sound. Drop files on the window.");
        ui.add_space(4.0);
        ui.horizontal_wrapped(|ui| self.sources_ui(ui, ctx));
        ui.horizontal(|ui| {
            let label = ui.label("Path");
            let field = ui
                .add(
                    egui::TextEdit::singleline(&mut self.path)
                        .hint_text("paste a file path")
                        .desired_width((ui.available_width() - 60.0).max(80.0)),
                )
                .labelled_by(label.id);
            let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Open").clicked() || enter) && !self.path.trim().is_empty() {
                ctx.request(Request::Open(PathBuf::from(self.path.trim())));
            }
        });
        if let Some(err) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, err);
        }
        ui.separator();
        self.image_ui(ui, ctx);
        ui.separator();
        self.text_ui(ui);
        ui.separator();
        self.audio_ui(ui, ctx, spectrogram);
    }

    /// Whole sets of inputs: an example, a random dataset sample, or none.
    fn sources_ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>) {
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
                    ctx.request(Request::Example(dir));
                    ui.close();
                }
            }
        });
        let has_samples = ctx.exploration.is_some_and(|e| !e.samples.is_empty());
        if ui
            .add_enabled(has_samples, egui::Button::new("Random dataset sample"))
            .on_disabled_hover_text("the dataset is still loading")
            .clicked()
        {
            ctx.request(Request::RandomSample);
        }
        if ui.button("Clear all").clicked() {
            self.apply(DecodedInput::default(), true);
        }
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
    /// Files dropped on the window become inputs — or, dropped on a class card of the Teach
    /// panel, examples of that class.
    pub(crate) fn handle_dropped_files(&mut self, ctx: &egui::Context) {
        let (dropped, pos): (Vec<PathBuf>, Option<egui::Pos2>) = ctx.input(|i| {
            let files = i
                .raw
                .dropped_files
                .iter()
                .filter_map(|f| Some(f.path().to_owned()).filter(|p| !p.as_os_str().is_empty()))
                .collect();
            (files, i.pointer.latest_pos())
        });
        if dropped.is_empty() {
            return;
        }
        let card = (self.settings.tab == super::Tab::Teach)
            .then(|| pos.and_then(|p| self.teach.card_at(p)))
            .flatten();
        if let Some(class) = card {
            self.teach.add_files(&mut self.jobs, &class, dropped);
            return;
        }
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
}
