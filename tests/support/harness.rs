//! The app driven headless with egui_kittest and the real worker: the shared set-up of the app
//! test binaries.
#![allow(dead_code)] // each test binary uses its own part

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use fusionlab::app::{FusionApp, StartOptions};

/// The small built-in dataset the app tests open.
pub const DATASET: &str = "synthetic:redundant?samples=120";

/// The app on `dataset`, fresh settings, tiny training settings.
pub fn harness(dataset: &str) -> Harness<'static, FusionApp> {
    harness_with(StartOptions {
        dataset: Some(dataset.to_owned()),
        fresh: true,
        ..StartOptions::default()
    })
}

/// The app started with `options`; training settings made tiny afterwards.
pub fn harness_with(options: StartOptions) -> Harness<'static, FusionApp> {
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_eframe(move |cc| FusionApp::new(cc, options));
    // Small and quick settings for any training the test starts.
    let cfg = &mut h.state_mut().settings.train;
    cfg.epochs = 2;
    cfg.patience = 0;
    cfg.embed_dim = 16;
    h
}

/// Step the app until `done` holds (the worker answers in the background).
pub fn wait_for(
    h: &mut Harness<'static, FusionApp>,
    what: &str,
    seconds: u64,
    done: impl Fn(&FusionApp) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        h.step();
        if done(h.state()) {
            h.step();
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(15));
    }
}

/// Wait for the demo model and the explored dataset.
pub fn ready(h: &mut Harness<'static, FusionApp>) {
    wait_for(h, "the demo model and the dataset", 120, |a| {
        a.model.card.is_some()
            && a.browser
                .exploration
                .as_ref()
                .is_some_and(|e| e.samples.iter().all(|s| s.outcome.is_some()))
    });
}
