//! `fusionlab train | eval | predict | compare`, all through the background worker.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Command as CliCommand;
use crate::data::{DatasetSpec, LoadOptions, Modality, Split};
use crate::engine::{
    AudioInput, EpochReport, Evaluation, ImageInput, Metrics, Prediction, RawInput, StopReason,
    TrainConfig,
};
use crate::model::checkpoint::{self, check_name};
use crate::model::device::DeviceChoice;
use crate::model::{FusionKind, TextEncoderKind};
use crate::worker::{Command, Event, TrainingSummary, WorkerHandle};

const DEFAULT_DATASET: &str = "synthetic:redundant";

/// Training settings shared by `train` and `compare`.
#[derive(Debug, Args, Clone)]
pub struct TrainOptions {
    /// Passes over the training split.
    #[arg(long, default_value_t = 15)]
    pub epochs: usize,
    /// Samples per step.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Peak learning rate (AdamW; linear warm-up then cosine decay).
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 1e-2)]
    pub weight_decay: f64,
    /// Clip the gradient norm to this (0 = off).
    #[arg(long, default_value_t = 1.0)]
    pub clip: f64,
    /// Stop after this many epochs without a better validation loss (0 = never).
    #[arg(long, default_value_t = 5)]
    pub patience: usize,
    /// Seed of initialisation, shuffling and dropout.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Probability of hiding each modality of a training sample (at least one stays).
    #[arg(long, default_value_t = 0.0)]
    pub modality_dropout: f64,
    /// Text encoder: gru or transformer.
    #[arg(long, default_value = "gru")]
    pub text_encoder: TextEncoderKind,
    /// Embedding width.
    #[arg(long, default_value_t = 64)]
    pub embed_dim: usize,
    /// Where to run: auto, cpu, cuda or metal.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// Print JSON instead of tables and progress.
    #[arg(long)]
    pub json: bool,
}

impl TrainOptions {
    fn config(&self, fusion: FusionKind) -> TrainConfig {
        TrainConfig {
            fusion,
            text_encoder: self.text_encoder,
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.lr,
            weight_decay: self.weight_decay,
            clip_norm: self.clip,
            patience: self.patience,
            seed: self.seed,
            modality_dropout: self.modality_dropout,
            embed_dim: self.embed_dim,
            device: self.device,
            ..TrainConfig::default()
        }
    }
}

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
    #[arg(long)]
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
        CliCommand::App | CliCommand::Data { .. } => bail!("not a model command"),
    }
}

fn next(worker: &WorkerHandle) -> anyhow::Result<Event> {
    loop {
        if let Some(event) = worker.recv_timeout(Duration::from_millis(200)) {
            return Ok(event);
        }
    }
}

fn fail(context: &str, message: &str) -> anyhow::Error {
    anyhow!("{context}: {message}")
}

fn out_dir(name: &str) -> anyhow::Result<PathBuf> {
    let dir = checkpoint::resolve(name);
    if !name.contains('/') {
        check_name(name).map_err(|e| anyhow!(e))?;
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
    worker.send(Command::Train {
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
    loop {
        match next(worker)? {
            Event::Loading { what, done, total } => {
                bar.set_message(format!("loading {what}"));
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
            Event::TrainingStarted {
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
            Event::Progress(p) => {
                bar.set_length((p.steps * p.epochs) as u64);
                bar.set_position(((p.epoch - 1) * p.steps + p.step) as u64);
                bar.set_message(format!(
                    "{fusion} epoch {}/{} loss {:.3}",
                    p.epoch, p.epochs, p.loss
                ));
            }
            Event::Epoch(report) if !quiet => {
                say(&bar, epoch_line(&report));
            }
            Event::TrainingFinished(summary) => {
                bar.finish_and_clear();
                return Ok(*summary);
            }
            Event::Cancelled { what } => {
                bar.finish_and_clear();
                bail!("{what} was cancelled");
            }
            Event::Failed { context, message } => {
                bar.finish_and_clear();
                return Err(fail(&context, &message));
            }
            _ => {}
        }
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

/// One line per epoch, e.g. `epoch  3/15  train loss 0.512 acc 0.830 | val loss 0.401 …`.
pub fn epoch_line(r: &EpochReport) -> String {
    let w = r.val.mean_weights;
    format!(
        "epoch {:>2}/{}  train loss {:.3} acc {:.3} | val loss {:.3} acc {:.3} F1 {:.3} | weights image {:.2} text {:.2} audio {:.2} | {:.1}s{}",
        r.epoch,
        r.epochs,
        r.train_loss,
        r.train_accuracy,
        r.val.loss,
        r.val.accuracy,
        r.val.macro_f1,
        w[0],
        w[1],
        w[2],
        r.seconds,
        if r.best { "  *" } else { "" }
    )
}

fn stop_text(stop: &StopReason) -> String {
    match stop {
        StopReason::Completed => "all epochs ran".into(),
        StopReason::EarlyStopped => "stopped early: validation loss stopped improving".into(),
        StopReason::Cancelled => "cancelled".into(),
        StopReason::NonFinite { epoch, step, what } => {
            format!("{what} at epoch {epoch}, step {step}")
        }
    }
}

fn train_command(worker: &WorkerHandle, args: &TrainArgs, dataset: &str) -> anyhow::Result<()> {
    let dir = args.out.as_deref().map(out_dir).transpose()?;
    let config = args.options.config(args.fusion);
    let summary = run_training(worker, dataset, config, args.options.json)?;
    if let Some(dir) = &dir {
        worker.send(Command::Save { dir: dir.clone() });
        match next(worker)? {
            Event::Saved(_) => {}
            Event::Failed { context, message } => return Err(fail(&context, &message)),
            other => bail!("unexpected answer from the worker: {other:?}"),
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

fn pct(v: Option<f32>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.3}"))
}

fn metrics_line(m: &Metrics, kind: &str) -> String {
    format!(
        "acc {:.3}  macro-F1 {:.3}  loss {:.3} | only image {} text {} audio {} | weights ({kind}) image {:.2} text {:.2} audio {:.2}",
        m.accuracy,
        m.macro_f1,
        m.loss,
        pct(m.modality_only[0]),
        pct(m.modality_only[1]),
        pct(m.modality_only[2]),
        m.mean_weights[0],
        m.mean_weights[1],
        m.mean_weights[2]
    )
}

/// Metrics, per-class table and confusion matrix as text.
pub fn render_evaluation(e: &Evaluation, classes: &[String]) -> String {
    let m = &e.metrics;
    let mut out = String::new();
    let _ = writeln!(out, "samples   {}", m.samples);
    let _ = writeln!(out, "{}", metrics_line(m, e.weight_kind.name()));
    let width = super::name_width(classes);
    let _ = writeln!(
        out,
        "\n{:<width$}  precision  recall     F1  support",
        "class"
    );
    for (c, name) in classes.iter().enumerate() {
        if let Some(cm) = m.per_class.get(c) {
            let _ = writeln!(
                out,
                "{name:<width$}  {:>9.3}  {:>6.3}  {:>5.3}  {:>7}",
                cm.precision, cm.recall, cm.f1, cm.support
            );
        }
    }
    let _ = writeln!(out, "\nconfusion (rows: true class, columns: predicted)");
    let cell = m
        .confusion
        .iter()
        .flatten()
        .map(|v| v.to_string().len())
        .max()
        .unwrap_or(1)
        .max(3);
    let _ = write!(out, "{:<width$} ", "");
    for name in classes {
        let _ = write!(out, " {:>cell$}", short(name, cell));
    }
    let _ = writeln!(out);
    for (c, row) in m.confusion.iter().enumerate() {
        let _ = write!(
            out,
            "{:<width$} ",
            classes.get(c).map_or("?", String::as_str)
        );
        for v in row {
            let _ = write!(out, " {v:>cell$}");
        }
        let _ = writeln!(out);
    }
    out
}

fn short(name: &str, n: usize) -> String {
    name.chars().take(n).collect()
}

fn eval_command(
    worker: &WorkerHandle,
    args: &EvalArgs,
    dataset: Option<&str>,
) -> anyhow::Result<()> {
    let dir = checkpoint::resolve(&args.model);
    let card = checkpoint::read_card(&dir)?;
    let dataset = dataset.map_or_else(|| card.dataset.clone(), str::to_owned);
    let split = args
        .split
        .as_deref()
        .map(|s| {
            Split::parse(s).ok_or_else(|| anyhow!("unknown split '{s}'; use train, val or test"))
        })
        .transpose()?;
    worker.send(Command::Load { dir: dir.clone() });
    worker.send(Command::Evaluate {
        request_id: 1,
        dataset: dataset.parse()?,
        load: LoadOptions {
            features: card.features.clone(),
            ..LoadOptions::default()
        },
        split,
    });
    loop {
        match next(worker)? {
            Event::Evaluated {
                dataset,
                split,
                evaluation,
                ..
            } => {
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
                return Ok(());
            }
            Event::Failed { context, message } => return Err(fail(&context, &message)),
            Event::Cancelled { what } => bail!("{what} was cancelled"),
            _ => {}
        }
    }
}

fn predict_command(worker: &WorkerHandle, args: &PredictArgs) -> anyhow::Result<()> {
    if args.image.is_none() && args.text.is_none() && args.audio.is_none() {
        bail!("give at least one input: --image FILE, --text \"…\" or --audio FILE.wav");
    }
    let dir = checkpoint::resolve(&args.model);
    worker.send(Command::Load { dir });
    worker.send(Command::Predict {
        request_id: 1,
        input: RawInput {
            image: args.image.clone().map(ImageInput::File),
            text: args.text.clone(),
            audio: args.audio.clone().map(AudioInput::File),
        },
    });
    loop {
        match next(worker)? {
            Event::Prediction { prediction, .. } => {
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&prediction)?);
                } else {
                    print!("{}", render_prediction(&prediction));
                }
                return Ok(());
            }
            Event::Failed { context, message } => return Err(fail(&context, &message)),
            _ => {}
        }
    }
}

/// A prediction as text: probabilities, modality weights, top words and frames.
pub fn render_prediction(p: &Prediction) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "prediction  {} ({:.1}%)",
        p.classes.get(p.predicted).map_or("?", String::as_str),
        100.0 * p.probs.get(p.predicted).copied().unwrap_or(0.0)
    );
    let mut order: Vec<usize> = (0..p.probs.len()).collect();
    order.sort_by(|&a, &b| p.probs[b].total_cmp(&p.probs[a]));
    let _ = writeln!(out, "\nclass probabilities");
    for &c in order.iter().take(10) {
        let bar = "█".repeat((p.probs[c] * 30.0).round() as usize);
        let _ = writeln!(
            out,
            "  {:<12} {:>6.1}%  {bar}",
            p.classes[c],
            100.0 * p.probs[c]
        );
    }
    let _ = writeln!(out, "\nmodality weights ({})", p.weight_kind.name());
    for m in Modality::ALL {
        let i = m.index();
        let w = if p.present[i] {
            format!(
                "{:>6.1}%  {}",
                100.0 * p.weights[i],
                "█".repeat((p.weights[i] * 30.0).round() as usize)
            )
        } else {
            "   not given".to_owned()
        };
        let _ = writeln!(out, "  {:<6} {w}", m.name());
    }
    if p.present[1] && !p.words.is_empty() {
        let mut words: Vec<(usize, f32)> = p.attention[1].iter().copied().enumerate().collect();
        words.sort_by(|a, b| b.1.total_cmp(&a.1));
        let top: Vec<String> = words
            .iter()
            .take(5)
            .filter_map(|&(i, w)| p.words.get(i).map(|word| format!("{word} ({w:.2})")))
            .collect();
        let _ = writeln!(out, "\ntop words   {}", top.join(", "));
    }
    if p.present[2] {
        let mut frames: Vec<(usize, f32)> = p.attention[2].iter().copied().enumerate().collect();
        frames.sort_by(|a, b| b.1.total_cmp(&a.1));
        let top: Vec<String> = frames
            .iter()
            .take(5)
            .map(|&(i, w)| {
                format!(
                    "{:.0}–{:.0} ms ({w:.2})",
                    i as f32 * p.frame_ms,
                    (i + 1) as f32 * p.frame_ms
                )
            })
            .collect();
        let _ = writeln!(out, "top frames  {}", top.join(", "));
    }
    if p.present[0] {
        let g = p.image_grid.max(1);
        if let Some((i, w)) = p.attention[0]
            .iter()
            .copied()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
        {
            let _ = writeln!(
                out,
                "image focus row {} column {} of {g}×{g} ({w:.2})",
                i / g + 1,
                i % g + 1
            );
        }
    }
    out
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
            args.options.config(fusion),
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

fn render_comparison(dataset: &str, rows: &[(FusionKind, TrainingSummary)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "dataset {dataset}");
    let _ = writeln!(
        out,
        "{:<11} {:>7} {:>8} {:>8} | {:>6} {:>6} {:>6} | {:<8} {:>5} {:>5} {:>5} | {:>6} {:>6}",
        "fusion",
        "val acc",
        "test acc",
        "test F1",
        "img",
        "txt",
        "aud",
        "weights",
        "img",
        "txt",
        "aud",
        "epochs",
        "secs"
    );
    for (fusion, s) in rows {
        let (val, test) = (
            s.val.as_ref().map(|e| &e.metrics),
            s.test.as_ref().map(|e| &e.metrics),
        );
        let shown = test.or(val);
        let only = shown.map_or([None; 3], |m| m.modality_only);
        let w = shown.map_or([0.0; 3], |m| m.mean_weights);
        let _ = writeln!(
            out,
            "{:<11} {:>7} {:>8} {:>8} | {:>6} {:>6} {:>6} | {:<8} {:>5.2} {:>5.2} {:>5.2} | {:>6} {:>6.1}",
            fusion.name(),
            pct(val.map(|m| m.accuracy)),
            pct(test.map(|m| m.accuracy)),
            pct(test.map(|m| m.macro_f1)),
            pct(only[0]),
            pct(only[1]),
            pct(only[2]),
            fusion.weight_kind().name(),
            w[0],
            w[1],
            w[2],
            s.history.len(),
            s.seconds
        );
    }
    let _ = writeln!(
        out,
        "img/txt/aud under the accuracy columns: accuracy with only that modality given (test split when there is one)."
    );
    out
}
