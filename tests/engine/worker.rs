//! The worker thread: event sequences, errors as single `Failed` events, cancel, predictions.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fusionlab::data::{LoadOptions, Modality};
use fusionlab::engine::RawInput;
use fusionlab::model::FusionKind;
use fusionlab::worker::{Command, Event, WorkerHandle};

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
