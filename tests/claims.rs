//! Every claim the app makes about a method or a preset (`fusionlab::engine::claims`) holds:
//! each set-up is trained with exactly the settings the app uses (its defaults, the method,
//! a lesson's own settings) on the default-size dataset, on three seeds, and the claim is checked
//! on the validation split. Prints the claims table (claim → measured value per seed → holds?).

use std::collections::BTreeMap;

use candle_core::Device;
use fusionlab::data::Split;
use fusionlab::data::{Dataset, LoadOptions, Quiet, load_dataset};
use fusionlab::engine::claims::{self, Claim, Observation, SEEDS};
use fusionlab::engine::contribution::contributions;
use fusionlab::engine::{Batcher, EpochReport, Progress, TrainObserver, train};

struct Silent;

impl TrainObserver for Silent {
    fn progress(&self, _: &Progress) {}
    fn epoch(&self, _: &EpochReport) {}
    fn cancelled(&self) -> bool {
        false
    }
}

fn dataset(spec: &str) -> Dataset {
    let spec = spec.parse().expect("claim dataset spec");
    load_dataset(&spec, &LoadOptions::default(), &Quiet).expect("claim dataset")
}

/// One training run per (set-up, seed), shared by the claims about it: the validation
/// evaluation and the validation samples' mean Shapley weights (as Analysis > Modality
/// contribution computes them).
fn observe(claim: &Claim, seed: u64, data: &Dataset) -> Observation {
    let outcome = train(data, &claim.config(seed), &Device::Cpu, &Silent).expect("training");
    let model = &outcome.model;
    let batcher = Batcher {
        config: model.model.config(),
        vocab: &model.card.vocab,
        device: &Device::Cpu,
    };
    let val: Vec<_> = data
        .samples
        .iter()
        .filter(|s| s.split == Split::Val)
        .collect();
    let rows = contributions(&model.model, &batcher, &val, data.classes.len(), &|| false)
        .expect("contributions")
        .expect("not cancelled");
    Observation {
        val: outcome.val.expect("a validation evaluation"),
        shapley: rows[0].shapley,
    }
}

/// A lesson claim's settings are the lesson file's: the same dataset, and the same training
/// settings apart from the method the lesson asks to try and the seed.
fn check_lesson_settings(claim: &Claim) {
    let Some(file) = claim.lesson else { return };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/lessons")
        .join(file);
    let lesson = fusionlab::app::lesson::Lesson::load(&path).expect("lesson file");
    assert_eq!(
        lesson.dataset, claim.dataset,
        "{}: dataset differs from {file}",
        claim.id
    );
    let mut ours = claim.config(lesson.train.seed);
    ours.fusion = lesson.train.fusion;
    assert_eq!(
        ours, lesson.train,
        "{}: settings differ from {file}",
        claim.id
    );
    assert!(
        lesson.claims.iter().any(|c| c == claim.id),
        "{file} does not show {}",
        claim.id
    );
}

#[test]
fn every_claim_the_app_makes_holds_on_three_seeds() {
    // Set-ups: (dataset, method, epochs) → the claims about it.
    let mut setups: BTreeMap<(String, String, Option<usize>), Vec<&Claim>> = BTreeMap::new();
    for claim in claims::ALL {
        check_lesson_settings(claim);
        setups
            .entry((
                claim.dataset.into(),
                claim.fusion.name().into(),
                claim.epochs,
            ))
            .or_default()
            .push(claim);
    }
    // Every (set-up, seed) run is independent: share them among the cores.
    let jobs: Vec<(&Claim, u64)> = setups
        .values()
        .flat_map(|claims| SEEDS.iter().map(move |&seed| (claims[0], seed)))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let results: std::sync::Mutex<BTreeMap<(&str, u64), Observation>> = Default::default();
    std::thread::scope(|scope| {
        for _ in 0..workers.min(jobs.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&(claim, seed)) = jobs.get(i) else {
                        break;
                    };
                    let obs = observe(claim, seed, &dataset(claim.dataset));
                    results
                        .lock()
                        .expect("results")
                        .insert((claim.id, seed), obs);
                }
            });
        }
    });
    let results = results.into_inner().expect("results");
    let mut rows = Vec::new();
    for claims in setups.values() {
        for claim in claims {
            let measured: Vec<_> = SEEDS
                .iter()
                .map(|&seed| claim.measure(&results[&(claims[0].id, seed)]))
                .collect();
            rows.push((claim, measured));
        }
    }
    println!("claim | seed 42 | seed 43 | seed 44 | holds");
    println!("--- | --- | --- | --- | ---");
    let mut failed = Vec::new();
    for (claim, measured) in &rows {
        let held = measured.iter().filter(|m| m.holds).count();
        let cells: Vec<String> = measured.iter().map(|m| m.detail.clone()).collect();
        println!(
            "{} ({}, {}) | {} | {held}/3",
            claim.id,
            claim.fusion.name(),
            claim.dataset,
            cells.join(" | ")
        );
        if held < SEEDS.len() {
            failed.push(claim.id);
        }
    }
    assert!(
        failed.is_empty(),
        "claims that do not hold on every seed: {failed:?}"
    );
}
