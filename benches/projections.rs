//! UI frame cost of the Projections panel with large embeddings: one app frame (layout and
//! shapes) plus tessellation, headless (egui_kittest; no GPU). Points beyond
//! `fusionlab::app::projections::MAX_DRAWN` are thinned, so 100 000 points should cost about
//! what 20 000 do.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use egui_kittest::Harness;
use fusionlab::app::{FusionApp, StartOptions, Tab};
use fusionlab::data::{Origin, Split};
use fusionlab::worker::{Exploration, ExploredSample, SampleOutcome, SpaceProjection};

fn exploration(n: usize) -> Exploration {
    let samples = (0..n)
        .map(|i| ExploredSample {
            id: format!("s{i}"),
            split: Split::Train,
            label: i % 4,
            present: [true; 3],
            text: None,
            thumb: None,
            origin: Origin::Synthetic { index: i },
            outcome: Some(SampleOutcome {
                predicted: (i * 7) % 4,
                confidence: 0.9,
                probs: vec![0.25; 4],
                weights: [0.3, 0.3, 0.4],
            }),
        })
        .collect();
    // Four noisy rings, one per class.
    let points = (0..n)
        .map(|i| {
            let a = i as f32 * 0.618_034 * std::f32::consts::TAU;
            let r = 1.0 + (i % 4) as f32 + (i % 97) as f32 / 97.0;
            (i, [r * a.cos(), r * a.sin()])
        })
        .collect();
    let space = SpaceProjection { pca: None, points };
    Exploration {
        dataset: "bench".into(),
        classes: vec!["a".into(), "b".into(), "c".into(), "d".into()],
        thumb_size: 32,
        weight_kind: None,
        samples,
        projections: vec![space.clone(), space.clone(), space.clone(), space],
        note: None,
    }
}

fn frame(c: &mut Criterion) {
    let mut group = c.benchmark_group("projections_frame");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    for n in [10_000usize, 100_000] {
        let options = StartOptions {
            // A dataset that cannot load: the worker leaves the injected exploration alone.
            dataset: Some("/nonexistent/fusionlab-bench".into()),
            model: Some("/nonexistent/model".into()),
            fresh: true,
            ..StartOptions::default()
        };
        let mut h = Harness::builder()
            .with_size(egui::vec2(1280.0, 800.0))
            .build_eframe(move |cc| FusionApp::new(cc, options));
        h.run_steps(5);
        h.state_mut().browser.exploration = Some(exploration(n));
        h.state_mut().settings.tab = Tab::Projections;
        h.run_steps(3);
        assert!(
            h.state().projections.plot_rect.is_some(),
            "the plot is drawn"
        );
        group.bench_function(format!("{n}_points"), |b| {
            b.iter(|| {
                h.step();
                let shapes = h.output().shapes.clone();
                h.ctx.tessellate(shapes, 1.0).len()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, frame);
criterion_main!(benches);
