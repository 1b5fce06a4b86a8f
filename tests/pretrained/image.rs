//! EfficientNet-Lite0: the real ImageNet model (classes of two photos, logits equal to the
//! PyTorch reference of `python/reference/efficientnet.py`), its feature map, and clear errors
//! for a damaged checkpoint.

use candle_core::{D, Device, Tensor};
use fusionlab::model::pretrained::efficientnet::{self, EfficientNetLite0, FEATURE_DIM};
use fusionlab::model::pretrained::{Backbone, PretrainedError};

use crate::support;

fn model(test: &str) -> Option<EfficientNetLite0> {
    let dir = support::backbone(Backbone::EfficientNetLite0, test)?;
    Some(EfficientNetLite0::load(&dir, &Device::Cpu).unwrap())
}

fn input(fixture: &str) -> Tensor {
    let img = image::open(support::fixture(fixture)).unwrap().to_rgb8();
    efficientnet::preprocess(&img).unwrap()
}

/// The five most likely class names, best first (printed with their probabilities).
fn top5(model: &EfficientNetLite0, fixture: &str) -> Vec<&'static str> {
    let probs =
        candle_nn::ops::softmax(&model.logits(&input(fixture)).unwrap(), D::Minus1).unwrap();
    let mut ranked: Vec<(usize, f32)> = probs
        .squeeze(0)
        .unwrap()
        .to_vec1()
        .unwrap()
        .into_iter()
        .enumerate()
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let top: Vec<_> = ranked
        .iter()
        .take(5)
        .map(|&(i, p)| (efficientnet::class_name(i), p))
        .collect();
    eprintln!("{fixture}: {top:.3?}");
    top.into_iter().map(|(name, _)| name).collect()
}

#[test]
fn efficientnet_classifies_the_photos() {
    let Some(model) = model("efficientnet_classifies_the_photos") else {
        return;
    };
    let cat = top5(&model, "chelsea.png");
    let mut first_two = cat[..2].to_vec();
    first_two.sort_unstable();
    assert_eq!(
        first_two,
        ["Egyptian cat", "tiger cat"],
        "chelsea top-5: {cat:?}"
    );
    assert!(cat.contains(&"tabby"), "chelsea top-5: {cat:?}");
    let coffee = top5(&model, "coffee.png");
    assert_eq!(coffee[0], "espresso", "coffee top-5: {coffee:?}");
}

#[test]
fn efficientnet_logits_equal_the_pytorch_reference() {
    let Some(model) = model("efficientnet_logits_equal_the_pytorch_reference") else {
        return;
    };
    let text = std::fs::read_to_string(support::fixture("efficientnet_reference.json")).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    for name in ["chelsea", "coffee"] {
        let expected: Vec<f32> =
            serde_json::from_value(reference["images"][name]["logits"].clone()).unwrap();
        // The reference's own 224 × 224 crop, so PIL's and our resize need not agree.
        let got: Vec<f32> = model
            .logits(&input(&format!("efficientnet_{name}_224.png")))
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(got.len(), expected.len());
        let worst = got
            .iter()
            .zip(&expected)
            .map(|(g, e)| (g - e).abs())
            .fold(0f32, f32::max);
        eprintln!("{name}: max |logit - reference| = {worst:.2e}");
        assert!(worst < 1e-3, "{name}: max |logit - reference| = {worst}");
    }
}

#[test]
fn efficientnet_features_are_a_7x7_map() {
    let Some(model) = model("efficientnet_features_are_a_7x7_map") else {
        return;
    };
    let features = model
        .features(&input("efficientnet_coffee_224.png"))
        .unwrap();
    assert_eq!(features.dims(), [1, FEATURE_DIM, 7, 7]);
    let (min, max) = (
        features.min_all().unwrap().to_scalar::<f32>().unwrap(),
        features.max_all().unwrap().to_scalar::<f32>().unwrap(),
    );
    assert!(
        min >= 0.0 && max <= 6.0 && max > 0.0,
        "ReLU6 range: {min}..{max}"
    );
    // A batch (run in slices on the CPU) gives every image its own map.
    let batch = Tensor::cat(
        &[
            input("efficientnet_chelsea_224.png"),
            input("efficientnet_coffee_224.png"),
            input("efficientnet_chelsea_224.png"),
        ],
        0,
    )
    .unwrap();
    let maps = model.features(&batch).unwrap();
    assert_eq!(maps.dims(), [3, FEATURE_DIM, 7, 7]);
    let one = |t: Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let diff = one(maps.get(1).unwrap())
        .iter()
        .zip(one(features))
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        diff < 1e-4,
        "batch item 1 differs from the single image by {diff}"
    );
}

#[test]
fn efficientnet_rejects_a_damaged_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (src, out) = (dir.path().join("src"), dir.path().join("out"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let pth = src.join(Backbone::EfficientNetLite0.spec().files[0].file_name());
    // A legacy checkpoint's magic-number and protocol pickles, then a state dict cut short.
    let mut truncated = vec![
        0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
    ];
    truncated.extend_from_slice(&[0x80, 0x02, b'M', 0xe9, 0x03, b'.', 0x80, 0x02, b'}', b'q']);
    for (what, bytes) in [
        ("garbage", b"this is not a pickle".to_vec()),
        ("truncated", truncated),
    ] {
        std::fs::write(&pth, &bytes).unwrap();
        match efficientnet::convert(&src, &out) {
            Err(PretrainedError::Format { path, message }) => {
                assert_eq!(path, pth, "{what}: {message}");
                eprintln!("{what}: {message}");
            }
            other => panic!("{what}: expected a format error naming the file, got {other:?}"),
        }
    }
    assert!(!out.join(efficientnet::WEIGHTS_FILE).exists());
}
