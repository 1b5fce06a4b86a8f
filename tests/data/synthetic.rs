//! The built-in "Shapes & Sounds" presets must have the property each one teaches. Simple
//! classifiers prove it: per modality, k-nearest-neighbours (image, audio) or naive Bayes (text);
//! "additive" combinations multiply the per-modality posteriors (late fusion: evidence adds up
//! in log space); a joint k-NN on concatenated features can model interactions.

use fusionlab::data::synthetic::{Preset, SyntheticConfig, render_sample};
use fusionlab::data::{
    Dataset, DatasetSpec, LoadOptions, Modality, Origin, Quiet, Sample, Split, load_dataset,
};

use super::common::{accuracy_of, knn_log_posteriors, naive_bayes_log_posteriors, standardise};

fn load(spec: &str) -> Dataset {
    let spec: DatasetSpec = spec.parse().expect("spec");
    load_dataset(&spec, &LoadOptions::default(), &Quiet).expect("generate")
}

/// Features of one modality for the simple classifiers: the brightest channel of each pixel
/// (the shape's silhouette whatever its colour), time-averaged log-mel bands, bag of words.
fn features(d: &Dataset, s: &Sample, m: Modality) -> Option<Vec<f32>> {
    match m {
        Modality::Image => s.image.as_ref().map(|px| {
            let plane = px.len() / 3;
            (0..plane)
                .map(|i| px[i].max(px[plane + i]).max(px[2 * plane + i]))
                .collect()
        }),
        Modality::Audio => s.audio.as_ref().map(|mel| {
            let [bands, frames] = d.features.audio.shape();
            (0..bands)
                .map(|b| mel[b * frames..(b + 1) * frames].iter().sum::<f32>() / frames as f32)
                .collect()
        }),
        Modality::Text => s.text.as_ref().map(|t| {
            let mut bag = vec![0.0; d.vocab.len()];
            for &id in &t.ids {
                bag[id as usize] += 1.0;
            }
            bag
        }),
    }
}

/// Train and held-out (val + test) samples that have all the given modalities.
fn partition<'a>(d: &'a Dataset, modalities: &[Modality]) -> (Vec<&'a Sample>, Vec<&'a Sample>) {
    d.samples
        .iter()
        .filter(|s| modalities.iter().all(|&m| s.presence().has(m)))
        .partition(|s| s.split == Split::Train)
}

/// Log posteriors of one modality's classifier on the held-out samples.
fn log_posteriors(
    d: &Dataset,
    m: Modality,
    train: &[&Sample],
    test: &[&Sample],
    label: &dyn Fn(&Sample) -> usize,
    classes: usize,
) -> Vec<Vec<f64>> {
    let f = |s: &Sample| features(d, s, m).expect("present");
    let train: Vec<(Vec<f32>, usize)> = train.iter().map(|s| (f(s), label(s))).collect();
    let test: Vec<Vec<f32>> = test.iter().map(|s| f(s)).collect();
    match m {
        Modality::Text => naive_bayes_log_posteriors(&train, &test, classes),
        _ => knn_log_posteriors(&train, &test, 15, classes),
    }
}

/// Accuracy of the product of per-modality posteriors (a single modality: its own classifier).
fn accuracy(d: &Dataset, modalities: &[Modality]) -> f32 {
    attribute_accuracy(d, modalities, &|s: &Sample| s.label, d.classes.len())
}

fn attribute_accuracy(
    d: &Dataset,
    modalities: &[Modality],
    label: &dyn Fn(&Sample) -> usize,
    classes: usize,
) -> f32 {
    let (train, test) = partition(d, modalities);
    let mut total = vec![vec![0.0f64; classes]; test.len()];
    for &m in modalities {
        for (t, p) in total
            .iter_mut()
            .zip(log_posteriors(d, m, &train, &test, label, classes))
        {
            for (a, b) in t.iter_mut().zip(p) {
                *a += b;
            }
        }
    }
    let labels: Vec<usize> = test.iter().map(|s| label(s)).collect();
    accuracy_of(&total, &labels)
}

/// k-NN on the concatenation of the modalities' features (each block standardised): a
/// non-linear classifier that can pick up interactions between modalities.
fn joint_accuracy(d: &Dataset, modalities: &[Modality]) -> f32 {
    let (train, test) = partition(d, modalities);
    let mut train_rows = vec![Vec::new(); train.len()];
    let mut test_rows = vec![Vec::new(); test.len()];
    for &m in modalities {
        let mut a: Vec<Vec<f32>> = train
            .iter()
            .map(|s| features(d, s, m).expect("present"))
            .collect();
        let mut b: Vec<Vec<f32>> = test
            .iter()
            .map(|s| features(d, s, m).expect("present"))
            .collect();
        standardise(&mut a, &mut b);
        for (row, block) in train_rows
            .iter_mut()
            .zip(a)
            .chain(test_rows.iter_mut().zip(b))
        {
            row.extend(block);
        }
    }
    let train: Vec<(Vec<f32>, usize)> = train_rows
        .into_iter()
        .zip(train.iter().map(|s| s.label))
        .collect();
    let labels: Vec<usize> = test.iter().map(|s| s.label).collect();
    accuracy_of(
        &knn_log_posteriors(&train, &test_rows, 5, d.classes.len()),
        &labels,
    )
}

#[test]
fn same_seed_same_data_other_seed_other_data() {
    let a = load("synthetic:redundant?samples=40");
    let b = load("synthetic:redundant?samples=40");
    let c = load("synthetic:redundant?samples=40&seed=7");
    assert_eq!(a.samples, b.samples);
    assert_ne!(a.samples, c.samples);
    assert_eq!(a.samples.len(), 40);
    // Any sample can be regenerated alone.
    let cfg = SyntheticConfig {
        samples: 40,
        ..SyntheticConfig::new(Preset::Redundant)
    };
    let Origin::Synthetic { index } = a.samples[17].origin else {
        panic!("origin")
    };
    let r = render_sample(&cfg, &a.features, index);
    assert_eq!(r.label, a.samples[17].label);
    assert_eq!(
        r.text.as_deref(),
        a.samples[17].text.as_ref().map(|t| t.raw.as_str())
    );
}

#[test]
fn knobs_parse_and_bad_knobs_are_explained() {
    let DatasetSpec::Synthetic(cfg) =
        "synthetic:xor?samples=300&classes=3&audio_noise=0.5&missing=0.1&seed=9&split=0.6,0.2,0.2"
            .parse()
            .expect("spec")
    else {
        panic!("not synthetic")
    };
    assert_eq!(
        (cfg.preset, cfg.samples, cfg.classes, cfg.seed),
        (Preset::Xor, 300, 3, 9)
    );
    assert_eq!(cfg.noise[Modality::Audio.index()], 0.5);
    assert_eq!(cfg.missing, [0.1; 3]);
    assert_eq!(cfg.split.val, 0.2);
    // The spec string reproduces the configuration.
    assert_eq!(
        cfg.spec().parse::<DatasetSpec>().expect("respec"),
        DatasetSpec::Synthetic(cfg)
    );
    for (spec, needle) in [
        ("synthetic:nope", "unknown preset 'nope'"),
        (
            "synthetic:xor?classes=9",
            "classes=9 is not allowed for preset xor",
        ),
        ("synthetic:redundant?volume=11", "unknown knob 'volume'"),
        (
            "synthetic:redundant?image_noise=2",
            "image_noise=2 must be between 0 and 1",
        ),
        (
            "synthetic:redundant?samples=lots",
            "samples=lots: expected a whole number",
        ),
        (
            "synthetic:redundant?split=0.5,0.5",
            "expected three fractions",
        ),
    ] {
        let err = spec.parse::<DatasetSpec>().expect_err(spec).to_string();
        assert!(err.contains(needle), "{spec}: {err}");
    }
}

#[test]
fn splits_are_stratified_and_vocab_comes_from_train() {
    let d = load("synthetic:redundant?samples=400");
    let s = d.summary();
    let train = s.split(Split::Train).expect("train");
    assert_eq!(s.samples, 400);
    assert_eq!(train.total.samples, 280);
    assert!(
        train.classes.iter().all(|c| c.samples == 70),
        "{:?}",
        train.classes
    );
    assert!(d.vocab.len() > 10);
    assert!(
        d.samples
            .iter()
            .all(|s| s.text.as_ref().is_some_and(|t| !t.ids.is_empty()))
    );
}

#[test]
fn redundant_every_modality_alone_reveals_the_class() {
    let d = load("synthetic:redundant?samples=800");
    for m in Modality::ALL {
        let acc = accuracy(&d, &[m]);
        println!("redundant {}: {acc:.3}", m.name());
        assert!(acc >= 0.85, "{}: {acc}", m.name());
    }
}

#[test]
fn complementary_each_modality_is_capped_all_three_are_needed() {
    let d = load("synthetic:complementary?samples=1600");
    for m in Modality::ALL {
        let acc = accuracy(&d, &[m]);
        println!("complementary {}: {acc:.3}", m.name());
        // One modality reveals one of three bits: at most 2 of 8 classes → 0.25.
        assert!((0.17..=0.32).contains(&acc), "{}: {acc}", m.name());
    }
    // Each modality narrows the class to its half, so multiplying the three posteriors works.
    let all = accuracy(&d, &Modality::ALL);
    println!("complementary all: {all:.3}");
    assert!(all >= 0.85, "all three: {all}");
}

#[test]
fn xor_needs_the_interaction_of_image_and_audio() {
    let d = load("synthetic:xor?samples=1200");
    let cfg = match d.name.parse::<DatasetSpec>().expect("spec") {
        DatasetSpec::Synthetic(c) => c,
        DatasetSpec::Path(_) => panic!("not synthetic"),
    };
    let chance = 1.0 / cfg.classes as f32;
    for m in Modality::ALL {
        let acc = accuracy(&d, &[m]);
        println!("xor {}: {acc:.3}", m.name());
        assert!((acc - chance).abs() < 0.1, "{}: {acc}", m.name());
    }
    // Multiplying the image and audio evidence (an additive combination) is no better…
    let additive = accuracy(&d, &[Modality::Image, Modality::Audio]);
    println!("xor additive image+audio: {additive:.3}");
    assert!((additive - chance).abs() < 0.1, "additive: {additive}");
    // …while a non-linear classifier on both together finds the class,
    let joint = joint_accuracy(&d, &[Modality::Image, Modality::Audio]);
    println!("xor joint 5-NN image+audio: {joint:.3}");
    assert!(joint > 0.85, "joint: {joint}");
    // because each modality carries its attribute and the class is their interaction.
    let attrs = |s: &Sample| match s.origin {
        Origin::Synthetic { index } => render_sample(&cfg, &d.features, index).attributes,
        Origin::Files { .. } => panic!("synthetic"),
    };
    let shape_acc = attribute_accuracy(
        &d,
        &[Modality::Image],
        &|s: &Sample| attrs(s).shape,
        cfg.classes,
    );
    let pitch_acc = attribute_accuracy(
        &d,
        &[Modality::Audio],
        &|s: &Sample| attrs(s).pitch,
        cfg.classes,
    );
    println!("xor shape from image {shape_acc:.3}, pitch from audio {pitch_acc:.3}");
    assert!(shape_acc > 0.9 && pitch_acc > 0.9);
}

#[test]
fn noisy_image_hides_the_class_in_the_picture_only() {
    let clean = load("synthetic:redundant?samples=600");
    let noisy = load("synthetic:noisy-image?samples=600");
    let (clean_img, noisy_img) = (
        accuracy(&clean, &[Modality::Image]),
        accuracy(&noisy, &[Modality::Image]),
    );
    println!("image alone: clean {clean_img:.3}, noisy {noisy_img:.3}");
    assert!(
        noisy_img < clean_img - 0.2,
        "noise must hurt the image: {noisy_img} vs {clean_img}"
    );
    for m in [Modality::Audio, Modality::Text] {
        let acc = accuracy(&noisy, &[m]);
        println!("noisy-image {}: {acc:.3}", m.name());
        assert!(acc >= 0.85, "{}: {acc}", m.name());
    }
}

#[test]
fn missing_drops_each_modality_in_about_30_percent_and_keeps_one() {
    let d = load("synthetic:missing?samples=2000");
    let s = d.summary();
    for m in Modality::ALL {
        let present: usize = s.splits.iter().map(|x| x.total.present(m)).sum();
        let missing = 1.0 - present as f32 / s.samples as f32;
        assert!(
            (0.25..=0.35).contains(&missing),
            "{}: missing {missing}",
            m.name()
        );
    }
    assert!(d.samples.iter().all(|s| s.presence().count() >= 1));
    assert!(d.samples.iter().any(|s| s.presence().count() == 1));
}

#[test]
fn every_preset_has_an_explanation_and_class_names() {
    for p in Preset::ALL {
        let d = load(&format!("synthetic:{}?samples=64", p.name()));
        assert!(p.explanation().len() > 100, "{}", p.name());
        assert_eq!(d.description, p.explanation());
        let cfg = SyntheticConfig::new(p);
        assert_eq!(d.classes.len(), cfg.classes);
        assert!(d.samples.iter().all(|s| s.label < d.classes.len()));
    }
}

/// Reports progress and cancels once half the samples are done.
struct CancelHalfway {
    seen: std::sync::Mutex<Vec<(usize, usize)>>,
}

impl fusionlab::data::LoadObserver for CancelHalfway {
    fn progress(&self, done: usize, total: usize) {
        self.seen.lock().expect("lock").push((done, total));
    }
    fn cancelled(&self) -> bool {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .any(|&(done, total)| done * 2 >= total)
    }
}

#[test]
fn loads_report_progress_and_can_be_cancelled() {
    let spec: DatasetSpec = "synthetic:redundant?samples=2000".parse().expect("spec");
    let observer = CancelHalfway {
        seen: Default::default(),
    };
    let result = load_dataset(&spec, &LoadOptions::default(), &observer);
    assert!(
        matches!(result, Err(fusionlab::data::DatasetError::Cancelled)),
        "{result:?}"
    );
    let seen = observer.seen.lock().expect("lock");
    assert!(
        !seen.is_empty() && seen.iter().all(|&(d, t)| d <= t && t == 2000),
        "{seen:?}"
    );
    assert!(
        seen.iter().all(|&(d, _)| d < 2000),
        "stopped before the end"
    );
}
