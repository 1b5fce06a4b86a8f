//! Robustness of a model on a frozen backbone: the corruptions damage the original recordings,
//! the backbone runs on the damaged clips (once: they are cached by content), and accuracy falls
//! as a listener would expect.

use std::path::{Path, PathBuf};

use fusionlab::engine::extract::variant;
use fusionlab::model::Backbone;

use crate::skip::skip;
use crate::support::{backbone, cached_entries, fusionlab_json, scratch, train_cli};

/// An audio-only manifest of avdigits recordings: `train` and `test` clips per digit.
fn spoken_digits(avdigits: &Path, out: &Path, train: usize, test: usize) -> usize {
    let text = std::fs::read_to_string(avdigits.join("manifest.csv")).unwrap();
    let mut counts = std::collections::HashMap::new();
    let mut csv = String::from("id,label,audio,split\n");
    let mut tests = 0;
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (id, split, label, audio) = (f[0], f[1], f[2], f[4]);
        let n = counts
            .entry((split.to_owned(), label.to_owned()))
            .or_insert(0);
        let keep = match split {
            "train" => train,
            _ => test,
        };
        if *n < keep {
            *n += 1;
            let split = if split == "train" { "train" } else { "test" };
            tests += usize::from(split == "test");
            csv.push_str(&format!(
                "{id},{label},{},{split}\n",
                avdigits.join(audio).display()
            ));
        }
    }
    std::fs::write(out, csv).unwrap();
    tests
}

fn curve(report: &serde_json::Value, name: &str) -> Vec<f64> {
    report["reports"][0]["curves"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["corruption"] == name)
        .unwrap_or_else(|| panic!("no {name} curve in {report}"))["accuracy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

/// A speech-embedding model trained on avdigits clips (`train` per digit, 6 per digit to test),
/// in a temporary folder: (folder, manifest, cache, model, test clips). `None` after a SKIP
/// line when the backbone or ../shared is missing.
fn spoken_digit_model(
    test: &str,
    train: usize,
    epochs: &str,
) -> Option<(tempfile::TempDir, PathBuf, PathBuf, PathBuf, usize)> {
    backbone(Backbone::SpeechEmbedding, test)?;
    let avdigits = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/avdigits");
    if !avdigits.join("manifest.csv").is_file() {
        skip(test, &format!("{} not found", avdigits.display()));
        return None;
    }
    let (tmp, cache, model) = scratch();
    let manifest = tmp.path().join("digits.csv");
    let tests = spoken_digits(&avdigits, &manifest, train, 6);
    train_cli(
        &manifest,
        &model,
        &["--audio-encoder", "speech-embedding", "--epochs", epochs],
        &cache,
    );
    Some((tmp, manifest, cache, model, tests))
}

#[test]
fn noise_and_silence_in_the_recordings_lower_a_speech_embedding_models_accuracy() {
    let test = "noise_and_silence_in_the_recordings_lower_a_speech_embedding_models_accuracy";
    let Some((_tmp, manifest, cache, model, tests)) = spoken_digit_model(test, 20, "20") else {
        return;
    };
    let (data_arg, model_arg) = (manifest.display().to_string(), model.display().to_string());
    let before = cached_entries(&cache, &variant(Backbone::SpeechEmbedding));
    let robustness = [
        "--dataset",
        &data_arg,
        "robustness",
        "--model",
        &model_arg,
        "--corruptions",
        "audio-noise,audio-dropout,audio-missing",
        "--levels",
        "3",
        "--json",
    ];
    let report = fusionlab_json(&robustness, &cache, "robustness");
    let clean = report["reports"][0]["clean_accuracy"].as_f64().unwrap();
    assert!(clean >= 0.7, "clean accuracy {clean}: {report}");
    let noise = curve(&report, "audio-noise");
    assert_eq!(noise[0], clean);
    // Level 1 is white noise 10 dB louder than the speech.
    assert!(noise[2] < clean - 0.15, "audio-noise {noise:?}: {report}");
    // Level 1 silences every 100 ms segment: nothing is left to hear.
    let silence = curve(&report, "audio-dropout");
    assert!(silence[2] <= 0.3, "audio-dropout {silence:?}: {report}");
    assert_eq!(curve(&report, "audio-missing").len(), 3);
    println!("clean {clean:.3}, audio-noise {noise:?}, audio-dropout {silence:?}");
    // Every damaged clip (two corruptions × two levels) went through the backbone once…
    let after = cached_entries(&cache, &variant(Backbone::SpeechEmbedding));
    assert!(
        after > before && after <= before + 4 * tests,
        "{before} → {after} cache entries for {tests} test clips"
    );
    // …so measuring again reads the cache, and gives the same curves.
    let second = fusionlab_json(&robustness, &cache, "robustness again");
    assert_eq!(
        cached_entries(&cache, &variant(Backbone::SpeechEmbedding)),
        after
    );
    assert_eq!(second["reports"], report["reports"]);
}

struct NoStop;

impl fusionlab::engine::extract::ExtractObserver for NoStop {
    fn progress(&self, _: usize, _: usize) {}
    fn cancelled(&self) -> bool {
        false
    }
}

#[test]
fn stop_pressed_while_damaged_recordings_go_through_the_backbone_ends_the_run_inside_the_level() {
    use candle_core::Device;
    use fusionlab::data::{LoadOptions, Quiet, Sample, Split, load_dataset};
    use fusionlab::engine::Batcher;
    use fusionlab::engine::extract::{ExtractOptions, Extractor};
    use fusionlab::engine::robustness::{Corrupter, Corruption, RobustnessConfig, robustness};
    use fusionlab::model::checkpoint;
    use fusionlab::model::pretrained::store::Store;
    let test = "stop_pressed_while_damaged_recordings_go_through_the_backbone_ends_the_run_inside_the_level";
    let Some((_tmp, manifest, cache, model, tests)) = spoken_digit_model(test, 10, "2") else {
        return;
    };
    let model = checkpoint::load(&model, &Device::Cpu).unwrap();
    let spec = manifest.display().to_string().parse().unwrap();
    let mut data = load_dataset(&spec, &LoadOptions::default(), &Quiet).unwrap();
    let mut extractor = Extractor::new(
        ExtractOptions {
            store: Store::from_env(),
            cache_root: cache.clone(),
        },
        Device::Cpu,
    );
    let backbones = model.model.config().backbones;
    extractor.dataset(&mut data, &backbones, &NoStop).unwrap();
    let samples: Vec<&Sample> = data
        .samples
        .iter()
        .filter(|s| s.split == Split::Test)
        .collect();
    assert_eq!(samples.len(), tests);
    let batcher = Batcher {
        config: model.model.config(),
        vocab: &model.card.vocab,
        device: &Device::Cpu,
    };
    let corrupter = Corrupter::new(&data.features, &data.vocab, 7);
    let cfg = RobustnessConfig {
        corruptions: vec![Corruption::AudioNoise],
        levels: 2,
        seed: 7,
    };
    let before = cached_entries(&cache, &variant(Backbone::SpeechEmbedding));
    // Stop at the first report from inside the level (after the clean evaluation).
    let mut calls = 0;
    let out = robustness(
        &model.model,
        &batcher,
        &corrupter,
        &mut extractor,
        &samples,
        &cfg,
        &mut |_, _| {
            calls += 1;
            calls < 2
        },
    )
    .unwrap();
    assert!(out.is_none(), "the run went on after Stop");
    let added = cached_entries(&cache, &variant(Backbone::SpeechEmbedding)) - before;
    assert!(
        added > 0 && added < tests,
        "{added} of {tests} damaged clips went through the backbone before the run stopped"
    );
}
