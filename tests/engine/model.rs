//! Shapes and modality weights of every fusion method.

use candle_core::Device;
use fusionlab::data::Sample;
use fusionlab::engine::Batcher;
use fusionlab::model::{FusionKind, FusionModel, ParamStore, WeightKind, shapley_weights};

use crate::common::{synthetic, tiny};

#[test]
fn every_method_gives_weights_that_sum_to_one_and_are_zero_for_missing_modalities() {
    // Half of each modality is missing in this preset.
    let data = synthetic("synthetic:missing?samples=60&missing=0.5");
    let samples: Vec<&Sample> = data.samples.iter().take(40).collect();
    assert!(
        samples.iter().any(|s| s.presence().count() < 3),
        "the preset must drop modalities"
    );
    for fusion in FusionKind::ALL {
        let cfg =
            tiny(fusion, 1).model_config(data.classes.len(), data.vocab.len(), &data.features);
        let store = ParamStore::new(7);
        let model = FusionModel::new(&cfg, &store, &Device::Cpu).expect("model");
        let batcher = Batcher {
            config: &cfg,
            vocab: &data.vocab,
            device: &Device::Cpu,
        };
        let batch = batcher.batch(&samples, None).expect("batch");
        let out = model.forward(&batch, true).expect("forward");
        assert_eq!(out.logits.dims(), &[40, data.classes.len()], "{fusion}");
        for m in 0..3 {
            assert_eq!(out.embeddings[m].dims(), &[40, 16], "{fusion}");
        }
        let weights = out.weights.expect("weights").to_vec2::<f32>().expect("vec");
        for (s, w) in samples.iter().zip(&weights) {
            let p = s.presence().0;
            let sum: f32 = w.iter().sum();
            assert!(
                (sum - 1.0).abs() < 1e-4,
                "{fusion}: weights {w:?} sum to {sum}"
            );
            for m in 0..3 {
                assert!(w[m] >= 0.0, "{fusion}: negative weight {w:?}");
                if !p[m] {
                    assert!(
                        w[m] < 1e-6,
                        "{fusion}: absent modality {m} has weight {} ({p:?})",
                        w[m]
                    );
                }
            }
        }
        let expected = if matches!(
            fusion,
            FusionKind::Early | FusionKind::Tensor | FusionKind::LowRank
        ) {
            WeightKind::Shapley
        } else {
            WeightKind::Native
        };
        assert_eq!(fusion.weight_kind(), expected);
    }
}

#[test]
fn masking_a_modality_is_the_same_as_not_having_it() {
    let data = synthetic("synthetic:redundant?samples=40");
    let samples: Vec<&Sample> = data.samples.iter().take(8).collect();
    for fusion in FusionKind::ALL {
        let cfg =
            tiny(fusion, 1).model_config(data.classes.len(), data.vocab.len(), &data.features);
        let store = ParamStore::new(3);
        let model = FusionModel::new(&cfg, &store, &Device::Cpu).expect("model");
        let batcher = Batcher {
            config: &cfg,
            vocab: &data.vocab,
            device: &Device::Cpu,
        };
        let full = batcher.batch(&samples, None).expect("batch");
        let enc = model.encode(&full).expect("encode");
        let masked = model
            .fuse_masked(&enc, &full.present, [true, false, true])
            .expect("mask");
        let without = batcher
            .batch(&samples, Some(&[[true, false, true]; 8]))
            .expect("batch");
        let direct = model.forward(&without, false).expect("forward").logits;
        let diff = (masked - direct)
            .expect("sub")
            .abs()
            .expect("abs")
            .max_all()
            .expect("max");
        let diff = diff.to_scalar::<f32>().expect("scalar");
        assert!(diff < 1e-4, "{fusion}: masked and absent differ by {diff}");
    }
}

#[test]
fn shapley_weights_split_an_additive_game_by_contribution() {
    // v(S) = 0.1 + 0.6·[image] + 0.2·[audio]: image gets 3/4, audio 1/4, text 0.
    let mut v = [0f32; 8];
    for (s, slot) in v.iter_mut().enumerate() {
        *slot = 0.1 + if s & 1 != 0 { 0.6 } else { 0.0 } + if s & 4 != 0 { 0.2 } else { 0.0 };
    }
    let w = shapley_weights(&v, [true, true, true]);
    assert!(
        (w[0] - 0.75).abs() < 1e-5 && w[1].abs() < 1e-6 && (w[2] - 0.25).abs() < 1e-5,
        "{w:?}"
    );
    // XOR-like game: only the pair matters, so both share equally.
    let mut v = [0f32; 8];
    v[1 | 4] = 1.0;
    v[7] = 1.0;
    let w = shapley_weights(&v, [true, true, true]);
    assert!(
        (w[0] - 0.5).abs() < 1e-5 && (w[2] - 0.5).abs() < 1e-5,
        "{w:?}"
    );
    // No contribution at all: uniform over the present ones.
    assert_eq!(
        shapley_weights(&[0.5; 8], [true, false, true]),
        [0.5, 0.0, 0.5]
    );
}

#[test]
fn fusion_names_parse_and_unknown_ones_are_explained() {
    for f in FusionKind::ALL {
        assert_eq!(f.name().parse::<FusionKind>(), Ok(f));
    }
    let err = "concat".parse::<FusionKind>().expect_err("unknown");
    assert!(err.contains("early") && err.contains("crossmodal"), "{err}");
}
