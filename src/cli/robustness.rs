//! `fusionlab robustness`: accuracy of saved models under corrupted inputs.

use std::fmt::Write as _;

use anyhow::anyhow;
use clap::Args;

use super::CliProgress;
use crate::data::{LoadObserver as _, Split};
use crate::engine::robustness::{Corruption, RobustnessConfig, RobustnessReport, fill_effective};
use crate::worker::{Job, Outcome, Update, WorkerHandle};

/// Arguments of `fusionlab robustness`.
#[derive(Debug, Args)]
pub struct RobustnessArgs {
    /// Comma-separated model names in models/ or model folders; include a late fusion model to
    /// get effective robustness.
    #[arg(long, value_delimiter = ',', required = true)]
    pub model: Vec<String>,
    /// Comma-separated corruptions [default: every one whose modality the data has].
    #[arg(long, value_delimiter = ',')]
    pub corruptions: Vec<Corruption>,
    /// Levels, evenly spaced from 0 to 1.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(2..=21))]
    pub levels: u64,
    /// Seed of the corruptions.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Measure every model in turn on the test split (else validation) of `dataset` (default: the
/// first model's own dataset) and print a table or JSON.
pub(super) fn robustness_command(
    worker: &WorkerHandle,
    args: &RobustnessArgs,
    dataset: Option<&str>,
) -> anyhow::Result<()> {
    let config = RobustnessConfig {
        corruptions: args.corruptions.clone(),
        levels: usize::try_from(args.levels)?,
        seed: args.seed,
    };
    let mut reports: Vec<RobustnessReport> = Vec::new();
    let mut context: Option<(String, Split)> = None;
    for name in &args.model {
        let loaded = super::model::load_model(worker, name, dataset)?;
        let id = worker.start(Job::Robustness {
            dataset: loaded.dataset,
            load: loaded.load,
            config: config.clone(),
            compared: false,
        });
        let progress = CliProgress::new(&format!("robustness of {name}"));
        let outcome = super::model::wait(worker, id, |update| {
            if let Update::Loading { done, total, .. } = update {
                progress.progress(done, total);
            }
        });
        progress.finish();
        match outcome.map_err(|e| anyhow!("{e} ({name})"))? {
            Outcome::Robustness {
                dataset,
                split,
                reports: mut got,
            } => {
                for r in &mut got {
                    r.model.clone_from(name);
                }
                reports.extend(got);
                context = Some((dataset, split));
            }
            other => return Err(super::model::unexpected(&other)),
        }
    }
    fill_effective(&mut reports);
    let (dataset, split) = context.ok_or_else(|| anyhow!("no model was measured"))?;
    if args.json {
        let json = serde_json::json!({
            "dataset": dataset,
            "split": split,
            "levels": config.level_values(),
            "reports": reports,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        print!("{}", render_robustness(&dataset, split, &reports));
    }
    Ok(())
}

/// Text tables: per model, accuracy per level for each corruption, its area under the curve
/// (relative robustness) and its effective robustness against late fusion.
pub fn render_robustness(dataset: &str, split: Split, reports: &[RobustnessReport]) -> String {
    let mut out = String::new();
    let samples = reports.first().map_or(0, |r| r.samples);
    let _ = writeln!(
        out,
        "dataset {dataset} ({} split, {samples} samples)",
        split.name()
    );
    for r in reports {
        let _ = writeln!(
            out,
            "\n{} ({} fusion): clean accuracy {:.3}",
            r.model, r.fusion, r.clean_accuracy
        );
        let Some(first) = r.curves.first() else {
            continue;
        };
        let _ = write!(out, "{:<24}", "corruption \\ level");
        for l in &first.levels {
            let _ = write!(out, " {l:>5.2}");
        }
        let _ = writeln!(out, "   area  effective");
        for c in &r.curves {
            let _ = write!(out, "{:<24}", c.corruption.label());
            for a in &c.accuracy {
                let _ = write!(out, " {a:>5.3}");
            }
            let effective = c
                .effective
                .map_or_else(|| "-".to_owned(), |e| format!("{e:+.3}"));
            let _ = writeln!(out, "  {:>5.3}  {effective:>9}", c.relative);
        }
    }
    if !reports
        .iter()
        .any(|r| r.fusion == crate::model::FusionKind::Late)
    {
        out.push_str(
            "\n(effective robustness needs a late fusion model among --model, e.g. --model attention,late)\n",
        );
    }
    out
}
