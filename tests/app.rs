//! The app window driven headless with egui_kittest (no GPU, no display), with the real worker:
//! every panel, as a user would use it.

use std::time::Duration;

use egui_kittest::kittest::Queryable as _;
use fusionlab::app::Tab;
use fusionlab::worker::Source;

#[path = "support/harness.rs"]
mod harness;
use harness::{DATASET, harness, ready, wait_for};

#[test]
fn opens_on_the_built_in_data_with_the_demo_model_and_predicts_an_example() {
    let mut h = harness(DATASET);
    // The first frame comes before any model work is done: the UI never waits.
    h.step();
    h.get_by_label_contains("Dataset: synthetic:redundant");
    ready(&mut h);
    h.get_by_label_contains("Model: attention");
    h.get_by_label("Examples").click();
    h.run_steps(3);
    h.get_by_label("Example: redundant").click();
    wait_for(&mut h, "a prediction", 60, |a| {
        a.predict
            .current
            .as_ref()
            .is_some_and(|p| p.present == [true; 3])
    });
    h.get_by_label_contains("Prediction: cross");
    h.get_by_label_contains("Reliance on each modality (native)");
    let p = h.state().predict.current.clone().expect("prediction");
    assert!((p.weights.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    assert!(!p.spectrogram.is_empty() && !p.words.is_empty());
}

#[test]
fn typing_text_predicts_and_masking_a_modality_moves_the_prediction() {
    let mut h = harness(DATASET);
    ready(&mut h);
    h.get_by_label("Sentence").click();
    h.step();
    h.get_by_label("Sentence").type_text("a small round circle");
    wait_for(&mut h, "a text-only prediction", 60, |a| {
        a.predict
            .current
            .as_ref()
            .is_some_and(|p| p.present == [false, true, false])
    });
    h.get_by_label_contains("Prediction: circle");
    // Add the example image (a cross), then hide the text: the answer must follow the image.
    let example = fusionlab::app::asset_dir().join("examples/redundant/image.png");
    h.state_mut().open_path(&example);
    wait_for(&mut h, "an image + text prediction", 60, |a| {
        a.predict
            .current
            .as_ref()
            .is_some_and(|p| p.present == [true, true, false])
    });
    let both = h.state().predict.current.clone().expect("prediction");
    h.get_by_label("use text").click();
    wait_for(&mut h, "the masked prediction", 60, |a| {
        a.predict
            .current
            .as_ref()
            .is_some_and(|p| p.present == [true, false, false])
    });
    let masked = h.state().predict.current.clone().expect("prediction");
    assert_eq!(masked.classes[masked.predicted], "cross");
    assert_ne!(both.probs, masked.probs, "masking text changed nothing");
    // Every class bar now also shows its probability with all inputs.
    assert_eq!(
        h.query_all_by_label_contains("(all inputs:").count(),
        masked.classes.len()
    );
    h.get_by_label_contains("changed: circle -> cross");
}

#[test]
fn training_from_the_ui_draws_curves_and_stop_works() {
    let mut h = harness(DATASET);
    ready(&mut h);
    h.state_mut().settings.tab = Tab::Training;
    h.get_by_label("Train attention").click();
    wait_for(&mut h, "training to start", 60, |a| a.jobs.is_training());
    h.get_by_label("Stop");
    wait_for(&mut h, "training to finish", 180, |a| !a.jobs.is_training());
    let run = h.state().training.runs.last().cloned().expect("a run");
    assert_eq!(run.history.len(), 2, "two epochs of curves");
    assert!(run.summary.is_some());
    h.get_by_label_contains("Confusion matrix");
    h.get_by_label_contains("Model: unsaved attention");
    // The confusion-matrix cell for true circle / predicted circle opens the filtered dataset.
    let cell = h
        .query_all_by_label_contains("circle predicted as circle")
        .next()
        .map(|n| n.rect().center())
        .expect("a confusion cell");
    h.event(egui::Event::PointerMoved(cell));
    h.event(egui::Event::PointerButton {
        pos: cell,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: egui::Modifiers::NONE,
    });
    h.event(egui::Event::PointerButton {
        pos: cell,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    });
    wait_for(&mut h, "the dataset tab", 10, |a| {
        a.settings.tab == Tab::Dataset
    });
    assert_eq!(h.state().browser.filter.pair, Some((0, 0)));

    // A long run stopped from the UI ends as "stopped by you" and keeps its epochs so far.
    h.state_mut().settings.train.epochs = 200;
    h.get_by_label("Train attention").click();
    wait_for(&mut h, "progress", 60, |a| a.training.progress.is_some());
    h.get_by_label("Stop").click();
    wait_for(&mut h, "the stop", 60, |a| !a.jobs.is_training());
    let stopped = h.state().training.runs.last().cloned().expect("run");
    let summary = stopped.summary.expect("summary");
    assert_eq!(summary.stop, fusionlab::engine::StopReason::Cancelled);
}

#[test]
fn clicking_a_projection_point_loads_that_sample() {
    let mut h = harness(DATASET);
    ready(&mut h);
    h.state_mut().settings.tab = Tab::Projections;
    wait_for(&mut h, "the plot", 10, |a| {
        a.projections.transform.is_some()
    });
    h.step();
    let (sample, pos) = {
        let app = h.state();
        let layout = app.projections.layout(app.browser.exploration.as_ref());
        assert!(!layout.is_empty(), "no points");
        let (s, _) = layout[layout.len() / 2];
        (
            s,
            app.projections
                .screen_position(&layout, s)
                .expect("on screen"),
        )
    };
    h.event(egui::Event::PointerMoved(pos));
    h.step();
    assert_eq!(
        h.state().projections.hovered,
        Some(sample),
        "hover finds the point"
    );
    h.event(egui::Event::PointerButton {
        pos,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: egui::Modifiers::NONE,
    });
    h.event(egui::Event::PointerButton {
        pos,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    });
    wait_for(&mut h, "the sample in the inputs", 30, |a| {
        a.browser.selected == Some(sample) && a.inputs.present().iter().any(|&p| p)
    });
    {
        let app = h.state();
        let s = &app.browser.exploration.as_ref().expect("e").samples[sample];
        assert_eq!(
            app.inputs.text.trim(),
            s.text.clone().unwrap_or_default().trim()
        );
        assert_eq!(app.inputs.present(), s.present);
    }
    // The clicked point's nearest neighbours are listed (nearest first) and ringed.
    wait_for(&mut h, "the neighbours", 30, |a| {
        a.projections
            .neighbours
            .as_ref()
            .is_some_and(|(_, s, n)| *s == sample && n.len() == 10)
    });
    let (_, _, list) = h
        .state()
        .projections
        .neighbours
        .clone()
        .expect("neighbours");
    assert!(list.windows(2).all(|w| w[0].1 <= w[1].1), "{list:?}");
    assert!(list.iter().all(|(j, _)| *j != sample));
    h.get_by_label_contains("Nearest to");
    h.get_by_label("cosine").click();
    wait_for(&mut h, "cosine neighbours", 30, |a| {
        a.projections
            .neighbours
            .as_ref()
            .is_some_and(|(_, _, n)| n[0].1 <= 1.0)
            && a.projections.metric == fusionlab::viz::knn::Metric::Cosine
    });
    let first = h.state().projections.neighbours.clone().expect("n").2[0].0;
    let id = h.state().browser.exploration.as_ref().expect("e").samples[first]
        .id
        .clone();
    h.get_by_label(&format!("Use {id}")).click();
    wait_for(&mut h, "the neighbour selected", 30, |a| {
        a.projections.selected == Some(first)
    });
}

#[test]
fn dataset_filters_and_search_narrow_the_grid() {
    let mut h = harness(DATASET);
    ready(&mut h);
    h.state_mut().settings.tab = Tab::Dataset;
    h.step();
    h.get_by_label_contains("120 samples match");
    h.get_by_label("Search").click();
    h.step();
    h.get_by_label("Search").type_text("syn_0001");
    h.step();
    h.step();
    // syn_00010 … syn_00019
    h.get_by_label_contains("10 samples match");
    h.get_by_label("syn_00013");
    h.state_mut().browser.filter.query.clear();
    h.get_by_label("Misclassified only").click();
    h.step();
    h.step();
    let wrong = h
        .state()
        .browser
        .exploration
        .as_ref()
        .expect("e")
        .samples
        .iter()
        .filter(|s| s.outcome.as_ref().is_some_and(|o| o.predicted != s.label))
        .count();
    h.get_by_label_contains(&format!("{wrong} samples match · {wrong} misclassified"));
}

#[test]
fn a_corrupt_image_gives_a_toast_and_an_inline_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("broken-photo.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\nthis is not really a png").expect("write");
    let mut h = harness(DATASET);
    ready(&mut h);
    h.get_by_label("Path").click();
    h.step();
    h.get_by_label("Path")
        .type_text(bad.to_str().expect("utf8"));
    h.step();
    h.get_by_label("Open").click();
    wait_for(&mut h, "the error", 30, |a| a.inputs.error.is_some());
    let toast = h
        .state()
        .notifications
        .toasts()
        .last()
        .cloned()
        .expect("a toast");
    assert!(
        toast.message.contains("broken-photo.png"),
        "{}",
        toast.message
    );
    assert!(toast.title.contains("Opening an input"));
    assert!(
        h.query_all_by_label_contains("Opening an input failed")
            .next()
            .is_some()
    );
    // The app keeps working: a good file still opens.
    let good = fusionlab::app::asset_dir().join("examples/redundant/image.png");
    h.state_mut()
        .decode(Source::ImageFile(good), fusionlab::app::Purpose::Input);
    wait_for(&mut h, "the good image", 30, |a| a.inputs.image.is_some());
}

#[test]
fn a_dataset_that_fails_to_load_says_why_and_the_app_goes_on() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut h = harness(dir.path().to_str().expect("utf8"));
    wait_for(&mut h, "the failure", 60, |a| {
        a.notifications
            .toasts()
            .iter()
            .any(|t| t.message.contains("manifest.csv"))
    });
    h.state_mut().settings.tab = Tab::Dataset;
    h.step();
    assert!(
        h.query_all_by_label_contains("Exploring the dataset failed")
            .next()
            .is_some()
    );
    h.get_by_label_contains("could not be opened");
}

#[test]
fn the_analysis_panel_compares_methods_measures_robustness_and_explains() {
    let mut h = harness(DATASET);
    ready(&mut h);
    let exports = tempfile::tempdir().expect("tempdir");
    {
        let app = h.state_mut();
        app.settings.train.epochs = 1;
        app.settings.export_dir = exports.path().to_owned();
        // Two methods and one corruption keep the test quick.
        app.analysis.compare_pick = [false, true, false, true, false, false, false];
        app.analysis.corruption_pick = [false; 11];
        app.analysis.corruption_pick[10] = true; // audio missing
        app.analysis.robustness.levels = 3;
    }
    h.get_by_label("Analysis").click();
    h.run_steps(2);
    h.get_by_label("Compare methods").click();
    wait_for(&mut h, "the comparison", 180, |a| {
        a.analysis.comparing.is_none() && a.analysis.compare_rows.len() == 2
    });
    h.get_by_label("weights I / T / A");
    let (_, rows) = h.state().analysis.compare_table();
    assert_eq!(rows[0][0], "late");
    assert_eq!(rows[1][0], "attention");
    assert_eq!(h.state().training.runs.len(), 2, "each method is a run");
    h.get_by_label("Measure robustness").click();
    wait_for(&mut h, "robustness", 180, |a| {
        a.analysis.robustness_result.is_some()
    });
    let result = h
        .state()
        .analysis
        .robustness_result
        .clone()
        .expect("result");
    assert_eq!(result.reports.len(), 2, "every compared model");
    assert!(
        result
            .reports
            .iter()
            .all(|r| r.curves[0].effective.is_some())
    );
    // Only audio was measured: no empty image or text tab, and the audio curves are shown.
    assert!(h.query_by_label("image curves").is_none());
    assert!(h.query_by_label("text curves").is_none());
    assert_eq!(h.state().analysis.robustness_modality, 2);
    h.get_by_label("audio curves").click();
    h.run_steps(2);
    assert!(
        h.query_all_by_label("audio: missing").count() >= 2,
        "one table row per model"
    );
    h.get_by_label("Export robustness CSV").click_accesskit();
    h.run_steps(2);
    let written: Vec<_> = std::fs::read_dir(exports.path())
        .expect("exports")
        .filter_map(Result::ok)
        .collect();
    assert_eq!(written.len(), 1);
    let text = std::fs::read_to_string(written[0].path()).expect("csv");
    assert_eq!(text.lines().count(), 1 + 2 * 3, "{text}");
    h.get_by_label("Explain the dataset").click_accesskit();
    wait_for(&mut h, "contributions", 120, |a| {
        a.analysis.contributions.is_some()
    });
    let c = h
        .state()
        .analysis
        .contributions
        .clone()
        .expect("contributions");
    assert_eq!(c.rows.len(), 1 + 4);
    h.get_by_label_contains("image Shapley");
    h.get_by_label_contains("image native");
}

#[test]
fn a_lesson_sets_up_the_app_shows_only_its_panels_and_saves_back() {
    let mut h = harness(DATASET);
    ready(&mut h);
    let exports = tempfile::tempdir().expect("tempdir");
    h.state_mut().settings.export_dir = exports.path().to_owned();
    h.get_by_label("Lessons").click();
    h.run_steps(2);
    h.get_by_label("4. Missing modalities and modality dropout")
        .click();
    h.run_steps(3);
    let lesson = fusionlab::app::lesson::Lesson::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets/lessons/4-missing-modalities.fusionlab.json"),
    )
    .expect("lesson");
    {
        let app = h.state();
        assert_eq!(app.settings.dataset, lesson.dataset);
        assert_eq!(app.settings.train, lesson.train);
        assert_eq!(app.settings.tab, Tab::Training);
        assert_eq!(app.visible_tabs(), lesson.panels);
    }
    h.get_by_label_contains("Lesson: 4. Missing");
    assert!(
        h.query_by_label("Predict").is_none(),
        "not one of the lesson's panels"
    );
    // Save the setup as a lesson: it reads back as the same lesson state.
    h.get_by_label("Lessons").click();
    h.run_steps(2);
    h.get_by_label("Save current setup as lesson").click();
    h.run_steps(2);
    let saved = h.state().exports.last.clone().expect("saved");
    let back = fusionlab::app::lesson::Lesson::load(&saved).expect("readable");
    assert_eq!(back.dataset, lesson.dataset);
    assert_eq!(back.train, lesson.train);
    assert_eq!(back.panels, lesson.panels);
    assert_eq!(back.question, lesson.question);
    h.get_by_label("End lesson").click();
    h.run_steps(2);
    h.get_by_label("Predict");
}

#[test]
fn the_learn_panel_explains_each_method_and_try_it_sets_it_up() {
    use fusionlab::app::learn::{equation, try_it};
    use fusionlab::model::FusionKind;
    let mut h = harness(DATASET);
    h.get_by_label("Learn").click();
    h.run_steps(2);
    for fusion in FusionKind::ALL {
        h.get_by_label(fusion.name()).click();
        h.run_steps(2);
        let first_line = equation(fusion).lines().next().expect("equation");
        h.get_by_label_contains(first_line.trim());
    }
    h.get_by_label("late").click();
    h.run_steps(2);
    let (preset, _) = try_it(FusionKind::Late);
    h.get_by_label(&format!("Try it: {} with late", preset.name()))
        .click_accesskit();
    h.run_steps(3);
    let app = h.state();
    assert_eq!(app.settings.dataset, format!("synthetic:{}", preset.name()));
    assert_eq!(app.settings.train.fusion, FusionKind::Late);
    assert_eq!(app.settings.tab, Tab::Training);
}

#[test]
fn a_diverging_run_is_stopped_and_the_app_keeps_predicting() {
    let mut h = harness(DATASET);
    ready(&mut h);
    h.state_mut().settings.train.learning_rate = 100.0;
    h.state_mut().settings.train.clip_norm = 0.0;
    h.state_mut().settings.train.epochs = 5;
    h.get_by_label("Train attention").click();
    wait_for(&mut h, "the run to stop", 120, |a| {
        !a.jobs.is_training() && a.training.error.is_some()
    });
    let error = h.state().training.error.clone().expect("error");
    assert!(
        error.contains("diverged") && error.contains("learning rate"),
        "{error}"
    );
    // The UI kept running and the kept model still answers.
    h.state_mut().inputs.text = "a big red circle".into();
    h.state_mut().inputs.changed = true;
    wait_for(&mut h, "a prediction after the divergence", 60, |a| {
        a.predict
            .current
            .as_ref()
            .is_some_and(|p| p.probs.iter().all(|x| x.is_finite()) && p.present[1])
    });
}

/// Seeds for the monkey test: `FUSIONLAB_MONKEY_SEEDS=1,2,3` (CI may pass several); default 1.
fn monkey_seeds() -> Vec<u64> {
    std::env::var("FUSIONLAB_MONKEY_SEEDS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .filter(|v: &Vec<u64>| !v.is_empty())
        .unwrap_or_else(|| vec![1])
}

#[test]
fn monkey_ten_thousand_random_events_never_panic_and_the_worker_still_answers() {
    use rand::{Rng as _, SeedableRng as _};
    const EVENTS: usize = 10_000;
    for seed in monkey_seeds() {
        let scratch = tempfile::tempdir().expect("tempdir");
        let mut h = harness(DATASET);
        {
            let app = h.state_mut();
            // Nothing the monkey does may block (native dialogs) or write outside a temp folder.
            app.native_dialogs = false;
            app.models_dir = scratch.path().join("models");
            app.settings.export_dir = scratch.path().join("exports");
            app.settings.train.epochs = 1;
        }
        ready(&mut h);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let size = egui::vec2(1280.0, 800.0);
        let keys = [
            egui::Key::Tab,
            egui::Key::Enter,
            egui::Key::Escape,
            egui::Key::Space,
            egui::Key::ArrowDown,
            egui::Key::ArrowUp,
            egui::Key::ArrowLeft,
            egui::Key::ArrowRight,
            egui::Key::Backspace,
            egui::Key::A,
        ];
        let tabs = [
            "Predict",
            "Training",
            "Projections",
            "Dataset",
            "Analysis",
            "Learn",
        ];
        let mut pressed = None;
        for i in 0..EVENTS {
            // Below the top bar (its menus can start minute-long jobs on 50 000 samples).
            let pos = egui::pos2(
                rng.random_range(0.0..size.x),
                rng.random_range(34.0..size.y),
            );
            match rng.random_range(0..100) {
                0..=39 => {
                    h.event(egui::Event::PointerMoved(pos));
                    for pressed in [true, false] {
                        h.event(egui::Event::PointerButton {
                            pos,
                            button: egui::PointerButton::Primary,
                            pressed,
                            modifiers: egui::Modifiers::NONE,
                        });
                    }
                }
                40..=54 => h.event(egui::Event::PointerMoved(pos)),
                55..=64 => {
                    // A drag: press here, release on a later event.
                    let down = pressed.is_none();
                    h.event(egui::Event::PointerMoved(pos));
                    h.event(egui::Event::PointerButton {
                        pos,
                        button: egui::PointerButton::Primary,
                        pressed: down,
                        modifiers: egui::Modifiers::NONE,
                    });
                    pressed = down.then_some(pos);
                }
                65..=79 => {
                    let key = keys[rng.random_range(0..keys.len())];
                    for pressed in [true, false] {
                        h.event(egui::Event::Key {
                            key,
                            physical_key: None,
                            pressed,
                            repeat: false,
                            modifiers: egui::Modifiers::NONE,
                        });
                    }
                }
                80..=87 => {
                    let text: String = (0..rng.random_range(1..6))
                        .map(|_| rng.random_range(b'a'..=b'z') as char)
                        .collect();
                    h.event(egui::Event::Text(text));
                }
                88..=93 => h.event(egui::Event::MouseWheel {
                    unit: egui::MouseWheelUnit::Point,
                    delta: egui::vec2(0.0, rng.random_range(-200.0..200.0)),
                    modifiers: egui::Modifiers::NONE,
                    phase: egui::TouchPhase::Move,
                    source: egui::MouseWheelSource::Wheel,
                }),
                _ => {
                    let tab = tabs[rng.random_range(0..tabs.len())];
                    if let Some(node) = h.query_by_label(tab) {
                        node.click();
                    }
                }
            }
            h.step();
            if i % 1000 == 999 {
                // Let background jobs move on between bursts.
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // The worker is alive and not deadlocked: stop whatever runs, then it answers a request.
        h.state_mut().settings.tab = Tab::Predict;
        h.step();
        h.state_mut().cancel_job();
        wait_for(
            &mut h,
            "the worker to finish what the monkey started",
            240,
            |a| a.jobs.is_idle(),
        );
        let stats = h.state().jobs.stats();
        assert_eq!((stats.started, stats.stray), (stats.ended, 0), "{stats:?}");
        h.state_mut().inputs.text = "a small blue square".into();
        h.state_mut().inputs.changed = true;
        h.state_mut().predict.keep = [true; 3];
        wait_for(&mut h, "a prediction after the monkey", 120, |a| {
            a.predict.current.as_ref().is_some_and(|p| p.present[1])
        });
        println!("monkey seed {seed}: {EVENTS} events, no panic, the worker answered");
    }
}

#[test]
fn the_model_menu_exports_the_current_model_as_onnx() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut h = harness(DATASET);
    ready(&mut h);
    h.state_mut().settings.export_dir = tmp.path().to_owned();
    h.get_by_label("Model: attention (attention)").click();
    h.run_steps(3);
    h.get_by_label("Export ONNX…").click();
    wait_for(&mut h, "the ONNX file", 60, |a| a.exports.last.is_some());
    let path = h.state().exports.last.clone().expect("written");
    assert!(path.starts_with(tmp.path()), "{}", path.display());
    assert_eq!(path.extension().and_then(|e| e.to_str()), Some("onnx"));
    let bytes = std::fs::read(&path).expect("readable");
    // The demo model's weights alone are ~360 KB; the graph carries them all.
    assert!(bytes.len() > 300_000, "only {} bytes", bytes.len());
}
