//! The app window, driven headless with egui_kittest (no GPU, no display).

use std::time::{Duration, Instant};

use egui_kittest::{Harness, kittest::Queryable as _};
use fusionlab::app::{DatasetStatus, FusionApp};
use fusionlab::data::DatasetSpec;

fn harness(spec: &str) -> Harness<'static, FusionApp> {
    let spec: DatasetSpec = spec.parse().expect("spec");
    Harness::builder()
        .with_size(egui::vec2(900.0, 640.0))
        .build_eframe(move |cc| {
            let ctx = cc.egui_ctx.clone();
            FusionApp::new(spec, move || ctx.request_repaint())
        })
}

fn wait_until_loaded(harness: &mut Harness<'static, FusionApp>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while matches!(harness.state().status(), DatasetStatus::Loading) {
        assert!(
            Instant::now() < deadline,
            "the dataset did not load in time"
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    harness.run_ok();
}

#[test]
fn window_shows_the_loaded_dataset_and_its_counts() {
    let mut harness = harness("synthetic:redundant?samples=120");
    // The first frame comes before the data: the UI never waits on loading.
    harness.step();
    harness.get_by_label_contains("Loading synthetic:redundant");
    wait_until_loaded(&mut harness);
    harness.get_by_label_contains("Dataset: synthetic:redundant?samples=120");
    harness.get_by_label_contains("120 samples · 4 classes · train 80 · val 20 · test 20");
    harness.get_by_label("triangle");
}

#[test]
fn a_dataset_that_fails_to_load_says_why() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut harness = harness(dir.path().to_str().expect("utf8"));
    wait_until_loaded(&mut harness);
    assert!(matches!(harness.state().status(), DatasetStatus::Failed(_)));
    harness.get_by_label_contains("manifest.csv");
}
