//! The Teach panel: a project of one's own — classes, examples collected in the app (the current
//! inputs, a recorded series, dropped files, a pasted image, a camera frame), saved as they are
//! added — trained in one click and previewed live, with the microphone listened to continuously.
//! Every change is a worker job ([`crate::worker::project`]); this panel only draws the latest
//! project the worker answered with. The project bar, the class cards and the live audio are in
//! their own files.

mod cards;
mod live;
mod project_bar;
mod train;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use egui::TextureHandle;

pub use live::{ListenStats, Live};

use super::Inputs;
use super::panel::PanelCtx;
use crate::audio::SeriesConfig;
use crate::capture::FrameSource;
use crate::data::project::{NewExample, NewImage, NewSound, Project};
use crate::engine::Prediction;
use crate::worker::project::{ProjectOp, ProjectSnapshot};
use crate::worker::{Job, JobId, Outcome};

/// State of the Teach panel.
pub struct TeachView {
    /// The project as the worker last saved it.
    pub snapshot: Option<ProjectSnapshot>,
    /// The folder of the project in use (set as soon as it is asked for).
    pub dir: Option<PathBuf>,
    /// Project jobs sent and not ended, oldest first.
    pub pending: Vec<JobId>,
    /// The last error, shown inline.
    pub error: Option<String>,
    /// The last thing done, shown under the project bar.
    pub done: Option<String>,
    /// The new-project form.
    pub form: project_bar::NewProjectForm,
    /// The name typed for a new class.
    pub new_class: String,
    /// A class being renamed and the name typed.
    pub renaming: Option<(String, String)>,
    /// A class waiting for its delete to be confirmed.
    pub confirm_delete: Option<String>,
    /// The class that hold-to-record, paste and camera add to.
    pub selected: Option<String>,
    /// Pair dropped images with dropped sounds by order (else one example per file).
    pub pair_dropped: bool,
    /// How a series is recorded.
    pub series: SeriesConfig,
    /// Live audio: a series, a held key or listening.
    pub live: Live,
    /// A camera (or another frame source) when one is open.
    pub camera: Option<Box<dyn FrameSource>>,
    /// Whether a camera can be used: its name, or why not (checked once).
    pub camera_status: Option<Result<String, String>>,
    /// Where each class card was drawn last frame (files dropped there go to that class).
    pub card_rects: Vec<(String, egui::Rect)>,
    /// The training run started from this panel and when.
    pub training: Option<(JobId, Instant)>,
    /// Seconds from pressing Train to a usable model, for the last run from this panel.
    pub last_train_seconds: Option<f32>,
    /// The note on how the last run trained (pretrained or from scratch, and why).
    pub train_note: Option<String>,
    /// The project the current model was trained on here, with the model's generation then
    /// (another model loaded since has another generation).
    pub trained: Option<(PathBuf, u64)>,
    textures: HashMap<PathBuf, TextureHandle>,
}

impl Default for TeachView {
    fn default() -> Self {
        Self {
            snapshot: None,
            dir: None,
            pending: Vec::new(),
            error: None,
            done: None,
            form: project_bar::NewProjectForm::default(),
            new_class: String::new(),
            renaming: None,
            confirm_delete: None,
            selected: None,
            pair_dropped: true,
            series: SeriesConfig::default(),
            live: Live::default(),
            camera: None,
            camera_status: None,
            card_rects: Vec::new(),
            training: None,
            last_train_seconds: None,
            train_note: None,
            trained: None,
            textures: HashMap::new(),
        }
    }
}

impl TeachView {
    /// The project, as last saved.
    pub fn project(&self) -> Option<&Project> {
        self.snapshot.as_ref().map(|s| &s.project)
    }

    /// Send a change of the project in use (or of `dir` for create and open).
    pub fn send(&mut self, jobs: &mut super::Jobs, dir: &Path, op: ProjectOp) -> JobId {
        let id = jobs.start(Job::Project {
            dir: dir.to_owned(),
            op,
        });
        self.pending.push(id);
        id
    }

    /// Send `op` for the open project; `false` when none is open.
    fn change(&mut self, jobs: &mut super::Jobs, op: ProjectOp) -> bool {
        let Some(dir) = self.dir.clone() else {
            self.error = Some("open or make a project first".into());
            return false;
        };
        self.send(jobs, &dir, op);
        true
    }

    /// Open the project in `dir`.
    pub fn open(&mut self, jobs: &mut super::Jobs, dir: &Path) {
        self.dir = Some(dir.to_owned());
        self.error = None;
        self.send(jobs, dir, ProjectOp::Open);
    }

    /// The end of a project job.
    pub fn on_end(&mut self, job: JobId, outcome: Outcome, settings: &mut super::Settings) {
        let Some(at) = self.pending.iter().position(|&id| id == job) else {
            return;
        };
        self.pending.remove(at);
        match outcome {
            Outcome::Project(snapshot) => {
                self.error = skipped_text(&snapshot.skipped);
                self.done = Some(snapshot.done.clone());
                self.dir = Some(snapshot.project.dir.clone());
                settings.project = Some(snapshot.project.dir.clone());
                let classes: Vec<&str> = snapshot
                    .project
                    .classes
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect();
                if self
                    .selected
                    .as_deref()
                    .is_none_or(|s| !classes.contains(&s))
                {
                    self.selected = classes.first().map(|c| (*c).to_owned());
                }
                self.textures
                    .retain(|k, _| snapshot.thumbnails.contains_key(k));
                self.snapshot = Some(*snapshot);
            }
            Outcome::Failed { message } => self.error = Some(message),
            _ => {}
        }
    }

    /// The end of a training run: the time from pressing Train to a usable model.
    /// `generation`: the current model's, which this run set.
    pub fn on_trained(&mut self, job: JobId, outcome: &Outcome, generation: u64) {
        let Some((id, started)) = self.training else {
            return;
        };
        if id != job {
            return;
        }
        self.training = None;
        if matches!(outcome, Outcome::Trained(_)) {
            let seconds = started.elapsed().as_secs_f32();
            self.last_train_seconds = Some(seconds);
            self.trained = self.dir.clone().map(|d| (d, generation));
            log::info!("teach: Train pressed → usable model in {seconds:.2} s");
        }
    }

    /// Is a project change still being written?
    pub fn busy(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Add the current inputs to `class` as one example.
    pub fn add_inputs(&mut self, jobs: &mut super::Jobs, class: &str, inputs: &Inputs) {
        let example = NewExample {
            image: inputs.image.as_ref().map(|i| NewImage {
                width: i.width,
                height: i.height,
                rgb: i.rgb.clone(),
            }),
            text: Some(inputs.text.trim().to_owned()).filter(|t| !t.is_empty()),
            audio: inputs.audio.as_ref().map(|a| NewSound {
                sample_rate: a.sample_rate,
                samples: a.samples.clone(),
            }),
        };
        if example.image.is_none() && example.text.is_none() && example.audio.is_none() {
            self.error = Some(
                "the inputs are empty: open an image, type a sentence or record a sound on the left first"
                    .into(),
            );
            return;
        }
        self.add_example(jobs, class, example);
    }

    /// Add files (dropped or picked) to `class`.
    pub fn add_files(&mut self, jobs: &mut super::Jobs, class: &str, paths: Vec<PathBuf>) {
        self.change(
            jobs,
            ProjectOp::AddFiles {
                class: class.to_owned(),
                paths,
                pair: self.pair_dropped,
            },
        );
    }

    /// Add a picture (pasted or from the camera) to `class`.
    pub fn add_frame(&mut self, jobs: &mut super::Jobs, class: &str, frame: crate::capture::Frame) {
        let image = NewImage {
            width: frame.width,
            height: frame.height,
            rgb: frame.rgb,
        };
        self.add_example(
            jobs,
            class,
            NewExample {
                image: Some(image),
                ..NewExample::default()
            },
        );
    }

    /// Add a recorded clip to `class`.
    pub fn add_clip(
        &mut self,
        jobs: &mut super::Jobs,
        class: &str,
        samples: Vec<f32>,
        sample_rate: u32,
    ) {
        let sound = NewSound {
            sample_rate,
            samples,
        };
        self.add_example(
            jobs,
            class,
            NewExample {
                audio: Some(sound),
                ..NewExample::default()
            },
        );
    }

    /// Add one example to `class`.
    fn add_example(&mut self, jobs: &mut super::Jobs, class: &str, example: NewExample) {
        self.change(
            jobs,
            ProjectOp::AddExample {
                class: class.to_owned(),
                example,
            },
        );
    }

    /// The class card under `pos`, if any (for dropped files).
    pub fn card_at(&self, pos: egui::Pos2) -> Option<String> {
        self.card_rects
            .iter()
            .find(|(_, r)| r.contains(pos))
            .map(|(c, _)| c.clone())
    }

    /// Draw the panel. Besides the [`PanelCtx`] it gets the inputs (to add them as an example
    /// and to feed them the microphone while listening) and the current prediction (the
    /// live preview; the prediction view owns it).
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        ctx: &mut PanelCtx<'_>,
        inputs: &mut Inputs,
        prediction: Option<&Prediction>,
    ) {
        ui.heading("Teach it yourself");
        ui.label(
            "Make classes, give each a few examples — a picture, a sentence, a sound, any \
             subset — train in one click, then watch which modality the model trusts.",
        );
        self.project_bar_ui(ui, ctx);
        if let Some(err) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, err);
        }
        if self.snapshot.is_none() {
            self.card_rects.clear();
            return;
        }
        ui.separator();
        // The side (train, microphone, preview) in a panel of its own, the cards in the rest.
        egui::Panel::right("teach_side")
            .resizable(true)
            .default_size(340.0)
            .min_size(260.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .id_salt("teach_side")
                    .show(ui, |ui| {
                        self.train_ui(ui, ctx);
                        ui.separator();
                        self.live_ui(ui, ctx, inputs);
                        ui.separator();
                        train::preview_ui(ui, ctx, prediction, self.project());
                    });
            });
        egui::CentralPanel::default()
            .frame(egui::Frame::NONE)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .id_salt("teach_cards")
                    .auto_shrink([false, false])
                    .show(ui, |ui| self.cards_ui(ui, ctx, inputs));
            });
    }
}

/// A model folder name from a project name (letters, digits, `-` and `_`).
pub fn project_model_name(project: &str) -> String {
    let name: String = project
        .trim()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches('-').to_owned();
    if name.is_empty() {
        "my-project".into()
    } else {
        name
    }
}

/// Files that were not added, in one line.
fn skipped_text(skipped: &[(PathBuf, String)]) -> Option<String> {
    let first = skipped.first()?;
    let more = skipped.len() - 1;
    Some(if more == 0 {
        format!("not added: {} — {}", first.0.display(), first.1)
    } else {
        format!(
            "{} files not added; the first: {} — {}",
            skipped.len(),
            first.0.display(),
            first.1
        )
    })
}
