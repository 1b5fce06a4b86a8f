//! The example inputs shipped in `assets/examples/` (one per preset): they exist, decode, and the
//! demo model gets the redundant one right. `cargo test --release --test examples -- --ignored`
//! regenerates them from the built-in generator.

use std::path::{Path, PathBuf};

use fusionlab::data::FeatureConfig;
use fusionlab::data::synthetic::{Preset, SyntheticConfig, render_sample};
use fusionlab::engine::{AudioInput, ImageInput, RawInput, predict, prepare_input};
use fusionlab::model::checkpoint;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/examples")
}

#[test]
#[ignore = "writes assets/examples; run by hand to regenerate them"]
fn regenerate_examples() {
    for preset in Preset::ALL {
        let cfg = SyntheticConfig::new(preset);
        let mut features = FeatureConfig::default();
        features.image.size = 256;
        // The first sample with every modality (the missing preset keeps its holes elsewhere);
        // for redundant, the first one the demo model gets right from each modality alone, so
        // the example shows that each modality is enough.
        let (index, r) = (0..200)
            .map(|i| (i, render_sample(&cfg, &features, i)))
            .find(|(i, r)| {
                r.image.is_some()
                    && r.text.is_some()
                    && r.audio.is_some()
                    && (preset != Preset::Redundant || demo_gets_each_modality(&cfg, &features, *i))
            })
            .expect("a complete sample");
        let dir = examples_dir().join(preset.name());
        std::fs::create_dir_all(&dir).expect("mkdir");
        let size = 256usize;
        let px = r.image.expect("image");
        let plane = size * size;
        let rgb: Vec<u8> = (0..plane)
            .flat_map(|i| {
                [0, 1, 2].map(|c| (px[c * plane + i].clamp(0.0, 1.0) * 255.0).round() as u8)
            })
            .collect();
        image::RgbImage::from_raw(size as u32, size as u32, rgb)
            .expect("buffer")
            .save(dir.join("image.png"))
            .expect("png");
        fusionlab::audio::write_wav(
            &dir.join("sound.wav"),
            &r.audio.expect("audio"),
            features.audio.sample_rate,
        )
        .expect("wav");
        std::fs::write(dir.join("text.txt"), r.text.expect("text") + "\n").expect("txt");
        let classes = cfg.class_names();
        std::fs::write(dir.join("label.txt"), format!("{}\n", classes[r.label])).expect("label");
        println!(
            "{}: sample {index}, class {}",
            preset.name(),
            classes[r.label]
        );
    }
}

fn demo_gets_each_modality(cfg: &SyntheticConfig, features: &FeatureConfig, index: usize) -> bool {
    let model = checkpoint::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("models/attention"),
        &candle_core::Device::Cpu,
    )
    .expect("demo model");
    let r = render_sample(cfg, features, index);
    let size = features.image.size;
    let px = r.image.clone().unwrap_or_default();
    let plane = (size * size) as usize;
    let rgb: Vec<u8> = (0..plane)
        .flat_map(|i| [0, 1, 2].map(|c| (px[c * plane + i].clamp(0.0, 1.0) * 255.0).round() as u8))
        .collect();
    let inputs = [
        RawInput {
            image: Some(ImageInput::Rgb {
                width: size,
                height: size,
                pixels: rgb,
            }),
            ..RawInput::default()
        },
        RawInput {
            text: r.text.clone(),
            ..RawInput::default()
        },
        RawInput {
            audio: r.audio.clone().map(|samples| AudioInput::Samples {
                sample_rate: features.audio.sample_rate,
                samples,
            }),
            ..RawInput::default()
        },
    ];
    inputs.iter().all(|raw| {
        let sample = prepare_input(raw, &model.card.features).expect("input");
        let p = predict(&model, &sample, &candle_core::Device::Cpu).expect("predict");
        p.predicted == r.label
    })
}

#[test]
fn every_preset_has_an_example_that_decodes() {
    for preset in Preset::ALL {
        let dir = examples_dir().join(preset.name());
        let raw = RawInput {
            image: Some(ImageInput::File(dir.join("image.png"))),
            text: Some(std::fs::read_to_string(dir.join("text.txt")).expect("text.txt")),
            audio: Some(AudioInput::File(dir.join("sound.wav"))),
        };
        let sample = prepare_input(&raw, &FeatureConfig::default()).expect("decodes");
        assert_eq!(sample.presence().count(), 3, "{}", preset.name());
    }
}

#[test]
fn the_demo_model_recognises_the_redundant_example_from_each_modality_alone() {
    let model = checkpoint::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("models/attention"),
        &candle_core::Device::Cpu,
    )
    .expect("demo model");
    let dir = examples_dir().join("redundant");
    let label = std::fs::read_to_string(dir.join("label.txt")).expect("label");
    let text = std::fs::read_to_string(dir.join("text.txt")).expect("text");
    let inputs = [
        RawInput {
            image: Some(ImageInput::File(dir.join("image.png"))),
            ..RawInput::default()
        },
        RawInput {
            text: Some(text),
            ..RawInput::default()
        },
        RawInput {
            audio: Some(AudioInput::File(dir.join("sound.wav"))),
            ..RawInput::default()
        },
    ];
    for raw in inputs {
        let sample = prepare_input(&raw, &model.card.features).expect("input");
        let p = predict(&model, &sample, &candle_core::Device::Cpu).expect("predict");
        assert_eq!(p.classes[p.predicted], label.trim(), "{raw:?}");
    }
}
