//! What the app's views draw must be true: the Predict panel's heatmap covers exactly the square
//! of the picture the model saw (square, wide and tall pictures, at two window sizes), the frame
//! bars stand under the spectrogram they explain, and the mouse wheel over a plot leaves the plot
//! alone while Ctrl + wheel zooms it. Headless with egui_kittest and the real worker.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use fusionlab::app::{FusionApp, Tab};

#[path = "support/harness.rs"]
mod harness;
use harness::{DATASET, harness, ready, wait_for};

/// The window sizes the app must be readable at.
const SIZES: [(f32, f32); 2] = [(1280.0, 800.0), (1024.0, 700.0)];

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 0.5
}

/// A `w` × `h` PNG (a diagonal gradient) in `dir`.
fn picture(dir: &std::path::Path, w: u32, h: u32) -> std::path::PathBuf {
    let path = dir.join(format!("picture-{w}x{h}.png"));
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 128])
    })
    .save(&path)
    .expect("write the picture");
    path
}

/// Check the geometry the Predict panel drew for a `w` × `h` picture.
fn check_heatmap(h: &Harness<'static, FusionApp>, (w, ht): (u32, u32), window: (f32, f32)) {
    let app = h.state();
    let g = app
        .predict
        .drawn
        .image
        .clone()
        .expect("a picture was drawn");
    let (image, region) = (g.drawn.image, g.drawn.region);
    let what = format!("{w}×{ht} in a {}×{} window", window.0, window.1);
    assert_eq!(g.pixels, egui::vec2(w as f32, ht as f32), "{what}");
    assert!(g.grid > 0, "{what}: no attention grid");
    // The picture keeps its aspect ratio and stays inside the window.
    assert!(
        (image.width() / image.height() - w as f32 / ht as f32).abs() < 0.02,
        "{what}: picture drawn {image:?}"
    );
    assert!(
        image.min.x >= 0.0 && image.max.x <= window.0,
        "{what}: {image:?}"
    );
    // The heat is the centre square of the drawn picture (the model's centre crop), inside it.
    let side = image.width().min(image.height());
    assert!(
        close(region.width(), side) && close(region.height(), side),
        "{what}: heat {region:?} on picture {image:?}"
    );
    assert!(
        close(region.center().x, image.center().x),
        "{what}: heat {region:?} on {image:?}"
    );
    assert!(
        close(region.center().y, image.center().y),
        "{what}: heat {region:?} on {image:?}"
    );
    assert!(
        image.expand(0.5).contains_rect(region),
        "{what}: heat {region:?} past {image:?}"
    );
}

#[test]
fn the_heatmap_covers_the_square_the_model_saw_for_square_wide_and_tall_pictures() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut h = harness(DATASET);
    ready(&mut h);
    h.state_mut().settings.tab = Tab::Predict;
    for window in SIZES {
        h.set_size(egui::vec2(window.0, window.1));
        for size in [(256, 256), (640, 320), (320, 640)] {
            let path = picture(dir.path(), size.0, size.1);
            h.state_mut().open_path(&path);
            wait_for(&mut h, "the picture and its prediction", 60, |a| {
                a.predict.current.as_ref().is_some_and(|p| p.present[0])
                    && a.predict.drawn.image.as_ref().is_some_and(|g| {
                        g.pixels == egui::vec2(size.0 as f32, size.1 as f32) && g.grid > 0
                    })
            });
            h.run_steps(3);
            check_heatmap(&h, size, window);
        }
    }
}

#[test]
fn the_frame_bars_stand_under_the_spectrogram_frames_they_explain() {
    let mut h = harness(DATASET);
    ready(&mut h);
    h.state_mut().settings.tab = Tab::Predict;
    for window in SIZES {
        h.set_size(egui::vec2(window.0, window.1));
        let example = fusionlab::app::asset_dir().join("examples/redundant/sound.wav");
        h.state_mut().open_path(&example);
        wait_for(&mut h, "a prediction with the sound", 60, |a| {
            a.predict.current.as_ref().is_some_and(|p| p.present[2])
                && a.predict.drawn.audio.is_some()
        });
        h.run_steps(3);
        let p = h.state().predict.current.clone().expect("prediction");
        let g = h
            .state()
            .predict
            .drawn
            .audio
            .clone()
            .expect("the spectrogram was drawn");
        let x = g.spectrogram.x_range();
        assert!(
            x.max <= window.0,
            "spectrogram {:?} past the window",
            g.spectrogram
        );
        assert_eq!(g.bars.len(), p.attention[2].len());
        let bars: Vec<egui::Rangef> = g.bars.iter().flatten().copied().collect();
        assert!(!bars.is_empty());
        assert!(
            bars.iter()
                .all(|b| b.min >= x.min - 0.01 && b.max <= x.max + 0.01)
        );
        // The model's own audio encoder: frame k covers [k, k + 1) × frame_ms from the start,
        // over a spectrogram of `spectrogram_ms`.
        assert!(
            close(bars[0].min, x.min),
            "first bar {:?} vs spectrogram {x:?}",
            bars[0]
        );
        let per_ms = x.span() / p.spectrogram_ms;
        for (k, b) in g.bars.iter().enumerate() {
            let Some(b) = b else { continue };
            let (start, end) = p.frame_span_ms(k);
            assert!(
                close(b.min, x.min + start.max(0.0) * per_ms),
                "frame {k}: {b:?}"
            );
            assert!(
                close(b.max, (x.min + end * per_ms).min(x.max)),
                "frame {k}: {b:?}"
            );
        }
    }
}

/// Send wheel events over `at` with `modifiers` and let the app run them.
fn wheel(h: &mut Harness<'static, FusionApp>, at: egui::Pos2, modifiers: egui::Modifiers) {
    h.event(egui::Event::PointerMoved(at));
    for _ in 0..3 {
        h.event_modifiers(
            egui::Event::MouseWheel {
                unit: egui::MouseWheelUnit::Point,
                delta: egui::vec2(0.0, -60.0),
                phase: egui::TouchPhase::Move,
                source: egui::MouseWheelSource::Unknown,
                modifiers,
            },
            modifiers,
        );
        h.step();
    }
    h.run_steps(10);
}

#[test]
fn the_wheel_over_a_plot_leaves_it_alone_and_ctrl_wheel_zooms_it() {
    let mut h = harness(DATASET);
    ready(&mut h);
    h.state_mut().settings.tab = Tab::Projections;
    wait_for(&mut h, "the projection plot", 60, |a| {
        a.projections.plot_rect.is_some() && a.projections.transform.is_some()
    });
    h.run_steps(5);
    let bounds = |h: &Harness<'static, FusionApp>| {
        *h.state()
            .projections
            .transform
            .as_ref()
            .expect("plot")
            .bounds()
    };
    let rect = h.state().projections.plot_rect.expect("plot rect");
    let before = bounds(&h);
    wheel(&mut h, rect.center(), egui::Modifiers::NONE);
    assert_eq!(bounds(&h), before, "a plain wheel moved the plot");
    let ctrl = egui::Modifiers {
        ctrl: true,
        command: true,
        ..Default::default()
    };
    wheel(&mut h, rect.center(), ctrl);
    assert_ne!(bounds(&h), before, "Ctrl + wheel did not zoom the plot");
}

#[test]
fn with_two_dozen_runs_the_curve_legend_names_only_the_newest() {
    let mut h = harness(DATASET);
    h.state_mut().settings.tab = Tab::Training;
    let epoch = |epoch: usize| fusionlab::engine::EpochReport {
        epoch,
        epochs: 3,
        train_loss: 1.0 / epoch as f32,
        train_accuracy: 0.5,
        learning_rate: 1e-3,
        val: Default::default(),
        best: false,
        seconds: 0.1,
    };
    for n in 0..24 {
        h.state_mut().training.runs.push(fusionlab::app::Run {
            job: None,
            name: format!("attention #{}", n + 1),
            history: (1..=3).map(epoch).collect(),
            visible: true,
            summary: None,
            failed: Some("test run".into()),
        });
    }
    h.set_size(egui::vec2(1024.0, 700.0));
    h.run_steps(3);
    // Loss draws a train and a val line per run: four runs fill the eight legend lines.
    h.get_by_label_contains("The legend names the 4 newest of the 24 runs shown");
}
