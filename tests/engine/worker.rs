//! The worker thread: every job ends with exactly one terminal event carrying its id, errors are
//! single failures, Stop cancels only its job, predictions and decodes never wait for training.

use std::time::{Duration, Instant};

use fusionlab::data::{LoadOptions, Modality};
use fusionlab::engine::{RawInput, StopReason};
use fusionlab::model::FusionKind;
use fusionlab::worker::{
    Event, Exploration, Job, JobId, JobKind, Outcome, Source, Update, WorkerHandle,
};

use crate::common::{finish, run, tiny, until, worker};

fn train_job(spec: &str, epochs: usize) -> Job {
    Job::Train {
        dataset: spec.parse().expect("spec"),
        load: LoadOptions::default(),
        config: tiny(FusionKind::Attention, epochs),
    }
}

fn text_input(text: &str) -> Job {
    Job::Predict {
        input: RawInput {
            text: Some(text.into()),
            ..RawInput::default()
        },
    }
}

fn trained(outcome: &Outcome) -> &fusionlab::worker::TrainingSummary {
    match outcome {
        Outcome::Trained(s) => s,
        other => panic!("expected a trained model, got {other:?}"),
    }
}

#[test]
fn predicting_without_a_model_fails_once_and_the_worker_goes_on() {
    let w = worker();
    let id = w.start(text_input("a red circle"));
    let events = until(&w, |e| e.job() == id && e.is_terminal());
    match &events[..] {
        [
            Event::End {
                job,
                kind: JobKind::Predict,
                outcome: Outcome::Failed { message },
            },
        ] => {
            assert_eq!(*job, id);
            assert!(message.contains("no model"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Still alive: a training run works afterwards, and nothing follows its end.
    let done = run(&w, train_job("synthetic:redundant?samples=48", 1));
    trained(&done.outcome);
    assert!(
        w.recv_timeout(Duration::from_millis(100)).is_none(),
        "no extra events"
    );
}

#[test]
fn training_then_predicting_and_saving_through_the_worker() {
    let w = worker();
    let done = run(&w, train_job("synthetic:redundant?samples=96", 2));
    let u = &done.updates;
    assert!(u.iter().any(|e| matches!(e, Update::DatasetReady(_))));
    let started = u
        .iter()
        .position(|e| matches!(e, Update::TrainingStarted { .. }))
        .expect("started");
    let epochs: Vec<usize> = u
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            Update::Epoch(r) => {
                assert!(i > started);
                Some(r.epoch)
            }
            _ => None,
        })
        .collect();
    assert_eq!(epochs, vec![1, 2]);
    // The new model is announced before the run ends.
    assert!(matches!(u.last(), Some(Update::ModelChanged(_))), "{u:?}");
    assert_eq!(trained(&done.outcome).history.len(), 2);

    // Two predictions in a row: each ends once; the newer one answers.
    let first = w.start(text_input("a small blue circle"));
    let second = w.start(text_input("a small blue circle"));
    let a = finish(&w, first).outcome;
    assert!(
        matches!(a, Outcome::Prediction(_) | Outcome::Cancelled),
        "{a:?}"
    );
    let Outcome::Prediction(prediction) = finish(&w, second).outcome else {
        panic!("the newest prediction must answer")
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
    assert!(matches!(
        run(&w, Job::Save { dir: path.clone() }).outcome,
        Outcome::Saved(_)
    ));
    let Outcome::Loaded { card, .. } = run(&w, Job::Load { dir: path }).outcome else {
        panic!("load")
    };
    assert_eq!(card.name, "demo");
}

#[test]
fn cancel_takes_effect_quickly() {
    let w = worker();
    let id = w.start(train_job("synthetic:redundant?samples=400", 100));
    until(
        &w,
        |e| matches!(e, Event::Update { job, update: Update::Progress(_), .. } if *job == id),
    );
    let asked = Instant::now();
    w.cancel(id);
    let done = finish(&w, id);
    let waited = asked.elapsed();
    assert_eq!(trained(&done.outcome).stop, StopReason::Cancelled);
    println!("cancel took {} ms", waited.as_millis());
    // Generous bound for a loaded CI machine; the figure itself is reported, not asserted tightly.
    assert!(waited < Duration::from_secs(3), "cancel took {waited:?}");
}

/// On the old main one flag served every job: a Stop for the running job also stopped the one
/// queued behind it, and a job sent after the Stop cleared it, so the running job went on.
#[test]
fn stop_cancels_only_its_job_and_a_later_job_does_not_clear_it() {
    let w = worker();
    let long = w.start(train_job("synthetic:redundant?samples=400", 100));
    until(
        &w,
        |e| matches!(e, Event::Update { job, update: Update::Progress(_), .. } if *job == long),
    );
    w.cancel(long);
    // Sent after the Stop, while the long run still runs.
    let next = w.start(train_job("synthetic:redundant?samples=48", 2));
    let first = finish(&w, long);
    assert_eq!(trained(&first.outcome).stop, StopReason::Cancelled);
    let second = finish(&w, next);
    let summary = trained(&second.outcome);
    assert_eq!(
        summary.stop,
        StopReason::Completed,
        "the queued job was cancelled"
    );
    assert_eq!(summary.history.len(), 2);

    // Stopping a queued job ends it at once, without waiting for its turn, and only it.
    let running = w.start(train_job("synthetic:redundant?samples=400", 100));
    until(
        &w,
        |e| matches!(e, Event::Update { job, update: Update::Progress(_), .. } if *job == running),
    );
    let queued = w.start(train_job("synthetic:redundant?samples=48", 1));
    let after = w.start(train_job("synthetic:redundant?samples=48", 1));
    w.cancel(queued);
    let events = until(&w, |e| e.job() == queued && e.is_terminal());
    assert!(
        events.iter().all(|e| e.job() != queued || e.is_terminal()),
        "a cancelled queued job never runs: {events:?}"
    );
    assert!(
        matches!(
            events.last(),
            Some(Event::End {
                outcome: Outcome::Cancelled,
                kind: JobKind::Train,
                ..
            })
        ),
        "{events:?}"
    );
    // The running one is untouched by that; stop it, and the one after still runs.
    w.cancel(running);
    assert_eq!(
        trained(&finish(&w, running).outcome).stop,
        StopReason::Cancelled
    );
    assert_eq!(
        trained(&finish(&w, after).outcome).stop,
        StopReason::Completed
    );
    // Stopping a job that already ended changes nothing and sends nothing.
    w.cancel(after);
    assert!(w.recv_timeout(Duration::from_millis(200)).is_none());
}

#[test]
fn stopping_a_job_while_it_loads_its_dataset_ends_it_as_cancelled() {
    let w = worker();
    let id = w.start(train_job("synthetic:redundant?samples=30000", 1));
    until(
        &w,
        |e| matches!(e, Event::Update { job, update: Update::Loading { .. }, .. } if *job == id),
    );
    w.cancel(id);
    let done = finish(&w, id);
    assert!(matches!(done.outcome, Outcome::Cancelled), "{done:?}");
    assert!(
        !done
            .updates
            .iter()
            .any(|u| matches!(u, Update::TrainingStarted { .. })),
        "training started after the stop"
    );
}

/// On the old main a diverged run made its recovered model current and then only reported a
/// failure, so a listener never learnt that the model had changed.
#[test]
fn a_diverged_run_announces_the_model_it_kept_and_then_fails_once() {
    let w = worker();
    let mut config = tiny(FusionKind::Attention, 5);
    config.learning_rate = 100.0;
    config.clip_norm = 0.0;
    let id = w.start(Job::Train {
        dataset: "synthetic:redundant?samples=96".parse().expect("spec"),
        load: LoadOptions::default(),
        config,
    });
    let done = finish(&w, id);
    let changed: Vec<_> = done
        .updates
        .iter()
        .filter_map(|u| match u {
            Update::ModelChanged(card) => Some(card.model.fusion),
            _ => None,
        })
        .collect();
    assert_eq!(changed, vec![FusionKind::Attention], "{:?}", done.updates);
    let Outcome::Failed { message } = &done.outcome else {
        panic!("{:?}", done.outcome)
    };
    assert!(
        message.contains("diverged") && message.contains("learning rate"),
        "{message}"
    );
    // The kept model is the one predictions now use.
    let Outcome::Prediction(p) = run(&w, text_input("a big red circle")).outcome else {
        panic!("prediction")
    };
    assert!(p.probs.iter().all(|x| x.is_finite()));
}

#[test]
fn a_bad_dataset_and_a_bad_device_are_single_failures() {
    let w = worker();
    let done = run(&w, train_job("/definitely/not/here", 1));
    assert!(matches!(done.outcome, Outcome::Failed { .. }), "{done:?}");
    if !cfg!(feature = "cuda") {
        let mut config = tiny(FusionKind::Early, 1);
        config.device = fusionlab::model::device::DeviceChoice::Cuda;
        let done = run(
            &w,
            Job::Train {
                dataset: "synthetic:redundant?samples=40".parse().expect("spec"),
                load: LoadOptions::default(),
                config,
            },
        );
        let Outcome::Failed { message } = &done.outcome else {
            panic!("{done:?}")
        };
        assert!(
            message.contains("without CUDA") && message.contains("--features cuda"),
            "{message}"
        );
    }
}

/// Load the demo model, explore `spec` with it and return the exploration.
fn explore_with_demo(w: &WorkerHandle, spec: &str) -> Exploration {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/attention");
    assert!(matches!(
        run(w, Job::Load { dir }).outcome,
        Outcome::Loaded { .. }
    ));
    match run(
        w,
        Job::Explore {
            dataset: spec.parse().expect("spec"),
            load: LoadOptions::default(),
        },
    )
    .outcome
    {
        Outcome::Explored(e) => *e,
        other => panic!("{other:?}"),
    }
}

#[test]
fn explore_returns_every_sample_with_predictions_and_pca_then_tsne_streams() {
    let w = worker();
    let e = explore_with_demo(&w, "synthetic:missing?samples=90");
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

    let done = run(
        &w,
        Job::Tsne {
            space: 3,
            config: fusionlab::viz::tsne::TsneConfig {
                perplexity: 10.0,
                iterations: 150,
                ..Default::default()
            },
        },
    );
    let progress = done
        .updates
        .iter()
        .filter(|u| matches!(u, Update::TsneProgress { .. }))
        .count();
    assert!(progress >= 3, "t-SNE streamed {progress} layouts");
    let Outcome::Tsne {
        points,
        samples,
        kl,
        ..
    } = done.outcome
    else {
        panic!("{:?}", done.outcome)
    };
    assert_eq!(points.len(), 90);
    assert_eq!(samples.len(), 90);
    assert!(kl.is_finite());

    // Nearest neighbours of a sample in the fused space, nearest first, itself left out.
    let done = run(
        &w,
        Job::Neighbours {
            space: 3,
            sample: 4,
            k: 5,
            metric: fusionlab::viz::knn::Metric::Cosine,
        },
    );
    let Outcome::Neighbours {
        neighbours,
        sample: 4,
        ..
    } = done.outcome
    else {
        panic!("{:?}", done.outcome)
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
        .zip(&points)
        .map(|(&s, &p)| (s, p, "circle".to_owned()))
        .collect();
    let done = run(
        &w,
        Job::ExportEmbeddings {
            space: 3,
            dir: out.clone(),
            points: shown,
        },
    );
    assert!(matches!(done.outcome, Outcome::Exported { .. }), "{done:?}");
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
    let e = explore_with_demo(&w, "synthetic:xor?samples=40");
    assert_eq!(e.samples.len(), 40);
    assert!(e.samples.iter().all(|s| s.outcome.is_none()));
    let note = e.note.clone().expect("a note");
    assert!(note.contains("classes"), "{note}");
    // t-SNE needs an exploration with embeddings.
    let id = w.start(Job::Tsne {
        space: 0,
        config: Default::default(),
    });
    let events = until(&w, |e| e.job() == id && e.is_terminal());
    assert!(
        matches!(
            events.last(),
            Some(Event::End {
                kind: JobKind::Tsne,
                outcome: Outcome::Failed { .. },
                ..
            })
        ),
        "{events:?}"
    );
}

#[test]
fn decoding_files_samples_and_examples_never_waits_for_training() {
    let w = worker();
    // A long training run occupies the main worker thread …
    let training = w.start(train_job("synthetic:redundant?samples=200", 50));
    until(
        &w,
        |e| matches!(e, Event::Update { job, update: Update::Progress(_), .. } if *job == training),
    );
    // … while decoding answers on the input thread, before the run ends (no timing involved).
    let examples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/examples/redundant");
    let decode = w.start(Job::Decode {
        source: Source::Example(examples),
    });
    let events = until(&w, |e| e.is_terminal());
    let Some(Event::End {
        job,
        outcome: Outcome::Decoded(input),
        ..
    }) = events.last()
    else {
        panic!("decoding waited for training: {events:?}")
    };
    assert_eq!(*job, decode);
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
    let done = run(
        &w,
        Job::Decode {
            source: Source::Synthetic {
                config: cfg.clone(),
                features: Default::default(),
                index: 7,
            },
        },
    );
    let Outcome::Decoded(input) = done.outcome else {
        panic!("{done:?}")
    };
    let r = fusionlab::data::synthetic::render_sample(&cfg, &Default::default(), 7);
    assert_eq!(input.text, r.text);
    assert_eq!(input.audio.as_ref().map(|a| a.samples.clone()), r.audio);
    // A missing file fails once, naming it.
    let done = run(
        &w,
        Job::Decode {
            source: Source::AudioFile("/nonexistent/clip.wav".into()),
        },
    );
    assert!(
        matches!(&done.outcome, Outcome::Failed { message } if message.contains("/nonexistent/clip.wav")),
        "{done:?}"
    );
    w.cancel(training);
    finish(&w, training);
}

/// The job model under random interleavings: jobs of every kind started, stopped and replaced
/// in a seeded random order. Every started job ends exactly once, with its own id and kind,
/// and nothing about a job arrives after its end.
#[test]
fn random_interleavings_end_every_job_exactly_once() {
    use rand::{Rng as _, SeedableRng as _};
    let w = worker();
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/attention");
    let scratch = tempfile::tempdir().expect("tempdir");
    let spec = "synthetic:redundant?samples=60";
    let dataset = || spec.parse().expect("spec");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(14);
    let mut started: Vec<(JobId, JobKind)> = Vec::new();
    let mut ended: std::collections::HashSet<JobId> = Default::default();
    let mut events = Vec::new();
    let drain = |events: &mut Vec<Event>| {
        while let Some(e) = w.recv_timeout(Duration::from_millis(1)) {
            events.push(e);
        }
    };
    for step in 0..300 {
        let job = match rng.random_range(0..13) {
            0 => train_job(spec, rng.random_range(1..4)),
            1 => Job::Evaluate {
                dataset: dataset(),
                load: LoadOptions::default(),
                split: None,
            },
            2 => text_input("a small red circle"),
            3 => Job::Save {
                dir: scratch.path().join(format!("m{step}")),
            },
            4 => Job::Load { dir: demo.clone() },
            5 => Job::Decode {
                source: Source::TextFile("/nonexistent.txt".into()),
            },
            6 => Job::Explore {
                dataset: dataset(),
                load: LoadOptions::default(),
            },
            7 => Job::Tsne {
                space: 3,
                config: fusionlab::viz::tsne::TsneConfig {
                    iterations: 60,
                    perplexity: 5.0,
                    ..Default::default()
                },
            },
            8 => Job::Neighbours {
                space: 3,
                sample: rng.random_range(0..60),
                k: 3,
                metric: fusionlab::viz::knn::Metric::Euclidean,
            },
            9 => Job::Compare {
                dataset: dataset(),
                load: LoadOptions::default(),
                config: tiny(FusionKind::Late, 1),
                fusions: vec![FusionKind::Late, FusionKind::Early],
            },
            10 => Job::Robustness {
                dataset: dataset(),
                load: LoadOptions::default(),
                config: fusionlab::engine::robustness::RobustnessConfig {
                    levels: 2,
                    ..Default::default()
                },
                compared: rng.random_bool(0.5),
            },
            11 => Job::Contributions {
                dataset: dataset(),
                load: LoadOptions::default(),
                split: None,
            },
            _ => Job::ExportEmbeddings {
                space: 3,
                dir: scratch.path().join(format!("e{step}")),
                points: vec![(0, [0.0, 0.0], "circle".into())],
            },
        };
        let kind = job.kind();
        started.push((w.start(job), kind));
        // Stop some at random: the newest, or any earlier one (running, queued or ended).
        for _ in 0..rng.random_range(0..3) {
            let (id, _) = started[rng.random_range(0..started.len())];
            w.cancel(id);
        }
        if rng.random_bool(0.3) {
            drain(&mut events);
        }
        if step % 50 == 49 {
            // Let the worker catch up now and then, so jobs also run and not only queue.
            let last = started.last().map(|s| s.0).expect("a job");
            events.extend(until(&w, |e| e.job() == last && e.is_terminal()));
        }
    }
    for &(id, _) in &started {
        if !events.iter().any(|e| e.job() == id && e.is_terminal()) {
            events.extend(until(&w, |e| e.job() == id && e.is_terminal()));
        }
    }
    drain(&mut events);
    let kinds: std::collections::HashMap<JobId, JobKind> = started.iter().copied().collect();
    for e in &events {
        let id = e.job();
        assert_eq!(
            kinds.get(&id),
            Some(&e.kind()),
            "an event of an unknown job: {e:?}"
        );
        assert!(
            !ended.contains(&id),
            "an event after the end of {id}: {e:?}"
        );
        if e.is_terminal() {
            ended.insert(id);
        }
    }
    assert_eq!(ended.len(), started.len(), "every job ends exactly once");
    let cancelled = events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::End {
                    outcome: Outcome::Cancelled,
                    ..
                }
            )
        })
        .count();
    println!(
        "{} jobs, {} events, {cancelled} ended as cancelled",
        started.len(),
        events.len()
    );
}
