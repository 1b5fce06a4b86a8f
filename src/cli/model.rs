//! `fusionlab train | eval | predict | compare`, all through the background worker.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Command as CliCommand;
use super::options::TrainOptions;
use super::render::{
    epoch_line, metrics_line, render_comparison, render_evaluation, render_prediction, stop_text,
};
use crate::data::{DatasetSpec, LoadOptions, Split};
use crate::engine::{AudioInput, ImageInput, RawInput, TrainConfig};
use crate::model::FusionKind;
use crate::model::checkpoint::{self, check_name};
use crate::worker::{Event, Job, JobId, Outcome, TrainingSummary, Update, WorkerHandle};

const DEFAULT_DATASET: &str = "synthetic:redundant";

/// Arguments of `fusionlab train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Fusion method: early, late, gated, attention, tensor, lowrank or crossmodal.
    #[arg(long, default_value = "attention")]
    pub fusion: FusionKind,
    /// Save the model as models/NAME (or into this folder path); not saved when omitted.
    #[arg(long)]
    pub out: Option<String>,
    /// Settings.
    #[command(flatten)]
    pub options: TrainOptions,
}

/// Arguments of `fusionlab eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Model name in models/ or a model folder.
    #[arg(long)]
    pub model: String,
    /// Split to evaluate: train, val or test [default: test, else val].
    #[arg(long)]
    pub split: Option<String>,
    /// Print JSON (includes per-sample results).
    #[arg(long)]
    pub json: bool,
}

/// Parses `--text`, naming the option when the bytes are not UTF-8 (clap's own message does not).
fn utf8_text() -> impl clap::builder::TypedValueParser<Value = String> {
    use clap::builder::TypedValueParser as _;
    clap::builder::OsStringValueParser::new().try_map(|text| {
        text.into_string()
            .map_err(|_| "the text is not valid UTF-8; give it as UTF-8")
    })
}

/// Arguments of `fusionlab predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Model name in models/ or a model folder.
    #[arg(long)]
    pub model: String,
    /// An image file.
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// A sentence.
    #[arg(long, value_parser = utf8_text())]
    pub text: Option<String>,
    /// A WAV file.
    #[arg(long)]
    pub audio: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `fusionlab compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Comma-separated fusion methods [default: all seven].
    #[arg(long, value_delimiter = ',')]
    pub fusions: Vec<FusionKind>,
    /// Settings (the same for every method).
    #[command(flatten)]
    pub options: TrainOptions,
}

/// Run `train`, `eval`, `predict` or `compare`.
pub fn run_model_command(command: &CliCommand, dataset: Option<&str>) -> anyhow::Result<()> {
    let worker = WorkerHandle::spawn(Arc::new(|| {})).context("starting the worker thread")?;
    match command {
        CliCommand::Train(args) => train_command(&worker, args, dataset.unwrap_or(DEFAULT_DATASET)),
        CliCommand::Eval(args) => eval_command(&worker, args, dataset),
        CliCommand::Predict(args) => predict_command(&worker, args),
        CliCommand::Compare(args) => {
            compare_command(&worker, args, dataset.unwrap_or(DEFAULT_DATASET))
        }
        CliCommand::Robustness(args) => {
            super::robustness::robustness_command(&worker, args, dataset)
        }
        CliCommand::App(_)
        | CliCommand::Data { .. }
        | CliCommand::Pretrained { .. }
        | CliCommand::Export(_) => {
            bail!("not a model command")
        }
    }
}

/// Wait for the end of job `id`, handing its updates to `on_update`; a failure or a stop
/// becomes an error that says what was being done.
pub(super) fn wait(
    worker: &WorkerHandle,
    id: JobId,
    mut on_update: impl FnMut(Update),
) -> anyhow::Result<Outcome> {
    loop {
        let Some(event) = worker.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        match event {
            Event::Update { job, update, .. } if job == id => on_update(update),
            Event::End { job, kind, outcome } if job == id => {
                return match outcome {
                    Outcome::Failed { message } => Err(anyhow!("{}: {message}", kind.context())),
                    Outcome::Cancelled => Err(anyhow!("{} was cancelled", kind.context())),
                    outcome => Ok(outcome),
                };
            }
            // Events of jobs this command no longer waits for.
            _ => {}
        }
    }
}

/// The error for an outcome of the wrong kind (a bug, not a user error).
pub(super) fn unexpected(outcome: &Outcome) -> anyhow::Error {
    anyhow!("unexpected answer from the worker: {outcome:?}")
}

fn out_dir(name: &str) -> anyhow::Result<PathBuf> {
    let dir = checkpoint::resolve(name);
    if !name.contains('/') {
        check_name(name)?;
    }
    Ok(dir)
}

/// Train once, showing a bar and a line per epoch; returns the summary.
fn run_training(
    worker: &WorkerHandle,
    dataset: &str,
    config: TrainConfig,
    quiet: bool,
) -> anyhow::Result<TrainingSummary> {
    let spec: DatasetSpec = dataset.parse()?;
    let fusion = config.fusion;
    let id = worker.start(Job::Train {
        dataset: spec,
        load: LoadOptions::default(),
        config,
    });
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    if !quiet {
        bar.set_draw_target(ProgressDrawTarget::stderr());
    }
    let outcome = wait(worker, id, |update| match update {
        Update::Loading { what, done, total } => {
            bar.set_message(format!("loading {what}"));
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
        Update::TrainingStarted {
            device,
            sizes,
            parameters,
        } => {
            bar.set_message(format!("training {fusion}"));
            bar.set_position(0);
            if !quiet {
                say(
                    &bar,
                    format!(
                        "training {fusion} on {dataset} ({device}): train {} · val {} · test {} samples, {parameters} parameters",
                        sizes[0], sizes[1], sizes[2]
                    ),
                );
            }
        }
        Update::Progress(p) => {
            bar.set_length((p.steps * p.epochs) as u64);
            bar.set_position(((p.epoch - 1) * p.steps + p.step) as u64);
            bar.set_message(format!(
                "{fusion} epoch {}/{} loss {:.3}",
                p.epoch, p.epochs, p.loss
            ));
        }
        Update::Epoch(report) if !quiet => say(&bar, epoch_line(&report)),
        _ => {}
    });
    bar.finish_and_clear();
    match outcome? {
        Outcome::Trained(summary) => Ok(*summary),
        other => Err(unexpected(&other)),
    }
}

/// Print above the bar, or plainly on stderr when there is no terminal to draw a bar on.
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

fn train_command(worker: &WorkerHandle, args: &TrainArgs, dataset: &str) -> anyhow::Result<()> {
    let dir = args.out.as_deref().map(out_dir).transpose()?;
    let config = args.options.config(args.fusion)?;
    let summary = run_training(worker, dataset, config, args.options.json)?;
    if let Some(dir) = &dir {
        let id = worker.start(Job::Save { dir: dir.clone() });
        match wait(worker, id, |_| {})? {
            Outcome::Saved(_) => {}
            other => return Err(unexpected(&other)),
        }
    }
    if args.options.json {
        let json = serde_json::json!({
            "fusion": args.fusion,
            "dataset": dataset,
            "stop": summary.stop,
            "best_epoch": summary.best_epoch,
            "seconds": summary.seconds,
            "samples_per_second": summary.samples_per_second,
            "history": summary.history,
            "val": summary.val.as_ref().map(|e| &e.metrics),
            "test": summary.test.as_ref().map(|e| &e.metrics),
            "saved": dir,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    println!(
        "{}; kept epoch {} · {:.1}s · {:.0} samples/s",
        stop_text(&summary.stop),
        summary.best_epoch,
        summary.seconds,
        summary.samples_per_second
    );
    for (name, eval) in [("val", &summary.val), ("test", &summary.test)] {
        if let Some(e) = eval {
            println!(
                "{name:<5} {}",
                metrics_line(&e.metrics, e.weight_kind.name())
            );
        }
    }
    match &dir {
        Some(dir) => println!("saved to {}", dir.display()),
        None => println!("not saved (add --out NAME to keep it)"),
    }
    Ok(())
}

/// A saved model loaded into the worker, with the dataset to use it on (the given one, else its
/// own) and load options matching its preprocessing.
pub(super) struct Loaded {
    /// Its folder.
    pub dir: PathBuf,
    /// Its card.
    pub card: checkpoint::ModelCard,
    /// The dataset.
    pub dataset: DatasetSpec,
    /// Load options with the model's features.
    pub load: LoadOptions,
}

/// Read a model's card, load it in the worker (waiting until it is current), and work out its
/// dataset.
pub(super) fn load_model(
    worker: &WorkerHandle,
    name: &str,
    dataset: Option<&str>,
) -> anyhow::Result<Loaded> {
    let dir = checkpoint::resolve(name);
    let card = checkpoint::read_card(&dir)?;
    let dataset = dataset
        .map_or_else(|| card.dataset.clone(), str::to_owned)
        .parse()?;
    let id = worker.start(Job::Load { dir: dir.clone() });
    match wait(worker, id, |_| {})? {
        Outcome::Loaded { .. } => {}
        other => return Err(unexpected(&other)),
    }
    let load = LoadOptions {
        features: card.features.clone(),
        ..LoadOptions::default()
    };
    Ok(Loaded {
        dir,
        card,
        dataset,
        load,
    })
}

fn eval_command(
    worker: &WorkerHandle,
    args: &EvalArgs,
    dataset: Option<&str>,
) -> anyhow::Result<()> {
    let split = args
        .split
        .as_deref()
        .map(|s| {
            Split::parse(s).ok_or_else(|| anyhow!("unknown split '{s}'; use train, val or test"))
        })
        .transpose()?;
    let Loaded {
        dir,
        card,
        dataset,
        load,
    } = load_model(worker, &args.model, dataset)?;
    let id = worker.start(Job::Evaluate {
        dataset,
        load,
        split,
    });
    let Outcome::Evaluated {
        dataset,
        split,
        evaluation,
    } = wait(worker, id, |_| {})?
    else {
        bail!("the worker answered the evaluation with something else");
    };
    if args.json {
        let json = serde_json::json!({
            "model": dir,
            "dataset": dataset,
            "split": split,
            "classes": card.classes,
            "weight_kind": evaluation.weight_kind,
            "metrics": evaluation.metrics,
            "samples": evaluation.samples,
        });
        println!("{}", serde_json::to_string(&json)?);
    } else {
        println!("model     {} ({} fusion)", dir.display(), card.model.fusion);
        println!("dataset   {dataset} ({} split)", split.name());
        print!("{}", render_evaluation(&evaluation, &card.classes));
    }
    Ok(())
}

fn predict_command(worker: &WorkerHandle, args: &PredictArgs) -> anyhow::Result<()> {
    if args.image.is_none() && args.text.is_none() && args.audio.is_none() {
        bail!("give at least one input: --image FILE, --text \"…\" or --audio FILE.wav");
    }
    let dir = checkpoint::resolve(&args.model);
    // Predictions run on the input thread, which gets the model once loading is done.
    let id = worker.start(Job::Load { dir });
    match wait(worker, id, |_| {})? {
        Outcome::Loaded { .. } => {}
        other => return Err(unexpected(&other)),
    }
    let id = worker.start(Job::Predict {
        input: RawInput {
            image: args.image.clone().map(ImageInput::File),
            text: args.text.clone(),
            audio: args.audio.clone().map(AudioInput::File),
        },
    });
    let Outcome::Prediction(prediction) = wait(worker, id, |_| {})? else {
        bail!("the worker answered the prediction with something else");
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&prediction)?);
    } else {
        print!("{}", render_prediction(&prediction));
    }
    Ok(())
}

fn compare_command(worker: &WorkerHandle, args: &CompareArgs, dataset: &str) -> anyhow::Result<()> {
    let fusions = if args.fusions.is_empty() {
        FusionKind::ALL.to_vec()
    } else {
        args.fusions.clone()
    };
    let mut rows = Vec::new();
    for fusion in fusions {
        let summary = run_training(
            worker,
            dataset,
            args.options.config(fusion)?,
            args.options.json,
        )?;
        if !args.options.json {
            eprintln!(
                "{fusion}: val acc {:.3} ({})",
                summary.val.as_ref().map_or(0.0, |v| v.metrics.accuracy),
                stop_text(&summary.stop)
            );
        }
        rows.push((fusion, summary));
    }
    if args.options.json {
        let json: Vec<_> = rows
            .iter()
            .map(|(f, s)| {
                serde_json::json!({
                    "fusion": f,
                    "weight_kind": f.weight_kind(),
                    "val": s.val.as_ref().map(|e| &e.metrics),
                    "test": s.test.as_ref().map(|e| &e.metrics),
                    "best_epoch": s.best_epoch,
                    "epochs_run": s.history.len(),
                    "seconds": s.seconds,
                    "samples_per_second": s.samples_per_second,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    print!("{}", render_comparison(dataset, &rows));
    Ok(())
}
