//! The `fusionlab` binary: the CLI, and the app window when no subcommand is given.

use clap::Parser as _;
use fusionlab::app::FusionApp;
use fusionlab::cli::{Cli, Command, run_data, run_model_command};
use fusionlab::data::DatasetSpec;

/// See Cargo.toml: candle's per-step tensor churn is much cheaper with mimalloc than glibc malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let result = match &cli.command {
        None | Some(Command::App) => {
            run_app(cli.dataset.as_deref().unwrap_or("synthetic:redundant"))
        }
        Some(Command::Data { command }) => run_data(command),
        Some(command) => run_model_command(command, cli.dataset.as_deref()),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

fn run_app(dataset: &str) -> anyhow::Result<()> {
    let spec: DatasetSpec = dataset.parse()?;
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("fusionlab")
            .with_inner_size([1100.0, 720.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "fusionlab",
        options,
        Box::new(move |cc| {
            let ctx = cc.egui_ctx.clone();
            Ok(Box::new(FusionApp::new(spec, move || {
                ctx.request_repaint()
            })))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
