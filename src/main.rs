//! The `fusionlab` binary: the CLI, and the app window when no subcommand is given.

use clap::Parser as _;
use fusionlab::app::{FusionApp, StartOptions, Tab};
use fusionlab::cli::{AppArgs, Cli, Command, run_data, run_model_command, run_pretrained};
use fusionlab::data::DatasetSpec;

/// See Cargo.toml: candle's per-step tensor churn is much cheaper with mimalloc than glibc malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let started = std::time::Instant::now();
    fusionlab::model::device::pin_thread_count();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let result = match &cli.command {
        None => run_app(cli.dataset.clone(), &AppArgs::default(), started),
        Some(Command::App(args)) => run_app(cli.dataset.clone(), args, started),
        Some(Command::Data { command }) => run_data(command),
        Some(Command::Pretrained { command }) => run_pretrained(command),
        Some(Command::Export(args)) => fusionlab::cli::run_export(args),
        Some(command) => run_model_command(command, cli.dataset.as_deref()),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

fn run_app(
    dataset: Option<String>,
    args: &AppArgs,
    started: std::time::Instant,
) -> anyhow::Result<()> {
    if let Some(d) = &dataset {
        d.parse::<DatasetSpec>()?; // a bad --dataset is an error before any window opens
    }
    let tab = args
        .tab
        .as_deref()
        .map(str::parse::<Tab>)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let start = StartOptions {
        dataset,
        model: args.model.clone(),
        fresh: args.fresh,
        started: Some(started),
        tab,
        example: args.example.clone(),
        train: args.train,
        lesson: args.lesson.clone(),
        project: args.project.clone(),
    };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("fusionlab")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([800.0, 500.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "fusionlab",
        options,
        Box::new(move |cc| Ok(Box::new(FusionApp::new(cc, start)))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
