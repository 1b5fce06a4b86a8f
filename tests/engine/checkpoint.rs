//! Saving and loading models, and the errors for bad model files.

use candle_core::Device;
use fusionlab::data::Sample;
use fusionlab::engine::{Batcher, train};
use fusionlab::model::FusionKind;
use fusionlab::model::checkpoint::{self, CONFIG, WEIGHTS};

use crate::common::{Recorder, synthetic, tiny};

fn trained(
    fusion: FusionKind,
) -> (
    fusionlab::data::Dataset,
    fusionlab::model::checkpoint::LoadedModel,
) {
    let data = synthetic("synthetic:redundant?samples=64");
    let out = train(&data, &tiny(fusion, 1), &Device::Cpu, &Recorder::default()).expect("train");
    (data, out.model)
}

#[test]
fn a_saved_model_gives_identical_logits_after_loading() {
    for fusion in [
        FusionKind::Attention,
        FusionKind::CrossModal,
        FusionKind::LowRank,
    ] {
        let (data, model) = trained(fusion);
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("m");
        checkpoint::save(&path, &model.card, &model.store).expect("save");
        assert!(path.join(WEIGHTS).is_file() && path.join(CONFIG).is_file());
        let loaded = checkpoint::load(&path, &Device::Cpu).expect("load");
        assert_eq!(loaded.card.model, model.card.model);
        assert_eq!(loaded.card.classes, data.classes);
        let samples: Vec<&Sample> = data.samples.iter().take(10).collect();
        let batcher = Batcher {
            config: &model.card.model,
            vocab: &model.card.vocab,
            device: &Device::Cpu,
        };
        let batch = batcher.batch(&samples, None).expect("batch");
        let a = model
            .model
            .forward(&batch, false)
            .unwrap()
            .logits
            .to_vec2::<f32>()
            .unwrap();
        let b = loaded
            .model
            .forward(&batch, false)
            .unwrap()
            .logits
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(a, b, "{fusion}: logits changed through save/load");
        // Saving again over the same folder replaces it and leaves no temporary folders.
        checkpoint::save(&path, &model.card, &model.store).expect("save again");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["m".to_owned()]);
    }
}

#[test]
fn bad_model_files_get_clear_errors() {
    let (_, model) = trained(FusionKind::Attention);
    let dir = tempfile::tempdir().expect("tmp");
    let good = dir.path().join("good");
    checkpoint::save(&good, &model.card, &model.store).expect("save");
    let copy = |name: &str| {
        let p = dir.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        for f in [WEIGHTS, CONFIG] {
            std::fs::copy(good.join(f), p.join(f)).unwrap();
        }
        p
    };
    let err = |p: &std::path::Path| {
        checkpoint::load(p, &Device::Cpu)
            .expect_err("must fail")
            .to_string()
    };

    let missing = err(&dir.path().join("nope"));
    assert!(
        missing.contains("no model at") && missing.contains("fusionlab train"),
        "{missing}"
    );

    let p = copy("notjson");
    std::fs::write(p.join(CONFIG), "{ this is not json").unwrap();
    let e = err(&p);
    assert!(
        e.contains("config.json") && e.contains("not valid JSON"),
        "{e}"
    );

    let p = copy("otherjson");
    std::fs::write(p.join(CONFIG), r#"{"name": "something else"}"#).unwrap();
    assert!(err(&p).contains("not a fusionlab model"), "{}", err(&p));

    let p = copy("version");
    let text = std::fs::read_to_string(p.join(CONFIG))
        .unwrap()
        .replace("\"version\": 1", "\"version\": 99");
    std::fs::write(p.join(CONFIG), text).unwrap();
    let e = err(&p);
    assert!(e.contains("version 99") && e.contains("retrain"), "{e}");

    let p = copy("corrupt");
    std::fs::write(p.join(WEIGHTS), b"\x10\x00\x00\x00\x00\x00\x00\x00garbage").unwrap();
    let e = err(&p);
    assert!(
        e.contains("model.safetensors") && e.contains("not a readable safetensors"),
        "{e}"
    );

    let p = copy("noweights");
    std::fs::remove_file(p.join(WEIGHTS)).unwrap();
    assert!(err(&p).contains("no weights"), "{}", err(&p));

    // Weights from another architecture: a config saying "crossmodal" over attention weights.
    let p = copy("other-arch");
    let text = std::fs::read_to_string(p.join(CONFIG))
        .unwrap()
        .replace("\"fusion\": \"attention\"", "\"fusion\": \"crossmodal\"");
    std::fs::write(p.join(CONFIG), text).unwrap();
    let e = err(&p);
    assert!(
        e.contains("does not match")
            && e.contains("crossmodal")
            && e.contains("missing tensor fusion."),
        "{e}"
    );

    // Weights for a different number of classes.
    let p = copy("classes");
    let mut card: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.join(CONFIG)).unwrap()).unwrap();
    card["model"]["classes"] = 5.into();
    card["classes"] = serde_json::json!(["a", "b", "c", "d", "e"]);
    std::fs::write(p.join(CONFIG), serde_json::to_vec(&card).unwrap()).unwrap();
    let e = err(&p);
    assert!(
        e.contains("fusion.head.weight has shape [4, 16], expected [5, 16]"),
        "{e}"
    );
}

#[test]
fn a_model_for_other_classes_is_refused_on_a_dataset() {
    let (_, model) = trained(FusionKind::Late);
    let other = synthetic("synthetic:redundant?samples=60&classes=6");
    let e = fusionlab::engine::check_compatible(&model.card, &other)
        .expect_err("mismatch")
        .to_string();
    assert!(
        e.contains("trained for 4 classes") && e.contains("has 6"),
        "{e}"
    );
}
