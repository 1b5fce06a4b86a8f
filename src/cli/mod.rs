//! The command line: `fusionlab` opens the app; `fusionlab data info` describes a dataset;
//! `train`, `eval`, `predict`, `compare` and `robustness` drive the same background worker as the app;
//! `pretrained` lists and installs the frozen backbones.

mod model;
mod onnx;
mod options;
mod pretrained;
mod render;
mod robustness;

pub use model::{CompareArgs, EvalArgs, PredictArgs, TrainArgs, run_model_command};
pub use onnx::{ExportArgs, render_export, run_export};
pub use pretrained::{InstallArgs, PretrainedCommand, render_list, run_pretrained};
pub use render::{epoch_line, render_evaluation, render_prediction};
pub use robustness::{RobustnessArgs, render_robustness};

use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::data::{DatasetSpec, LoadObserver, LoadOptions, Modality, Split, Summary, load_dataset};

/// Explore multimodal fusion models. With no subcommand, opens the app.
#[derive(Debug, Parser)]
#[command(name = "fusionlab", version, about, after_help = DATASET_HELP)]
pub struct Cli {
    /// Dataset to open, train or evaluate on (see DATASETS below) [default: synthetic:redundant;
    /// for `eval`, the model's own dataset].
    #[arg(long, global = true)]
    pub dataset: Option<String>,
    /// What to do; none opens the app window.
    #[command(subcommand)]
    pub command: Option<Command>,
}

const DATASET_HELP: &str = "DATASETS:
  a folder with manifest.csv (label + image/audio/text columns, optional split, id)
  a folder with metadata.csv (Hugging Face imagefolder/audiofolder: file_name + label or class folders)
  a CSV file in either form
  synthetic:<preset>[?knob=value&...]  presets: redundant, complementary, xor, noisy-image, missing
      knobs: samples, classes, seed, noise, image_noise, text_noise, audio_noise, missing,
             image_missing, text_missing, audio_missing, split=TRAIN,VAL,TEST
      e.g. synthetic:xor?samples=600&audio_noise=0.5";

/// Subcommands.
/// Options of the app window (all optional: it opens on the last session's state).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct AppArgs {
    /// Load this model folder (default: the last one, or models/attention).
    #[arg(long)]
    pub model: Option<std::path::PathBuf>,
    /// Open on this panel: predict, teach, training, projections, dataset, analysis or learn.
    #[arg(long)]
    pub tab: Option<String>,
    /// Start with an example from assets/examples (e.g. redundant) as the inputs.
    #[arg(long)]
    pub example: Option<String>,
    /// Start training as soon as the window opens (for demos).
    #[arg(long)]
    pub train: bool,
    /// Ignore the settings saved by the last session.
    #[arg(long)]
    pub fresh: bool,
    /// Open a lesson file (e.g. assets/lessons/xor.fusionlab.json).
    #[arg(long)]
    pub lesson: Option<std::path::PathBuf>,
    /// Open this teach-it-yourself project (a folder made with Teach ▸ New project) on the
    /// Teach panel.
    #[arg(long)]
    pub project: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the app window (the default).
    App(AppArgs),
    /// Train a model and optionally save it to models/NAME.
    Train(TrainArgs),
    /// Evaluate a saved model: metrics table and confusion matrix.
    Eval(EvalArgs),
    /// Predict one input (any of --image, --text, --audio) with a saved model.
    Predict(PredictArgs),
    /// Train several fusion methods on one dataset and print one table.
    Compare(CompareArgs),
    /// Accuracy of saved models when one modality at a time is corrupted (noise, occlusion,
    /// blur, dropped words or segments, typos, missing modality) at levels 0 to 1.
    Robustness(RobustnessArgs),
    /// Write a trained model as a standard ONNX file (opset 17): encoders, fusion, presence
    /// mask in; probabilities, modality weights and attention maps out.
    Export(ExportArgs),
    /// The frozen pretrained backbones: list them, or install them into the per-user store.
    Pretrained {
        /// What to do with the backbones.
        #[command(subcommand)]
        command: PretrainedCommand,
    },
    /// Inspect datasets.
    Data {
        /// What to do with the data.
        #[command(subcommand)]
        command: DataCommand,
    },
}

/// `fusionlab data …`
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Counts per split × class × modality, feature shapes and the problems found.
    Info(InfoArgs),
}

/// Arguments of `fusionlab data info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// A folder, a CSV file, or synthetic:<preset>[?knob=value&...].
    pub dataset: String,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Fail on the first bad row instead of skipping bad rows.
    #[arg(long)]
    pub strict: bool,
    /// Image side length after preprocessing.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(4..=512))]
    pub image_size: u32,
    /// Seed of the stratified split for folders without a split column.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Progress on stderr with an ETA, shown only when a load takes more than a second.
pub struct CliProgress {
    bar: ProgressBar,
    started: Instant,
}

impl CliProgress {
    /// A hidden bar that appears after one second.
    pub fn new(message: &str) -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(message.to_owned());
        Self {
            bar,
            started: Instant::now(),
        }
    }

    /// Remove the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl LoadObserver for CliProgress {
    fn progress(&self, done: usize, total: usize) {
        if self.bar.is_hidden() && self.started.elapsed() > Duration::from_secs(1) && done < total {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
    }
}

/// Width of a class-name column: the longest name, at least 5 characters ("class").
fn name_width(classes: &[String]) -> usize {
    classes
        .iter()
        .map(|c| c.chars().count())
        .max()
        .unwrap_or(5)
        .max(5)
}

/// Run a subcommand (everything but opening the app).
pub fn run_data(command: &DataCommand) -> anyhow::Result<()> {
    match command {
        DataCommand::Info(args) => info(args),
    }
}

fn info(args: &InfoArgs) -> anyhow::Result<()> {
    let spec: DatasetSpec = args.dataset.parse()?;
    let mut options = LoadOptions {
        strict: args.strict,
        seed: args.seed,
        ..LoadOptions::default()
    };
    options.features.image.size = args.image_size;
    let progress = CliProgress::new("loading");
    let result = load_dataset(&spec, &options, &progress);
    progress.finish();
    if let Err(err) = &result {
        // The error message names the first bad row; list them all.
        for p in err.problems() {
            eprintln!("{p}");
        }
    }
    // The error's message already includes its cause; `context` would print it twice.
    let dataset =
        result.map_err(|err| anyhow::anyhow!("loading dataset {}: {err}", args.dataset))?;
    let summary = dataset.summary();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", render_summary(&summary, &spec));
    }
    Ok(())
}

/// The human-readable report of `data info`.
pub fn render_summary(s: &Summary, spec: &DatasetSpec) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let count = |split| s.split(split).map_or(0, |x| x.total.samples);
    let _ = writeln!(out, "dataset   {}", s.name);
    if let DatasetSpec::Path(p) = spec {
        let _ = writeln!(out, "source    {}", p.display());
    }
    let _ = writeln!(out, "about     {}", s.description);
    let _ = writeln!(
        out,
        "classes   {}: {}",
        s.classes.len(),
        s.classes.join(", ")
    );
    let _ = writeln!(
        out,
        "samples   {} (train {}, val {}, test {})",
        s.samples,
        count(Split::Train),
        count(Split::Val),
        count(Split::Test)
    );
    let [c, h, w] = s.image_shape;
    let [mels, frames] = s.audio_shape;
    let _ = writeln!(
        out,
        "features  image {c}×{h}×{w} · audio log-mel {mels}×{frames} · text ≤{} tokens (vocabulary {})",
        s.text_max_len, s.vocab_size
    );
    let present = |m: Modality| s.splits.iter().map(|x| x.total.present(m)).sum::<usize>();
    let _ = writeln!(
        out,
        "present   {}",
        Modality::ALL
            .iter()
            .map(|&m| format!(
                "{} {} (missing {})",
                m.name(),
                present(m),
                s.samples - present(m)
            ))
            .collect::<Vec<_>>()
            .join(" · ")
    );
    let width = name_width(&s.classes);
    let _ = writeln!(
        out,
        "\n{:<5}  {:<width$}  {:>7}  {:>6}  {:>6}  {:>6}",
        "split", "class", "samples", "image", "text", "audio"
    );
    for split in &s.splits {
        for (name, c) in s
            .classes
            .iter()
            .zip(&split.classes)
            .filter(|(_, c)| c.samples > 0)
        {
            let _ = writeln!(
                out,
                "{:<5}  {:<width$}  {:>7}  {:>6}  {:>6}  {:>6}",
                split.split.name(),
                name,
                c.samples,
                c.image,
                c.text,
                c.audio
            );
        }
    }
    let _ = writeln!(out, "\nproblems  {}", s.problems.len());
    for p in &s.problems {
        let _ = writeln!(out, "  {p}");
    }
    out
}
