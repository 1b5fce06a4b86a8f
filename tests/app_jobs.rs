//! The app's job model: one job table that every panel reads. Stop ends exactly its job, the
//! app returns to idle when the last job ends, and no panel shows a job that is not running.

use egui_kittest::kittest::Queryable as _;
use fusionlab::app::{FusionApp, StartOptions, Tab};
use fusionlab::worker::Source;

#[path = "support/harness.rs"]
mod harness;
use harness::{DATASET, harness, harness_with, ready, wait_for};

/// Every job a panel shows is in the job table.
fn assert_panels_match_the_table(app: &FusionApp, when: &str) {
    for (panel, id) in app.jobs_shown_by_panels() {
        assert!(
            app.jobs.is_running(id),
            "{when}: the {panel} shows {id}, which is not running"
        );
    }
}

/// On the old main, Stop pressed while the dataset was still loading left the top bar on
/// "Stop · starting…" and the run "running…" for good: Train never came back.
#[test]
fn stop_while_the_dataset_loads_brings_train_back() {
    let mut h = harness_with(StartOptions {
        dataset: Some("synthetic:redundant?samples=30000".into()),
        fresh: true,
        train: true,
        tab: Some(Tab::Training),
        ..StartOptions::default()
    });
    h.step();
    assert!(h.state().jobs.is_training(), "--train starts a run");
    h.get_by_label("Stop").click();
    wait_for(&mut h, "Train to come back", 60, |a| !a.jobs.is_training());
    h.run_steps(2);
    h.get_by_label("Train attention");
    assert!(
        h.query_by_label_contains("running…").is_none(),
        "a stopped run still says running"
    );
    assert!(h.state().training.runs.iter().all(|r| r.ended()));
    assert_panels_match_the_table(h.state(), "after the stop");
    // The dataset goes on loading for the other panels; a new run can start at once.
    h.get_by_label("Train attention").click();
    h.step();
    assert!(h.state().jobs.is_training());
    h.state_mut().cancel_job();
    wait_for(&mut h, "every job to end", 120, |a| a.jobs.is_idle());
}

/// On the old main a diverged run made its kept model current in the worker, but the app kept
/// showing the old (saved demo) model.
#[test]
fn a_diverged_run_makes_its_kept_model_current_in_the_app() {
    let mut h = harness(DATASET);
    ready(&mut h);
    {
        let app = h.state_mut();
        assert!(
            app.model.dir.is_some(),
            "the demo model is loaded from its folder"
        );
        app.settings.train.learning_rate = 100.0;
        app.settings.train.clip_norm = 0.0;
        app.settings.train.epochs = 5;
        app.start_training();
    }
    wait_for(&mut h, "the run to diverge", 120, |a| {
        !a.jobs.is_training() && a.training.error.is_some()
    });
    let app = h.state();
    assert!(
        app.model.dir.is_none(),
        "the app still shows the saved demo model"
    );
    assert_eq!(
        app.model.card.as_ref().map(|c| c.dataset.as_str()),
        Some(DATASET),
        "the card is the kept model's"
    );
    h.get_by_label_contains("Model: unsaved attention");
}

/// On the old main robustness and contributions shared one request id: starting one threw the
/// other's answer away.
#[test]
fn robustness_and_contributions_started_together_both_show_their_results() {
    let mut h = harness(DATASET);
    ready(&mut h);
    {
        let app = h.state_mut();
        app.analysis.corruption_pick = [false; 11];
        app.analysis.corruption_pick[10] = true; // audio missing
        app.analysis.robustness.levels = 2;
        app.start_robustness();
        app.start_contributions();
    }
    wait_for(&mut h, "both results", 120, |a| {
        a.analysis.robustness_result.is_some() && a.analysis.contributions.is_some()
    });
    assert!(h.state().analysis.robustness_job.is_none());
    assert!(h.state().analysis.contributions_job.is_none());
}

/// Random interleavings of starting, stopping and replacing jobs of every kind (seeded): after
/// every frame no panel shows a job that is not running; at the end every started job has
/// ended exactly once and the app is idle with Train enabled.
#[test]
fn random_job_interleavings_always_return_the_app_to_idle() {
    use rand::{Rng as _, SeedableRng as _};
    let mut h = harness(DATASET);
    ready(&mut h);
    let scratch = tempfile::tempdir().expect("tempdir");
    {
        let app = h.state_mut();
        app.native_dialogs = false;
        app.models_dir = scratch.path().join("models");
        app.settings.export_dir = scratch.path().join("exports");
        app.settings.train.epochs = 1;
        app.analysis.compare_pick = [true, true, false, false, false, false, false];
        app.analysis.corruption_pick = [false; 11];
        app.analysis.corruption_pick[9] = true;
        app.analysis.robustness.levels = 2;
        app.projections.tsne_config.iterations = 60;
        app.projections.tsne_config.perplexity = 5.0;
    }
    let demo = fusionlab::app::model_dir().join("attention");
    let example = fusionlab::app::asset_dir().join("examples/redundant");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(14);
    const STEPS: usize = 400;
    for step in 0..STEPS {
        let app = h.state_mut();
        match rng.random_range(0..16) {
            0 => app.start_training(),
            1 => app.stop_training(),
            2 => app.start_compare(),
            3 => app.start_robustness(),
            4 => app.start_contributions(),
            5 => app.explore(),
            6 => app.start_tsne(3, app.projections.tsne_config.clone()),
            7 => {
                let n = app
                    .browser
                    .exploration
                    .as_ref()
                    .map_or(0, |e| e.samples.len());
                if n > 0 {
                    app.select_point(rng.random_range(0..n));
                }
            }
            8 => {
                app.load_model(demo.clone());
            }
            9 => app.decode(
                Source::Example(example.clone()),
                fusionlab::app::Purpose::Sample,
            ),
            10 => {
                app.inputs.text = format!("a small red circle {step}");
                app.inputs.changed = true;
            }
            11 => {
                // Stop any one running job.
                let ids: Vec<_> = app.jobs.iter().map(|j| j.id).collect();
                if !ids.is_empty() {
                    app.jobs.cancel(ids[rng.random_range(0..ids.len())]);
                }
            }
            12 => app.cancel_job(),
            13 => app.set_dataset(if rng.random_bool(0.5) {
                DATASET
            } else {
                "synthetic:redundant?samples=80"
            }),
            14 => {
                app.settings.tab = Tab::ALL[rng.random_range(0..Tab::ALL.len())];
            }
            _ => {} // just let frames pass
        }
        h.step();
        assert_panels_match_the_table(h.state(), &format!("step {step}"));
        if rng.random_bool(0.1) {
            std::thread::sleep(std::time::Duration::from_millis(rng.random_range(1..60)));
        }
    }
    h.state_mut().cancel_job();
    wait_for(&mut h, "every job to end", 300, |a| {
        assert_panels_match_the_table(a, "while ending");
        a.jobs.is_idle()
    });
    let app = h.state();
    let stats = app.jobs.stats();
    assert_eq!(stats.started, stats.ended, "{stats:?}");
    assert_eq!(
        stats.stray, 0,
        "a job ended twice or was never started: {stats:?}"
    );
    assert!(app.jobs_shown_by_panels().is_empty());
    assert!(app.training.runs.iter().all(|r| r.ended()));
    let train = format!("Train {}", app.settings.train.fusion.name());
    h.get_by_label(&train);
    assert!(h.query_by_label_contains("running…").is_none());
    println!(
        "{STEPS} steps, {} jobs started, every one ended once",
        stats.started
    );
}
