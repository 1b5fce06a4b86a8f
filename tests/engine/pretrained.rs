//! Models on frozen-backbone tokens: the projected encoders learn from the tokens alone, look at
//! the informative ones, and say clearly when tokens are missing.

use candle_core::Device;
use fusionlab::data::Dataset;
use fusionlab::data::Sample;
use fusionlab::data::tokens::{BackboneTokens, TokenMatrix};
use fusionlab::engine::robustness::{Corrupter, Corruption, RobustnessConfig, robustness};
use fusionlab::engine::{Batcher, train};
use fusionlab::model::{Backbone, Backbones, FusionKind, ModelConfig};
use rand::{Rng as _, SeedableRng as _};

use crate::common::{Recorder, synthetic, tiny};

const INFORMATIVE: usize = 4;

/// Image-only samples whose pixels are blank and whose 49 EfficientNet-wide tokens carry the
/// class in the first few tokens only (every token is noisy).
fn image_tokens_only(samples: usize) -> Dataset {
    let mut data = synthetic(&format!("synthetic:redundant?samples={samples}"));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let cols = Backbone::EfficientNetLite0.token_dim();
    // Like real backbone features, a class shows as a direction spread over every channel.
    let prototypes: Vec<Vec<f32>> = (0..data.classes.len())
        .map(|_| {
            (0..cols)
                .map(|_| if rng.random_bool(0.5) { 1.0 } else { -1.0 })
                .collect()
        })
        .collect();
    for s in &mut data.samples {
        s.text = None;
        s.audio = None;
        if let Some(px) = &mut s.image {
            px.fill(0.0);
        }
        let mut values: Vec<f32> = (0..49 * cols)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        for token in 0..INFORMATIVE {
            for (v, p) in values[token * cols..(token + 1) * cols]
                .iter_mut()
                .zip(&prototypes[s.label])
            {
                *v += p;
            }
        }
        s.backbone = BackboneTokens([TokenMatrix::from_f32(49, cols, &values), None, None]);
    }
    data
}

/// An extractor whose store and cache are an empty temporary folder (kept alive by the first).
fn without_backbones() -> (tempfile::TempDir, fusionlab::engine::extract::Extractor) {
    use fusionlab::engine::extract::{ExtractOptions, Extractor};
    use fusionlab::model::pretrained::store::Store;
    let empty = tempfile::tempdir().unwrap();
    let extractor = Extractor::new(
        ExtractOptions {
            store: Store::at(empty.path().join("store")),
            cache_root: empty.path().join("cache"),
        },
        Device::Cpu,
    );
    (empty, extractor)
}

#[test]
fn a_projected_image_encoder_learns_from_backbone_tokens_and_looks_at_the_informative_ones() {
    let data = image_tokens_only(240);
    let chance = 1.0 / data.classes.len() as f32;
    let mut cfg = tiny(FusionKind::Attention, 6);
    cfg.backbones = Backbones {
        image: Some(Backbone::EfficientNetLite0),
        ..Backbones::default()
    };
    let out = train(&data, &cfg, &Device::Cpu, &Recorder::default()).unwrap();
    let val = out.val.unwrap();
    assert!(
        val.metrics.accuracy > chance + 0.4,
        "accuracy {} vs chance {chance}",
        val.metrics.accuracy
    );
    // Attention pooling over the 49 tokens puts most weight on the informative ones.
    let on_signal: f32 = val
        .samples
        .iter()
        .map(|s| s.attention[0].iter().take(INFORMATIVE).sum::<f32>())
        .sum::<f32>()
        / val.samples.len() as f32;
    assert!(
        on_signal > 2.0 * INFORMATIVE as f32 / 49.0,
        "attention on the informative tokens: {on_signal}"
    );
    assert_eq!(val.samples[0].attention[0].len(), 49);
}

#[test]
fn training_without_extracted_tokens_names_the_sample_and_the_backbone() {
    let mut data = image_tokens_only(60);
    data.samples[0].backbone = BackboneTokens::default();
    let mut cfg = tiny(FusionKind::Late, 1);
    cfg.backbones = Backbones {
        image: Some(Backbone::EfficientNetLite0),
        ..Backbones::default()
    };
    let err = train(&data, &cfg, &Device::Cpu, &Recorder::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no efficientnet-lite0 tokens"), "{err}");
    assert!(err.contains(&data.samples[0].id), "{err}");
}

#[test]
fn the_backbone_choice_is_recorded_in_the_config_and_scratch_configs_are_unchanged() {
    let scratch = ModelConfig::new(FusionKind::Gated, 3, 10);
    let json = serde_json::to_string(&scratch).unwrap();
    assert!(!json.contains("backbones"), "{json}");
    let mut pretrained = scratch.clone();
    pretrained.backbones = Backbones::all();
    let json = serde_json::to_string(&pretrained).unwrap();
    assert!(
        json.contains("\"minilm-l6-v2\"") && json.contains("\"speech-embedding\""),
        "{json}"
    );
    let back: ModelConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, pretrained);
}

#[test]
fn robustness_of_a_pretrained_modality_reruns_its_backbone_and_says_when_it_is_not_installed() {
    let data = image_tokens_only(60);
    let mut cfg = tiny(FusionKind::Attention, 1);
    cfg.backbones = Backbones {
        image: Some(Backbone::EfficientNetLite0),
        ..Backbones::default()
    };
    let out = train(&data, &cfg, &Device::Cpu, &Recorder::default()).unwrap();
    let model = &out.model;
    let batcher = Batcher {
        config: model.model.config(),
        vocab: &model.card.vocab,
        device: &Device::Cpu,
    };
    let samples: Vec<&Sample> = data.samples.iter().collect();
    let corrupter = Corrupter::new(&data.features, &data.vocab, 5);
    let (_empty, mut extractor) = without_backbones();
    let mut run = |corruptions: Vec<Corruption>| {
        let cfg = RobustnessConfig {
            corruptions,
            levels: 3,
            seed: 5,
        };
        robustness(
            &model.model,
            &batcher,
            &corrupter,
            &mut extractor,
            &samples,
            &cfg,
            &mut |_, _| true,
        )
    };
    // A missing modality needs no backbone run: the curve ends at what the model does blind.
    let (clean, curves) = run(vec![Corruption::ImageMissing]).unwrap().unwrap();
    assert_eq!(curves[0].accuracy[0], clean);
    assert!(curves[0].accuracy[2] < clean, "{curves:?}");
    // Noise damages the picture the backbone reads, so the backbone must be there to run again.
    let err = run(vec![Corruption::ImageNoise]).unwrap_err().to_string();
    assert!(
        err.contains("efficientnet-lite0 backbone is not installed")
            && err.contains("fusionlab pretrained install efficientnet-lite0"),
        "{err}"
    );
}

#[test]
fn a_model_saved_with_a_scale_and_shift_in_its_token_normalisation_loads_and_predicts_the_same() {
    use fusionlab::model::checkpoint::{self, WEIGHTS};
    let data = image_tokens_only(40);
    let mut cfg = tiny(FusionKind::Late, 1);
    cfg.backbones = Backbones {
        image: Some(Backbone::EfficientNetLite0),
        ..Backbones::default()
    };
    let model = train(&data, &cfg, &Device::Cpu, &Recorder::default())
        .unwrap()
        .model;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m");
    checkpoint::save(&path, &model.card, &model.store).unwrap();
    // The same function written the old way: W (γ ⊙ x̂ + β) + b with W = W₀ / γ, b = b₀ − W β.
    let file = path.join(WEIGHTS);
    let mut tensors = candle_core::safetensors::load(&file, &Device::Cpu).unwrap();
    let (w0, b0) = (
        tensors["image.project.weight"].clone(),
        tensors["image.project.bias"].clone(),
    );
    let c = w0.dim(1).unwrap();
    let gamma = candle_core::Tensor::rand(0.5f32, 2.0, c, &Device::Cpu).unwrap();
    let beta = candle_core::Tensor::randn(0f32, 0.5, c, &Device::Cpu).unwrap();
    let w = w0.broadcast_div(&gamma.unsqueeze(0).unwrap()).unwrap();
    let b = (b0
        - w.matmul(&beta.unsqueeze(1).unwrap())
            .unwrap()
            .squeeze(1)
            .unwrap())
    .unwrap();
    tensors.insert("image.project.weight".into(), w);
    tensors.insert("image.project.bias".into(), b);
    tensors.insert("image.norm.weight".into(), gamma);
    tensors.insert("image.norm.bias".into(), beta);
    candle_core::safetensors::save(&tensors, &file).unwrap();
    let loaded = checkpoint::load(&path, &Device::Cpu).unwrap();
    let samples: Vec<&Sample> = data.samples.iter().take(8).collect();
    let batcher = Batcher {
        config: &model.card.model,
        vocab: &model.card.vocab,
        device: &Device::Cpu,
    };
    let batch = batcher.batch(&samples, None).unwrap();
    let logits = |m: &fusionlab::model::FusionModel| {
        m.forward(&batch, false)
            .unwrap()
            .logits
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    let (a, b) = (logits(&model.model), logits(&loaded.model));
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(diff < 1e-4, "logits differ by {diff}");
}

#[test]
fn extracting_synthetic_sounds_for_the_audio_backbone_fails_at_once_with_what_to_do() {
    use fusionlab::engine::extract::ExtractObserver;
    struct Count(std::cell::Cell<usize>);
    impl ExtractObserver for Count {
        fn progress(&self, done: usize, _: usize) {
            self.0.set(self.0.get().max(done));
        }
        fn cancelled(&self) -> bool {
            false
        }
    }
    let mut data = synthetic("synthetic:redundant?samples=40");
    // No backbone is installed here: the check comes before any is loaded or run.
    let (_empty, mut extractor) = without_backbones();
    let seen = Count(std::cell::Cell::new(0));
    let err = extractor
        .dataset(&mut data, &Backbones::all(), &seen)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the audio backbone needs the recording") && err.contains("from scratch"),
        "{err}"
    );
    assert_eq!(seen.0.get(), 0, "nothing was extracted first");
}

/// Peak resident memory of this process (VmHWM), in MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[test]
#[ignore = "a measurement (writes 3 GB of token cache, about a minute): run by hand with --ignored --nocapture"]
fn measure_peak_memory_training_25000_images_on_cached_backbone_tokens() {
    use fusionlab::data::tokens::TokenCache;
    let samples = 25_000;
    let mut data = synthetic(&format!(
        "synthetic:redundant?samples={samples}&text_missing=1&audio_missing=1"
    ));
    let dir = tempfile::tempdir().unwrap();
    let cache = TokenCache::new(dir.path(), "measure");
    let cols = Backbone::EfficientNetLite0.token_dim();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    for (i, s) in data.samples.iter_mut().enumerate() {
        let values: Vec<f32> = (0..49 * cols)
            .map(|k| rng.random_range(-1.0..1.0) + if k % cols == s.label { 1.0 } else { 0.0 })
            .collect();
        let key = TokenCache::key(&i.to_le_bytes());
        cache
            .put(&key, &TokenMatrix::from_f32(49, cols, &values).unwrap())
            .unwrap();
        s.backbone = BackboneTokens([cache.get_lazy(&key), None, None]);
    }
    let before = peak_rss_mb();
    let mut cfg = tiny(FusionKind::Attention, 1);
    cfg.batch_size = 64;
    cfg.backbones = Backbones {
        image: Some(Backbone::EfficientNetLite0),
        ..Backbones::default()
    };
    let started = std::time::Instant::now();
    let out = train(&data, &cfg, &Device::Cpu, &Recorder::default()).unwrap();
    println!(
        "{samples} images, tokens read from the cache per batch: peak RSS {before:.0} MB before training, {:.0} MB after one epoch ({:.1} s, val acc {:.3})",
        peak_rss_mb(),
        started.elapsed().as_secs_f32(),
        out.val.map_or(0.0, |v| v.metrics.accuracy)
    );
}
