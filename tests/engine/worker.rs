//! The worker thread: event sequences, errors as single `Failed` events, cancel, predictions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fusionlab::data::{LoadOptions, Modality};
use fusionlab::engine::RawInput;
use fusionlab::model::FusionKind;
use fusionlab::worker::{Command, Event, Exploration, WorkerHandle};

use crate::common::tiny;

fn worker() -> WorkerHandle {
    WorkerHandle::spawn(Arc::new(|| {})).expect("spawn")
}

/// Events until `done` says stop (or 120 s pass).
fn until(w: &WorkerHandle, mut done: impl FnMut(&Event) -> bool) -> Vec<Event> {
    let start = Instant::now();
    let mut seen = Vec::new();
    while start.elapsed() < Duration::from_secs(120) {
        if let Some(e) = w.recv_timeout(Duration::from_millis(50)) {
            let stop = done(&e);
            seen.push(e);
            if stop {
                return seen;
            }
        }
    }
    panic!("timed out; saw {seen:?}");
}

fn train_cmd(spec: &str, epochs: usize) -> Command {
    Command::Train {
        dataset: spec.parse().expect("spec"),
        load: LoadOptions::default(),
        config: tiny(FusionKind::Attention, epochs),
    }
}

#[test]
fn predicting_without_a_model_fails_once_and_the_worker_goes_on() {
    let w = worker();
    w.send(Command::Predict {
        request_id: 9,
        input: RawInput {
            text: Some("a red circle".into()),
            ..RawInput::default()
        },
    });
    let events = until(&w, |e| matches!(e, Event::Failed { .. }));
    match &events[..] {
        [Event::Failed { context, message }] => {
            assert_eq!(context, "Predicting");
            assert!(message.contains("no model"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Still alive: a training run works afterwards.
    w.send(train_cmd("synthetic:redundant?samples=48", 1));
    until(&w, |e| matches!(e, Event::TrainingFinished(_)));
    assert!(
        w.recv_timeout(Duration::from_millis(100)).is_none(),
        "no extra events"
    );
}

#[test]
fn training_then_predicting_and_saving_through_the_worker() {
    let w = worker();
    w.send(train_cmd("synthetic:redundant?samples=96", 2));
    let events = until(&w, |e| {
        matches!(e, Event::TrainingFinished(_) | Event::Failed { .. })
    });
    assert!(
        events
            .iter()
            .find(|e| matches!(e, Event::DatasetReady(_)))
            .is_some()
    );
    let started = events
        .iter()
        .position(|e| matches!(e, Event::TrainingStarted { .. }))
        .expect("started");
    let epochs: Vec<usize> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            Event::Epoch(r) => {
                assert!(i > started);
                Some(r.epoch)
            }
            _ => None,
        })
        .collect();
    assert_eq!(epochs, vec![1, 2]);
    let Some(Event::TrainingFinished(summary)) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(summary.history.len(), 2);

    // Newer request ids come back with their own answers.
    for id in [1, 2] {
        w.send(Command::Predict {
            request_id: id,
            input: RawInput {
                text: Some("a small blue circle".into()),
                ..RawInput::default()
            },
        });
    }
    let answers = until(&w, |e| matches!(e, Event::Prediction { request_id: 2, .. }));
    let Some(Event::Prediction {
        request_id: 2,
        prediction,
    }) = answers.last()
    else {
        panic!()
    };
    assert_eq!(prediction.present, [false, true, false]);
    assert!(
        (prediction.weights[Modality::Text.index()] - 1.0).abs() < 1e-5,
        "{:?}",
        prediction.weights
    );
    assert!((prediction.probs.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    assert_eq!(prediction.attention[1].len(), prediction.words.len());

    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("demo");
    w.send(Command::Save { dir: path.clone() });
    until(&w, |e| matches!(e, Event::Saved(_)));
    w.send(Command::Load { dir: path.clone() });
    let loaded = until(&w, |e| matches!(e, Event::Loaded { .. }));
    let Some(Event::Loaded { card, .. }) = loaded.last() else {
        panic!()
    };
    assert_eq!(card.name, "demo");
}

#[test]
fn cancel_takes_effect_quickly() {
    let w = worker();
    w.send(train_cmd("synthetic:redundant?samples=400", 100));
    until(&w, |e| matches!(e, Event::Progress(_)));
    let asked = Instant::now();
    w.send(Command::Cancel);
    let events = until(&w, |e| {
        matches!(e, Event::TrainingFinished(_) | Event::Failed { .. })
    });
    let waited = asked.elapsed();
    let Some(Event::TrainingFinished(summary)) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(summary.stop, fusionlab::engine::StopReason::Cancelled);
    println!("cancel took {} ms", waited.as_millis());
    // Generous bound for a loaded CI machine; the figure itself is reported, not asserted tightly.
    assert!(waited < Duration::from_secs(3), "cancel took {waited:?}");
}

#[test]
fn a_bad_dataset_and_a_bad_device_are_single_failures() {
    let w = worker();
    w.send(train_cmd("/definitely/not/here", 1));
    let events = until(&w, |e| matches!(e, Event::Failed { .. }));
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Failed { .. }))
            .count(),
        1
    );
    if !cfg!(feature = "cuda") {
        let mut config = tiny(FusionKind::Early, 1);
        config.device = fusionlab::model::device::DeviceChoice::Cuda;
        w.send(Command::Train {
            dataset: "synthetic:redundant?samples=40".parse().unwrap(),
            load: LoadOptions::default(),
            config,
        });
        let events = until(&w, |e| matches!(e, Event::Failed { .. }));
        let Some(Event::Failed { message, .. }) = events.last() else {
            panic!()
        };
        assert!(
            message.contains("without CUDA") && message.contains("--features cuda"),
            "{message}"
        );
    }
}

/// Load the demo model, explore `spec` with it and return the exploration.
fn explore_with_demo(w: &WorkerHandle, request_id: u64, spec: &str) -> Exploration {
    w.send(Command::Load {
        dir: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/attention"),
    });
    w.send(Command::Explore {
        request_id,
        dataset: spec.parse().expect("spec"),
        load: LoadOptions::default(),
    });
    let events = until(w, |e| {
        matches!(e, Event::Explored(_) | Event::Failed { .. })
    });
    match events.last() {
        Some(Event::Explored(e)) => (**e).clone(),
        _ => panic!("{events:?}"),
    }
}

#[test]
fn explore_returns_every_sample_with_predictions_and_pca_then_tsne_streams() {
    let w = worker();
    let e = explore_with_demo(&w, 5, "synthetic:missing?samples=90");
    assert_eq!(e.request_id, 5);
    assert_eq!(e.samples.len(), 90);
    assert!(e.note.is_none(), "{:?}", e.note);
    assert!(e.samples.iter().all(|s| s.outcome.is_some()));
    // Thumbnails exist exactly for samples with an image; every space has a PCA layout of the
    // samples that have that modality (fused: all).
    for s in &e.samples {
        assert_eq!(s.thumb.is_some(), s.present[0]);
        let o = s.outcome.as_ref().expect("outcome");
        assert!((o.weights.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }
    assert_eq!(e.projections.len(), 4);
    for m in Modality::ALL {
        let with = e.samples.iter().filter(|s| s.present[m.index()]).count();
        assert_eq!(e.projections[m.index()].points.len(), with, "{}", m.name());
    }
    assert_eq!(e.projections[3].points.len(), 90);
    let pca = e.projections[3].pca.as_ref().expect("pca");
    assert!(pca.explained[0] >= pca.explained[1] && pca.explained[0] > 0.0);

    w.send(Command::Tsne {
        request_id: 6,
        space: 3,
        config: fusionlab::viz::tsne::TsneConfig {
            perplexity: 10.0,
            iterations: 150,
            ..Default::default()
        },
    });
    let events = until(&w, |e| {
        matches!(e, Event::Tsne { .. } | Event::Failed { .. })
    });
    let progress = events
        .iter()
        .filter(|e| matches!(e, Event::TsneProgress { request_id: 6, .. }))
        .count();
    assert!(progress >= 3, "t-SNE streamed {progress} layouts");
    let Some(Event::Tsne {
        points,
        samples,
        kl,
        ..
    }) = events.last()
    else {
        panic!("{events:?}")
    };
    assert_eq!(points.len(), 90);
    assert_eq!(samples.len(), 90);
    assert!(kl.is_finite());

    // Nearest neighbours of a sample in the fused space, nearest first, itself left out.
    w.send(Command::Neighbours {
        request_id: 7,
        space: 3,
        sample: 4,
        k: 5,
        metric: fusionlab::viz::knn::Metric::Cosine,
    });
    let events = until(&w, |e| {
        matches!(e, Event::Neighbours { .. } | Event::Failed { .. })
    });
    let Some(Event::Neighbours {
        neighbours,
        sample: 4,
        ..
    }) = events.last()
    else {
        panic!("{events:?}")
    };
    assert_eq!(neighbours.len(), 5);
    assert!(
        neighbours
            .iter()
            .all(|(j, d)| *j != 4 && (0.0..=2.0).contains(d))
    );
    assert!(neighbours.windows(2).all(|p| p[0].1 <= p[1].1));

    // The fused embeddings in the TensorBoard projector format, with the t-SNE coordinates.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("fused.tensorboard");
    let shown: Vec<(usize, [f32; 2], String)> = samples
        .iter()
        .zip(points)
        .map(|(&s, &p)| (s, p, "circle".to_owned()))
        .collect();
    w.send(Command::ExportEmbeddings {
        space: 3,
        dir: out.clone(),
        points: shown,
    });
    let events = until(&w, |e| {
        matches!(e, Event::Exported { .. } | Event::Failed { .. })
    });
    assert!(
        matches!(events.last(), Some(Event::Exported { .. })),
        "{events:?}"
    );
    let vectors = std::fs::read_to_string(out.join("vectors.tsv")).expect("vectors");
    assert_eq!(vectors.lines().count(), 90);
    let width = vectors.lines().next().expect("row").split('\t').count();
    assert!(
        vectors
            .lines()
            .all(|l| l.split('\t').count() == width && width > 1)
    );
    let metadata = std::fs::read_to_string(out.join("metadata.tsv")).expect("metadata");
    assert_eq!(metadata.lines().count(), 91);
    let coords = std::fs::read_to_string(out.join("coordinates.csv")).expect("coordinates");
    assert_eq!(coords.lines().count(), 91);
}

#[test]
fn explore_without_a_compatible_model_still_lists_the_samples_and_says_why() {
    let w = worker();
    let e = explore_with_demo(&w, 1, "synthetic:xor?samples=40");
    assert_eq!(e.samples.len(), 40);
    assert!(e.samples.iter().all(|s| s.outcome.is_none()));
    let note = e.note.clone().expect("a note");
    assert!(note.contains("classes"), "{note}");
    // t-SNE needs an exploration with embeddings.
    w.send(Command::Tsne {
        request_id: 2,
        space: 0,
        config: Default::default(),
    });
    let events = until(&w, |e| {
        matches!(e, Event::Failed { .. } | Event::Tsne { .. })
    });
    assert!(
        matches!(events.last(), Some(Event::Failed { context, .. }) if context == "Computing t-SNE")
    );
}

#[test]
fn decoding_files_samples_and_examples_never_waits_for_training() {
    use fusionlab::worker::Source;
    let w = worker();
    // A long training run occupies the main worker thread …
    w.send(train_cmd("synthetic:redundant?samples=200", 50));
    until(&w, |e| matches!(e, Event::Progress(_)));
    // … while decoding answers on the input thread, before the run ends (no timing involved).
    let examples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/examples/redundant");
    w.send(Command::Decode {
        request_id: 3,
        source: Source::Example(examples),
    });
    let events = until(&w, |e| {
        matches!(
            e,
            Event::Decoded { .. } | Event::Failed { .. } | Event::TrainingFinished(_)
        )
    });
    let Some(Event::Decoded {
        request_id: 3,
        input,
    }) = events.last()
    else {
        panic!("decoding waited for training: {events:?}")
    };
    let image = input.image.as_ref().expect("image");
    assert_eq!((image.width, image.height), (256, 256));
    assert_eq!(image.rgb.len(), 256 * 256 * 3);
    assert!(input.text.as_ref().is_some_and(|t| !t.is_empty()));
    assert_eq!(input.audio.as_ref().expect("audio").sample_rate, 16_000);
    // A synthetic sample regenerates exactly.
    let cfg = match "synthetic:missing?samples=50".parse().expect("spec") {
        fusionlab::data::DatasetSpec::Synthetic(c) => c,
        other => panic!("{other:?}"),
    };
    w.send(Command::Decode {
        request_id: 4,
        source: Source::Synthetic {
            config: cfg.clone(),
            features: Default::default(),
            index: 7,
        },
    });
    let events = until(&w, |e| {
        matches!(e, Event::Decoded { .. } | Event::Failed { .. })
    });
    let Some(Event::Decoded { input, .. }) = events.last() else {
        panic!("{events:?}")
    };
    let r = fusionlab::data::synthetic::render_sample(&cfg, &Default::default(), 7);
    assert_eq!(input.text, r.text);
    assert_eq!(input.audio.as_ref().map(|a| a.samples.clone()), r.audio);
    // A missing file fails once, naming it.
    w.send(Command::Decode {
        request_id: 5,
        source: Source::AudioFile("/nonexistent/clip.wav".into()),
    });
    let events = until(&w, |e| {
        matches!(e, Event::Failed { .. } | Event::Decoded { .. })
    });
    assert!(
        matches!(events.last(), Some(Event::Failed { message, .. }) if message.contains("/nonexistent/clip.wav")),
        "{events:?}"
    );
    w.send(Command::Cancel);
}
