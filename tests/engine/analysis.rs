//! Robustness corruptions and curves, Shapley efficiency, contributions, and the worker's
//! compare → robustness → contributions flow.

use candle_core::Device;
use fusionlab::data::{LoadOptions, Sample};
use fusionlab::engine::extract::{ExtractOptions, Extractor};
use fusionlab::engine::robustness::{
    Corrupter, Corruption, RobustnessConfig, area_under_curve, effective_robustness, robustness,
};
use fusionlab::engine::{Batcher, contribution::contributions, evaluate, train};
use fusionlab::model::checkpoint::LoadedModel;
use fusionlab::model::{FusionKind, shapley_values};
use fusionlab::worker::{Event, Job, JobId, JobKind, Outcome, Update, WorkerHandle};

use crate::common::{Recorder, finish, run, synthetic, tiny, until, worker};

fn batcher(model: &LoadedModel) -> Batcher<'_> {
    Batcher {
        config: model.model.config(),
        vocab: &model.card.vocab,
        device: &Device::Cpu,
    }
}

fn l2(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

#[test]
fn corruptions_do_nothing_at_level_zero_and_grow_with_the_level() {
    let data = synthetic("synthetic:redundant?samples=40");
    let c = Corrupter::new(&data.features, &data.vocab, 3);
    let s = &data.samples[0];
    for corruption in Corruption::ALL {
        assert_eq!(
            &c.corrupt(s, 0, corruption, 0.0),
            s,
            "{corruption} at level 0"
        );
    }
    // Continuous damage grows with the level (same noise, scaled).
    let image = s.image.as_ref().unwrap();
    let audio = s.audio.as_ref().unwrap();
    for corruption in [
        Corruption::ImageNoise,
        Corruption::ImageOcclusion,
        Corruption::ImageBlur,
        Corruption::AudioNoise,
        Corruption::AudioDropout,
    ] {
        let damage: Vec<f32> = [0.25f32, 0.5, 1.0]
            .iter()
            .map(|&l| {
                let d = c.corrupt(s, 0, corruption, l);
                match corruption.modality() {
                    0 => l2(d.image.as_ref().unwrap(), image),
                    _ => l2(d.audio.as_ref().unwrap(), audio),
                }
            })
            .collect();
        assert!(
            damage[0] > 0.0 && damage[0] < damage[1] && damage[1] < damage[2],
            "{corruption}: {damage:?}"
        );
    }
    // White noise at level 0.75 is 0 dB: added mel energy about equals the signal's.
    let noisy = c.corrupt(s, 0, Corruption::AudioNoise, 0.75);
    let energy = |v: &[f32]| v.iter().map(|x| f64::from(*x).exp()).sum::<f64>();
    let ratio = (energy(noisy.audio.as_ref().unwrap()) - energy(audio)) / energy(audio);
    assert!((0.9..1.1).contains(&ratio), "noise/signal energy {ratio}");
    // Dropped words form nested sets; at level 1 the text is gone.
    let words = |l: f32| {
        c.corrupt(s, 0, Corruption::TextDropout, l)
            .text
            .map(|t| t.words)
            .unwrap_or_default()
    };
    let (w3, w6) = (words(0.3), words(0.6));
    assert!(w6.iter().all(|w| w3.contains(w)), "{w3:?} then {w6:?}");
    assert!(c.corrupt(s, 0, Corruption::TextDropout, 1.0).text.is_none());
    let typos = c.corrupt(s, 0, Corruption::TextTypos, 1.0).text.unwrap();
    let original = &s.text.as_ref().unwrap().words;
    assert_eq!(typos.words.len(), original.len());
    assert!(typos.words.iter().zip(original).all(|(a, b)| a != b));
    let swapped = c.corrupt(s, 0, Corruption::TextSwaps, 1.0).text.unwrap();
    let mut sorted = swapped.words.clone();
    sorted.sort();
    let mut expected = original.clone();
    expected.sort();
    assert_eq!(sorted, expected, "swaps keep the words");
    // Missing: about `level` of the samples lose the modality, nested across levels.
    let gone = |l: f32| -> Vec<bool> {
        data.samples
            .iter()
            .enumerate()
            .map(|(i, s)| c.corrupt(s, i, Corruption::ImageMissing, l).image.is_none())
            .collect()
    };
    let (g4, g8) = (gone(0.4), gone(0.8));
    assert!(g4.iter().zip(&g8).all(|(a, b)| !a || *b), "nested");
    let frac = g8.iter().filter(|&&g| g).count() as f32 / g8.len() as f32;
    assert!((0.6..=0.95).contains(&frac), "{frac}");
    assert!(gone(1.0).iter().all(|&g| g));
}

#[test]
fn corruptions_of_the_original_inputs_a_backbone_reads_match_their_names() {
    use fusionlab::engine::extract::BackboneInput;
    let data = synthetic("synthetic:redundant?samples=4");
    let c = Corrupter::new(&data.features, &data.vocab, 3);
    // A 96 × 48 picture (not the model's 32 px square) of flat mid-dark grey.
    let picture = || BackboneInput::Image(image::RgbImage::from_pixel(96, 48, image::Rgb([60; 3])));
    let pixels = |input: &BackboneInput| match input {
        BackboneInput::Image(img) => img.as_raw().clone(),
        _ => unreachable!(),
    };
    let clean = pixels(&picture());
    let mut input = picture();
    assert!(c.corrupt_input(&mut input, 0, Corruption::ImageNoise, 0.0));
    assert_eq!(pixels(&input), clean, "level 0 leaves it alone");
    // Occlusion paints mid grey over the level's share of the area, whatever the shape.
    let mut input = picture();
    c.corrupt_input(&mut input, 0, Corruption::ImageOcclusion, 0.25);
    let grey = pixels(&input).iter().filter(|&&v| v == 128).count();
    let share = grey as f32 / clean.len() as f32;
    assert!((0.22..=0.28).contains(&share), "{share}");
    // Noise of σ 0.1 (in 0..1 pixels) on every pixel; blur keeps a flat picture flat.
    let mut input = picture();
    c.corrupt_input(&mut input, 0, Corruption::ImageNoise, 0.1);
    let sd = (pixels(&input)
        .iter()
        .zip(&clean)
        .map(|(&a, &b)| (f32::from(a) - f32::from(b)).powi(2))
        .sum::<f32>()
        / clean.len() as f32)
        .sqrt()
        / 255.0;
    assert!((0.09..=0.11).contains(&sd), "noise σ {sd}");
    let mut input = picture();
    c.corrupt_input(&mut input, 0, Corruption::ImageBlur, 1.0);
    assert_eq!(pixels(&input), clean);

    // Words of the sentence as written: every one dropped leaves nothing.
    let mut text = BackboneInput::Text("The Cat, sat on the mat".into());
    assert!(!c.corrupt_input(&mut text, 0, Corruption::TextDropout, 1.0));
    let mut text = BackboneInput::Text("The Cat, sat on the mat".into());
    assert!(c.corrupt_input(&mut text, 0, Corruption::TextSwaps, 1.0));
    let BackboneInput::Text(swapped) = text else {
        unreachable!()
    };
    assert_eq!(swapped, "Cat, The on sat mat the");

    // White noise at the level's SNR (level 0.5: 10 dB) on the waveform's power.
    let tone: Vec<f32> = (0..16_000).map(|i| 0.3 * (i as f32 * 0.05).sin()).collect();
    let power = |w: &[f32]| w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32;
    let mut audio = BackboneInput::Audio(tone.clone());
    c.corrupt_input(&mut audio, 0, Corruption::AudioNoise, 0.5);
    let BackboneInput::Audio(noisy) = audio else {
        unreachable!()
    };
    let noise: Vec<f32> = noisy.iter().zip(&tone).map(|(a, b)| a - b).collect();
    let snr = 10.0 * (power(&tone) / power(&noise)).log10();
    assert!((snr - 10.0).abs() < 0.3, "SNR {snr} dB");
    // Dropout silences 100 ms segments: 3 of 10 at level 0.3.
    let mut audio = BackboneInput::Audio(vec![0.5; 16_000]);
    c.corrupt_input(&mut audio, 0, Corruption::AudioDropout, 0.3);
    let BackboneInput::Audio(gaps) = audio else {
        unreachable!()
    };
    assert_eq!(gaps.iter().filter(|&&v| v == 0.0).count(), 4_800);
    assert!(gaps.chunks(1_600).all(|s| s.iter().all(|&v| v == s[0])));
}

#[test]
fn robustness_to_a_missing_modality_never_rises_on_samples_the_model_gets_right() {
    let data = synthetic("synthetic:complementary?samples=240");
    let out = train(
        &data,
        &tiny(FusionKind::Early, 10),
        &Device::Cpu,
        &Recorder::default(),
    )
    .expect("train");
    let model = &out.model;
    let batcher = batcher(model);
    // On samples it classifies correctly when clean, removing a modality from more of them (the
    // removed sets are nested) can only lose accuracy: the curve must be non-increasing.
    let all: Vec<&Sample> = data.samples.iter().collect();
    let results = evaluate(
        &model.model,
        &batcher,
        &all,
        data.classes.len(),
        true,
        &|| false,
    )
    .expect("evaluate")
    .expect("not cancelled");
    let right: Vec<&Sample> = results
        .samples
        .iter()
        .zip(&all)
        .filter(|(r, _)| r.predicted == r.label)
        .map(|(_, s)| *s)
        .collect();
    assert!(right.len() >= 10, "only {} right", right.len());
    let corrupter = Corrupter::new(&data.features, &data.vocab, 5);
    let cfg = RobustnessConfig {
        corruptions: vec![
            Corruption::ImageMissing,
            Corruption::TextMissing,
            Corruption::AudioMissing,
        ],
        levels: 6,
        seed: 5,
    };
    let mut extractor = Extractor::new(ExtractOptions::default(), Device::Cpu);
    let mut calls = Vec::new();
    let (clean, curves) = robustness(
        &model.model,
        &batcher,
        &corrupter,
        &mut extractor,
        &right,
        &cfg,
        &mut |done, total| {
            calls.push((done, total));
            true
        },
    )
    .expect("robustness")
    .expect("not cancelled");
    assert_eq!(clean, 1.0);
    // Progress counts samples: the clean run, then 5 levels of each corruption.
    let units = 16 * right.len();
    assert_eq!(calls.last(), Some(&(units, units)));
    assert_eq!(curves.len(), 3);
    for c in &curves {
        assert_eq!(c.accuracy.len(), 6);
        assert!(
            c.accuracy.windows(2).all(|w| w[1] <= w[0] + 1e-6),
            "{}: {:?}",
            c.corruption,
            c.accuracy
        );
        assert!(c.relative <= 1.0 && c.relative > 0.0);
    }
    // Complementary data needs every modality: losing all of one must hurt.
    assert!(curves.iter().any(|c| c.accuracy[5] < 0.9), "{curves:?}");
    // Cancel stops at once.
    let cancelled = robustness(
        &model.model,
        &batcher,
        &corrupter,
        &mut extractor,
        &right,
        &cfg,
        &mut |_, _| false,
    )
    .expect("robustness");
    assert!(cancelled.is_none());
}

#[test]
fn area_and_effective_robustness_on_known_curves() {
    let levels = [0.0, 0.25, 0.5, 0.75, 1.0];
    assert!((area_under_curve(&levels, &[1.0; 5]) - 1.0).abs() < 1e-6);
    assert!((area_under_curve(&levels, &[1.0, 0.75, 0.5, 0.25, 0.0]) - 0.5).abs() < 1e-6);
    let late = [0.9, 0.7, 0.5, 0.3, 0.1];
    assert_eq!(effective_robustness(&late, &late), Some(0.0));
    // Same drop from a higher start: no better than late fusion.
    let shifted = late.map(|a| a + 0.05);
    assert!(effective_robustness(&shifted, &late).unwrap().abs() < 1e-6);
    let flatter = [0.8, 0.75, 0.7, 0.65, 0.6];
    assert!(effective_robustness(&flatter, &late).unwrap() > 0.1);
    assert_eq!(effective_robustness(&flatter, &late[..3]), None);
}

#[test]
fn shapley_values_add_up_to_full_minus_empty() {
    // A game with interactions: v(S) for coalitions of image (1), text (2), audio (4).
    let games: [[f32; 8]; 3] = [
        [0.1, 0.3, 0.2, 0.6, 0.25, 0.5, 0.4, 0.9],
        [0.25; 8],
        [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0], // xor-like: only image+text together
    ];
    for v in games {
        let phi = shapley_values(&v);
        let sum: f32 = phi.iter().sum();
        assert!((sum - (v[7] - v[0])).abs() < 1e-5, "{phi:?} for {v:?}");
    }
    let phi = shapley_values(&games[2]);
    assert!((phi[0] - 0.5).abs() < 1e-6 && (phi[1] - 0.5).abs() < 1e-6 && phi[2].abs() < 1e-6);
}

#[test]
fn contributions_give_native_and_shapley_weights_per_class() {
    let data = synthetic("synthetic:redundant?samples=120");
    let samples: Vec<&Sample> = data.samples.iter().collect();
    for (fusion, native) in [(FusionKind::Attention, true), (FusionKind::Early, false)] {
        let out =
            train(&data, &tiny(fusion, 2), &Device::Cpu, &Recorder::default()).expect("train");
        let batcher = batcher(&out.model);
        let rows = contributions(
            &out.model.model,
            &batcher,
            &samples,
            data.classes.len(),
            &|| false,
        )
        .expect("contributions")
        .expect("not cancelled");
        assert_eq!(rows.len(), 1 + data.classes.len());
        assert_eq!(rows[0].class, None);
        assert_eq!(rows[0].samples, samples.len());
        assert_eq!(
            rows[1..].iter().map(|r| r.samples).sum::<usize>(),
            samples.len()
        );
        for r in &rows {
            assert!((r.shapley.iter().sum::<f32>() - 1.0).abs() < 1e-3, "{r:?}");
            assert_eq!(r.native.is_some(), native, "{fusion}");
            if let Some(n) = r.native {
                assert!((n.iter().sum::<f32>() - 1.0).abs() < 1e-3, "{r:?}");
            }
        }
    }
}

/// The outcome of `job`, which must succeed, with the job's updates.
fn succeed(w: &WorkerHandle, job: Job) -> (Vec<Update>, Outcome) {
    let done = run(w, job);
    if let Outcome::Failed { message } = &done.outcome {
        panic!("{message}");
    }
    (done.updates, done.outcome)
}

#[test]
fn the_worker_compares_methods_then_measures_all_of_them_and_explains_the_best() {
    let w = worker();
    let spec = "synthetic:xor?samples=160";
    let (updates, outcome) = succeed(
        &w,
        Job::Compare {
            dataset: spec.parse().unwrap(),
            load: LoadOptions::default(),
            config: tiny(FusionKind::Attention, 2),
            fusions: vec![FusionKind::Early, FusionKind::Late],
        },
    );
    let steps: Vec<FusionKind> = updates
        .iter()
        .filter_map(|e| match e {
            Update::CompareStep { fusion, .. } => Some(*fusion),
            _ => None,
        })
        .collect();
    assert_eq!(steps, [FusionKind::Early, FusionKind::Late]);
    let finished = updates
        .iter()
        .filter(|e| matches!(e, Update::MethodTrained(_)))
        .count();
    assert_eq!(finished, 2);
    let Outcome::Compared {
        trained,
        best,
        card,
    } = outcome
    else {
        unreachable!()
    };
    assert_eq!(trained, [FusionKind::Early, FusionKind::Late]);
    assert_eq!(best.unwrap(), card.as_ref().unwrap().model.fusion);
    // The last model announced is the best one, which stays current.
    let Some(Update::ModelChanged(last)) = updates.last() else {
        panic!("{updates:?}")
    };
    assert_eq!(Some(last.model.fusion), best);

    let (updates, outcome) = succeed(
        &w,
        Job::Robustness {
            dataset: spec.parse().unwrap(),
            load: LoadOptions::default(),
            config: RobustnessConfig {
                corruptions: vec![Corruption::AudioMissing, Corruption::ImageNoise],
                levels: 3,
                seed: 1,
            },
            compared: true,
        },
    );
    assert!(
        updates.iter().any(
            |e| matches!(e, Update::Loading { what, .. } if what.starts_with("robustness of"))
        )
    );
    let Outcome::Robustness { reports, .. } = outcome else {
        unreachable!()
    };
    assert_eq!(reports.len(), 2);
    for r in &reports {
        assert_eq!(r.curves.len(), 2);
        for c in &r.curves {
            assert_eq!(c.levels, [0.0, 0.5, 1.0]);
            assert!(c.effective.is_some(), "late fusion was measured too");
        }
    }
    let late = reports
        .iter()
        .find(|r| r.fusion == FusionKind::Late)
        .unwrap();
    assert!(late.curves.iter().all(|c| c.effective == Some(0.0)));

    let (_, outcome) = succeed(
        &w,
        Job::Contributions {
            dataset: spec.parse().unwrap(),
            load: LoadOptions::default(),
            split: None,
        },
    );
    let Outcome::Contributions { rows, fusion, .. } = outcome else {
        unreachable!()
    };
    assert_eq!(Some(fusion), best);
    assert_eq!(rows[0].class, None);
}

/// On the old main robustness and contributions shared one request id, so asking for one threw
/// the other's answer away. Now each is a job of its own: both answers arrive, each under its id.
#[test]
fn robustness_and_contributions_started_together_both_answer_under_their_own_ids() {
    let w = worker();
    let spec = "synthetic:redundant?samples=60";
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/attention");
    succeed(&w, Job::Load { dir });
    let robustness = w.start(Job::Robustness {
        dataset: spec.parse().unwrap(),
        load: LoadOptions::default(),
        config: RobustnessConfig {
            corruptions: vec![Corruption::TextMissing],
            levels: 2,
            seed: 1,
        },
        compared: false,
    });
    let contributions = w.start(Job::Contributions {
        dataset: spec.parse().unwrap(),
        load: LoadOptions::default(),
        split: None,
    });
    let events = until(&w, |e| e.job() == contributions && e.is_terminal());
    let ends: Vec<(JobId, JobKind, bool)> = events
        .iter()
        .filter_map(|e| match e {
            Event::End { job, kind, outcome } => Some((
                *job,
                *kind,
                matches!(
                    (kind, outcome),
                    (JobKind::Robustness, Outcome::Robustness { .. })
                        | (JobKind::Contributions, Outcome::Contributions { .. })
                ),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        ends,
        [
            (robustness, JobKind::Robustness, true),
            (contributions, JobKind::Contributions, true)
        ],
        "{events:?}"
    );
}

#[test]
fn stopping_a_comparison_ends_it_with_the_methods_done_so_far() {
    let w = worker();
    let id = w.start(Job::Compare {
        dataset: "synthetic:redundant?samples=160".parse().unwrap(),
        load: LoadOptions::default(),
        config: tiny(FusionKind::Attention, 50),
        fusions: vec![FusionKind::Early, FusionKind::Late, FusionKind::Gated],
    });
    until(
        &w,
        |e| matches!(e, Event::Update { job, update: Update::Epoch(_), .. } if *job == id),
    );
    w.cancel(id);
    let done = finish(&w, id);
    let Outcome::Compared { trained, .. } = done.outcome else {
        panic!("{:?}", done.outcome)
    };
    assert!(
        trained.is_empty(),
        "the first method was stopped: {trained:?}"
    );
    // (`finish` sees only what came after the stop.)
    let steps = done
        .updates
        .iter()
        .filter(|e| matches!(e, Update::CompareStep { .. }))
        .count();
    assert_eq!(steps, 0, "no further method started after Stop");
}
