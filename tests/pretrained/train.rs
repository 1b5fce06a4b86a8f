//! Pretrained encoders end to end through the CLI: a small folder dataset trained on all three
//! frozen backbones, tokens cached once, the model recording its backbones, and a prediction
//! that explains itself on the backbones' own tokens.

use std::path::Path;
use std::process::Command;

use fusionlab::model::Backbone;

use crate::support::{backbone, fixture};

/// Two classes (a cat, a cup), 8 samples each, every sample with all three modalities.
fn folder_dataset(dir: &Path) {
    let mut csv = String::from("id,label,image,text,audio,split\n");
    let rows = [
        (
            "cat",
            "chelsea.png",
            [
                "a cat sits on the mat",
                "the kitten sleeps",
                "a tabby cat purrs",
                "my cat is asleep",
            ],
            "seven.wav",
        ),
        (
            "cup",
            "coffee.png",
            [
                "a cup of coffee",
                "hot espresso in a mug",
                "the coffee is ready",
                "a mug of tea",
            ],
            "chirp.wav",
        ),
    ];
    for (label, image, texts, sound) in rows {
        for i in 0..8 {
            let split = match i {
                0..=4 => "train",
                5 | 6 => "val",
                _ => "test",
            };
            let text = texts[i % texts.len()];
            csv.push_str(&format!(
                "{label}{i},{label},{image},{text},{sound},{split}\n"
            ));
        }
        for file in [image, sound] {
            std::fs::copy(fixture(file), dir.join(file)).unwrap();
        }
    }
    std::fs::write(dir.join("manifest.csv"), csv).unwrap();
}

fn fusionlab(args: &[&str], cache: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fusionlab"))
        .args(args)
        .env("FUSIONLAB_CACHE_DIR", cache)
        .env("RAYON_NUM_THREADS", "2")
        .output()
        .unwrap()
}

fn cached_entries(cache: &Path, variant: &str) -> usize {
    let dir = cache.join("tokens").join(variant);
    let Ok(shards) = std::fs::read_dir(&dir) else {
        return 0;
    };
    shards
        .flatten()
        .map(|s| std::fs::read_dir(s.path()).map_or(0, |e| e.flatten().count()))
        .sum()
}

#[test]
fn a_folder_dataset_trains_on_the_three_backbones_and_predicts_with_explanations() {
    let test = "a_folder_dataset_trains_on_the_three_backbones_and_predicts_with_explanations";
    if Backbone::ALL
        .into_iter()
        .any(|b| backbone(b, test).is_none())
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (data, cache, model) = (
        tmp.path().join("data"),
        tmp.path().join("cache"),
        tmp.path().join("model"),
    );
    std::fs::create_dir_all(&data).unwrap();
    folder_dataset(&data);
    let (data_arg, model_arg) = (data.display().to_string(), model.display().to_string());
    let train = [
        "--dataset",
        &data_arg,
        "train",
        "--encoders",
        "pretrained",
        "--epochs",
        "12",
        "--embed-dim",
        "16",
        "--lr",
        "0.01",
        "--patience",
        "0",
        "--device",
        "cpu",
        "--out",
        &model_arg,
    ];
    let out = fusionlab(&train, &cache);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "train failed: {stderr}");
    // Each distinct input went through its backbone once and is cached by content.
    assert_eq!(cached_entries(&cache, "efficientnet-lite0-224px"), 2);
    assert_eq!(cached_entries(&cache, "speech-embedding-16000hz"), 2);
    assert_eq!(cached_entries(&cache, "minilm-l6-v2-256tok"), 8);
    let config = std::fs::read_to_string(model.join("config.json")).unwrap();
    for name in ["efficientnet-lite0", "minilm-l6-v2", "speech-embedding"] {
        assert!(
            config.contains(name),
            "config.json does not record {name}: {config}"
        );
    }

    let image = fixture("chelsea.png").display().to_string();
    let predict = [
        "predict",
        "--model",
        &model_arg,
        "--image",
        &image,
        "--text",
        "a sleepy cat",
        "--json",
    ];
    let out = fusionlab(&predict, &cache);
    assert!(
        out.status.success(),
        "predict failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        p["classes"][p["predicted"].as_u64().unwrap() as usize],
        "cat",
        "{p}"
    );
    assert_eq!(p["image_grid"], 7, "{p}");
    // Word pieces are merged back to the three words, with weights adding up to 1.
    assert_eq!(p["words"], serde_json::json!(["a", "sleepy", "cat"]), "{p}");
    let text_weights: f64 = p["attention"][1]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!((text_weights - 1.0).abs() < 1e-3, "{p}");
    assert_eq!(p["attention"][0].as_array().unwrap().len(), 49, "{p}");
}

#[test]
fn a_wrong_encoder_name_is_refused_with_the_choices() {
    let tmp = tempfile::tempdir().unwrap();
    let out = fusionlab(
        &["train", "--image-encoder", "resnet", "--epochs", "1"],
        tmp.path(),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("--image-encoder resnet: expected scratch, pretrained or efficientnet-lite0"),
        "{stderr}"
    );
}
