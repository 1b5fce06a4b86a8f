//! Shapes and modality weights of every fusion method.

use candle_core::Device;
use fusionlab::data::Sample;
use fusionlab::engine::Batcher;
use fusionlab::model::{FusionKind, FusionModel, ParamStore, WeightKind, shapley_weights};

use crate::common::{synthetic, tiny};

/// A freshly initialised model for `train`'s settings on `data`, and a batch of `samples`.
fn untrained(
    data: &fusionlab::data::Dataset,
    train: &fusionlab::engine::TrainConfig,
    samples: &[&Sample],
    seed: u64,
) -> (ParamStore, FusionModel, fusionlab::model::Batch) {
    let cfg = train.model_config(data.classes.len(), data.vocab.len(), &data.features);
    let store = ParamStore::new(seed);
    let model = FusionModel::new(&cfg, &store, &Device::Cpu).expect("model");
    let batcher = Batcher {
        config: &cfg,
        vocab: &data.vocab,
        device: &Device::Cpu,
    };
    let batch = batcher.batch(samples, None).expect("batch");
    (store, model, batch)
}

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
        let (_, model, batch) = untrained(&data, &tiny(fusion, 1), &samples, 7);
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

/// A layer cut from the graph (candle-nn's fused layer norm has no backward) leaves the weights
/// below it untrained while training still "works": every weight must get a gradient.
#[test]
fn one_training_step_reaches_every_weight_of_every_method_and_text_encoder() {
    use fusionlab::model::TextEncoderKind;
    let data = synthetic("synthetic:redundant?samples=40");
    let samples: Vec<&Sample> = data.samples.iter().take(24).collect();
    for text in [TextEncoderKind::Gru, TextEncoderKind::Transformer] {
        for fusion in FusionKind::ALL {
            let mut train = tiny(fusion, 1);
            train.text_encoder = text;
            let (store, model, batch) = untrained(&data, &train, &samples, 3);
            let out = model.forward(&batch, false).expect("forward");
            let labels = batch.labels.as_ref().expect("labels");
            let loss = candle_nn::loss::cross_entropy(&out.logits, labels).expect("loss");
            let grads = loss.backward().expect("backward");
            let named: Vec<(String, Vec<usize>)> = store.shapes();
            for ((name, _), var) in named.iter().zip(store.vars()) {
                // Cross-modal fusion reads the encoders' tokens, not their pooled embeddings.
                if fusion == FusionKind::CrossModal && name.contains(".pool.") {
                    continue;
                }
                let size = grads.get(var.as_tensor()).map(|g| {
                    g.abs()
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap()
                });
                assert!(
                    size.is_some_and(|s| s > 0.0),
                    "{fusion} with {text:?} text: {name} gets no gradient ({size:?})"
                );
            }
        }
    }
}

/// Cross-modal fusion never trains the encoders' attention pools, so its per-modality
/// embeddings (what Projections shows) are the tokens weighted by [CLS]'s attention instead.
#[test]
fn cross_modal_embeddings_pool_the_tokens_with_what_cls_attended_to() -> candle_core::Result<()> {
    let data = synthetic("synthetic:missing?samples=60&missing=0.5");
    let samples: Vec<&Sample> = data.samples.iter().take(20).collect();
    let (_, model, batch) = untrained(&data, &tiny(FusionKind::CrossModal, 1), &samples, 5);
    let enc = model.encode(&batch)?;
    let out = model.forward(&batch, false)?;
    for (m, e) in enc.iter().enumerate() {
        let expected = e
            .tokens
            .broadcast_mul(&out.attention[m].unsqueeze(2)?)?
            .sum(1)?;
        let diff = (&out.embeddings[m] - &expected)?
            .abs()?
            .max_all()?
            .to_scalar::<f32>()?;
        assert!(diff < 1e-5, "modality {m}: {diff}");
        let rows = out.embeddings[m].abs()?.sum(1)?.to_vec1::<f32>()?;
        for (s, r) in samples.iter().zip(rows) {
            assert_eq!(s.presence().0[m], r > 0.0, "modality {m} of {}", s.id);
        }
    }
    Ok(())
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
