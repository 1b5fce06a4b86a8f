//! The frozen backbones of issue 15 (`fusionlab pretrained install` first; a backbone that is not
//! installed is skipped with a SKIP line).
//!
//! * `pretrained/<backbone>/batch_{1,32}`: one forward pass of the backbone alone: EfficientNet-
//!   Lite0 features of 224 × 224 images, MiniLM tokenisation + hidden states of the first 32
//!   sentences of `assets/text-topics/manifest.csv`, the speech embedding of 1 s clips (the
//!   fixture `seven.wav`, cut or padded to 16 000 samples). `benches/reference/pretrained.py`
//!   times the same inputs with PyTorch / onnxruntime on the same number of threads and prints
//!   the ratio.
//! * Once each (too long for repeated sampling): extracting the image and audio tokens of all
//!   3 000 avdigits samples into an empty cache (`../shared/data/avdigits`; SKIP when absent), one
//!   training epoch on those cached tokens, and one-sample predict (three backbones on inputs not
//!   in the cache, explanations included) with a model trained on avdigits plus a digit sentence.
//! * Resident memory with the three backbones loaded.
//!
//! The medians go to `target/bench/pretrained.json`. `-- efficientnet` (any criterion filter)
//! runs only the matching forward benchmarks; `-- pipeline` only the one-off measurements.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use candle_core::{Device, Tensor};
use criterion::{Criterion, SamplingMode, Throughput};
use fusionlab::engine::extract::{ExtractOptions, Extractor};
use fusionlab::engine::{
    AudioInput, ImageInput, RawInput, TrainConfig, predict, prepare_input, train,
};
use fusionlab::model::device::DeviceChoice;
use fusionlab::model::pretrained::efficientnet::EfficientNetLite0;
use fusionlab::model::pretrained::minilm::MiniLm;
use fusionlab::model::pretrained::speech::SpeechEmbedding;
use fusionlab::model::pretrained::store::{State, Store};
use fusionlab::model::{Backbone, Backbones};
use serde_json::{Value, json};

#[path = "common/pipeline.rs"]
mod pipeline;
use pipeline::{Observer, load};
#[path = "common/timings.rs"]
mod timings;
use timings::{Timings, threads, unwrap_or_die, write_json};

/// The same allocator as the `fusionlab` binary (src/main.rs), so the numbers are the app's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCHES: [usize; 2] = [1, 32];
const SAMPLE_SIZE: usize = 10;
/// Samples per second of audio the backbone takes.
const CLIP: usize = 16_000;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The bench sentences: the first 32 of the text-topics set, in file order.
fn sentences() -> Result<Vec<String>> {
    let data = load(&manifest_dir().join("assets/text-topics/manifest.csv"))?;
    Ok(data
        .samples
        .iter()
        .filter_map(|s| s.text.as_ref().map(|t| t.raw.clone()))
        .take(32)
        .collect())
}

/// One second of the fixture `seven.wav` at 16 kHz.
fn clip() -> Result<Vec<f32>> {
    let path = manifest_dir().join("tests/fixtures/pretrained/seven.wav");
    let mut reader =
        hound::WavReader::open(&path).with_context(|| format!("{}", path.display()))?;
    let mut samples: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| s.map(|v| f32::from(v) / 32768.0))
        .collect::<Result<_, _>>()?;
    samples.resize(CLIP, 0.0);
    Ok(samples)
}

/// Criterion group `pretrained/<name>` with a few samples of long iterations.
fn bench_forward(
    c: &mut Criterion,
    name: &str,
    mut run: impl FnMut(usize) -> Result<()>,
) -> Result<Value> {
    let mut group = c.benchmark_group(format!("pretrained/{name}"));
    group
        .sample_size(SAMPLE_SIZE)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let mut out = serde_json::Map::new();
    for batch in BATCHES {
        run(batch)?; // fails here rather than inside criterion's loop
        let mut timings = Timings::default();
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("batch_{batch}"), |b| {
            b.iter_custom(|iters| {
                timings.record(iters, || {
                    let t = Instant::now();
                    if let Err(e) = run(batch) {
                        eprintln!("{name} batch {batch}: {e:#}");
                        std::process::exit(1);
                    }
                    t.elapsed()
                })
            });
        });
        if let Some((median, n)) = timings.median(SAMPLE_SIZE) {
            let per_item = median / batch as f64;
            println!(
                "{name} batch {batch}: {:.2} ms per item, {:.1} items/s ({n} runs)",
                per_item * 1e3,
                1.0 / per_item
            );
            out.insert(
                format!("batch_{batch}"),
                json!({"ms_per_item": per_item * 1e3, "items_per_second": 1.0 / per_item, "runs": n}),
            );
        }
    }
    group.finish();
    Ok(Value::Object(out))
}

fn bench_backbones(c: &mut Criterion, store: &Store, device: &Device) -> Result<Value> {
    let mut out = serde_json::Map::new();
    for backbone in Backbone::ALL {
        let dir = match store.installed(backbone) {
            Ok(dir) => dir,
            Err(e) => {
                println!("SKIP pretrained/{backbone}: {e}");
                continue;
            }
        };
        let result = match backbone {
            Backbone::EfficientNetLite0 => {
                let net = EfficientNetLite0::load(&dir, device)?;
                let images: Vec<Tensor> = BATCHES
                    .iter()
                    .map(|&b| Tensor::randn(0f32, 0.5, (b, 3, 224, 224), device))
                    .collect::<candle_core::Result<_>>()?;
                bench_forward(c, backbone.name(), |b| {
                    let x = &images[BATCHES.iter().position(|&x| x == b).unwrap_or(0)];
                    net.features(x)?;
                    Ok(())
                })?
            }
            Backbone::MiniLm => {
                let net = MiniLm::load(&dir, device)?;
                let texts = sentences()?;
                bench_forward(c, backbone.name(), |b| {
                    let batch: Vec<&str> =
                        texts.iter().cycle().take(b).map(String::as_str).collect();
                    net.encode_batch(&batch)?;
                    Ok(())
                })?
            }
            Backbone::SpeechEmbedding => {
                let net = SpeechEmbedding::load(&dir, device)?;
                let one = clip()?;
                let clips: Vec<Tensor> = BATCHES
                    .iter()
                    .map(|&b| Tensor::from_vec(one.repeat(b), (b, CLIP), device))
                    .collect::<candle_core::Result<_>>()?;
                bench_forward(c, backbone.name(), |b| {
                    let x = &clips[BATCHES.iter().position(|&x| x == b).unwrap_or(0)];
                    net.embed(x)?;
                    Ok(())
                })?
            }
        };
        out.insert(backbone.name().to_owned(), result);
    }
    Ok(Value::Object(out))
}

/// `VmRSS` and `VmHWM` of this process in MB.
fn resident_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

const DIGITS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// The first `n` samples of the avdigits `data` with a sentence each ("the digit seven"), as a
/// manifest in `dir`, so that all three backbones have something to do.
fn avdigits_with_text(data: &fusionlab::data::Dataset, n: usize, dir: &Path) -> Result<PathBuf> {
    let path = dir.join("manifest.csv");
    let mut csv = csv::Writer::from_path(&path)?;
    csv.write_record(["id", "split", "label", "image", "audio", "text"])?;
    for s in data.samples.iter().take(n) {
        let fusionlab::data::Origin::Files {
            image: Some(image),
            audio: Some(audio),
        } = &s.origin
        else {
            anyhow::bail!("avdigits sample {} lacks its image or audio file", s.id);
        };
        let digit: usize = data.classes[s.label]
            .parse()
            .context("avdigits class not a digit")?;
        let word = DIGITS.get(digit).context("label above 9")?;
        csv.write_record([
            s.id.as_str(),
            s.split.name(),
            data.classes[s.label].as_str(),
            &image.display().to_string(),
            &audio.display().to_string(),
            &format!("the digit {word}"),
        ])?;
    }
    csv.flush()?;
    Ok(path)
}

/// Seconds of the fastest of 3 epochs (training + validation) on `data`'s cached tokens, scaled to
/// 2 700 training samples; and the unscaled seconds with the number of training samples.
fn epoch_seconds(
    data: &fusionlab::data::Dataset,
    backbones: Backbones,
    device: &Device,
) -> Result<(f64, (f64, usize))> {
    let cfg = TrainConfig {
        epochs: 3,
        patience: 0,
        device: DeviceChoice::Cpu,
        backbones,
        ..TrainConfig::default()
    };
    let outcome = train(data, &cfg, device, &Observer)?;
    // The fastest epoch: the first also warms the page cache and the allocator.
    let epoch = outcome
        .history
        .iter()
        .map(|e| f64::from(e.seconds))
        .fold(f64::INFINITY, f64::min);
    let (train_idx, _, _) = fusionlab::engine::split_indices(data, cfg.seed);
    let per_2700 = epoch * 2700.0 / train_idx.len().max(1) as f64;
    let modalities = match backbones.image {
        Some(_) => "image + audio",
        None => "audio only",
    };
    println!(
        "epoch on cached tokens ({modalities}): {epoch:.2} s for {} training samples (validation included) = {per_2700:.2} s per 2 700",
        train_idx.len()
    );
    Ok((per_2700, (epoch, train_idx.len())))
}

/// Extraction of all avdigits samples, an epoch on the cached tokens, one-sample predict.
fn bench_pipeline(store: &Store, device: &Device) -> Result<Value> {
    let avdigits = manifest_dir().join("../shared/data/avdigits");
    if !avdigits.join("manifest.csv").is_file() {
        println!(
            "SKIP extraction/epoch/predict: {} not found",
            avdigits.display()
        );
        return Ok(Value::Null);
    }
    if let Some(b) = Backbone::ALL
        .into_iter()
        .find(|&b| !matches!(store.state(b), State::Installed { .. }))
    {
        println!(
            "SKIP extraction/epoch/predict: {b} is not installed (fusionlab pretrained install)"
        );
        return Ok(Value::Null);
    }
    let tmp = tempfile::tempdir()?;
    let cache = tmp.path().join("cache");
    let options = |cache: &Path| ExtractOptions {
        store: store.clone(),
        cache_root: cache.to_path_buf(),
    };
    let mut data = load(&avdigits)?;
    let image_audio = Backbones {
        image: Some(Backbone::EfficientNetLite0),
        text: None,
        audio: Some(Backbone::SpeechEmbedding),
    };
    let mut extractor = Extractor::new(options(&cache), device.clone());
    let report = extractor
        .dataset(&mut data, &image_audio, &Observer)?
        .context("extraction stopped")?;
    let samples = data.samples.len();
    println!(
        "extract avdigits: {samples} samples (image + audio, empty cache) in {:.1} s = {:.1} ms per sample; {:.0} MB held",
        report.seconds,
        1e3 * f64::from(report.seconds) / samples as f64,
        report.bytes as f64 / 1e6
    );
    let mut again = load(&avdigits)?;
    let cached = Extractor::new(options(&cache), device.clone())
        .dataset(&mut again, &image_audio, &Observer)?
        .context("extraction stopped")?;
    println!(
        "extract avdigits again (every token cached): {:.2} s",
        cached.seconds
    );

    let (per_2700, epochs) = epoch_seconds(&data, image_audio, device)?;
    let mut audio_only = data.clone();
    for s in &mut audio_only.samples {
        s.image = None;
        s.backbone.0[0] = None;
    }
    let audio = Backbones {
        image: None,
        ..image_audio
    };
    let (audio_per_2700, _) = epoch_seconds(&audio_only, audio, device)?;

    // One-sample predict: a model on all three backbones, inputs never seen by the cache.
    let text_dir = tmp.path().join("text");
    std::fs::create_dir_all(&text_dir)?;
    let mut three = load(&avdigits_with_text(&data, 600, &text_dir)?)?;
    extractor.dataset(&mut three, &Backbones::all(), &Observer)?;
    let cfg = TrainConfig {
        epochs: 2,
        patience: 0,
        device: DeviceChoice::Cpu,
        backbones: Backbones::all(),
        ..TrainConfig::default()
    };
    let model = train(&three, &cfg, device, &Observer)?.model;
    let (rss_loaded, _) = resident_mb();
    let image = manifest_dir().join("tests/fixtures/pretrained/coffee.png");
    let audio = manifest_dir().join("tests/fixtures/pretrained/seven.wav");
    let mut times = Vec::new();
    for i in 0..12 {
        extractor.set_cache_root(tmp.path().join(format!("fresh{i}")));
        let raw = RawInput {
            image: Some(ImageInput::File(image.clone())),
            text: Some(format!("the digit seven, take {i}")),
            audio: Some(AudioInput::File(audio.clone())),
        };
        let started = Instant::now();
        let mut sample = prepare_input(&raw, &model.card.features)?;
        extractor.input(&raw, &mut sample, &Backbones::all())?;
        let p = predict(&model, &sample, device)?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(p.attention[0].len() == 49, "no image heatmap");
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let (rss, peak) = resident_mb();
    println!(
        "one-sample predict, three backbones, explanations: median {median:.0} ms (min {:.0}, max {:.0}, {} runs)",
        times[0],
        times[times.len() - 1],
        times.len()
    );
    println!(
        "resident memory with the three backbones loaded and a model: {rss_loaded:.0} MB (now {rss:.0} MB, peak {peak:.0} MB)"
    );
    Ok(json!({
        "extract_avdigits": {"samples": samples, "seconds": report.seconds,
            "ms_per_sample": 1e3 * f64::from(report.seconds) / samples as f64,
            "cached_seconds": cached.seconds, "bytes_held": report.bytes},
        "epoch_cached": {"seconds": epochs.0, "train_samples": epochs.1, "seconds_per_2700": per_2700,
            "audio_only_seconds_per_2700": audio_per_2700},
        "predict_three_backbones_ms": {"median": median, "min": times[0], "max": times[times.len() - 1], "runs": times.len()},
        "rss_mb": {"backbones_loaded": rss_loaded, "peak": peak},
    }))
}

/// `now` laid over `old`, object by object; null or empty values keep what `old` had.
fn merge(old: &mut Value, now: Value) {
    match (old, now) {
        (Value::Object(old), Value::Object(now)) => {
            for (key, value) in now {
                match old.get_mut(&key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        old.insert(key, value);
                    }
                }
            }
        }
        (_, Value::Null) => {}
        (_, Value::Object(now)) if now.is_empty() => {}
        (slot, value) => *slot = value,
    }
}

fn main() {
    fusionlab::model::device::pin_thread_count();
    let mut c = Criterion::default().configure_from_args();
    // `cargo test --benches` runs each routine once: skip the long one-off measurements.
    let quick = std::env::args().any(|a| a == "--test" || a == "--list");
    let device = Device::Cpu;
    let store = Store::from_env();
    let backbones = unwrap_or_die(bench_backbones(&mut c, &store, &device));
    c.final_summary();
    if quick {
        return;
    }
    // A criterion filter (`-- efficientnet`) leaves the one-off measurements out unless it names
    // them (`-- pipeline`).
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let pipeline = match filters.is_empty() || filters.iter().any(|f| f.contains("pipeline")) {
        true => unwrap_or_die(bench_pipeline(&store, &device)),
        false => Value::Null,
    };
    let json = json!({
        "threads": threads(),
        "backbones": backbones,
        "pipeline": pipeline,
        "sentences": unwrap_or_die(sentences()),
        "clip": "tests/fixtures/pretrained/seven.wav, first 16000 samples (zero-padded)",
    });
    // A filtered run keeps what the previous one measured and this one did not.
    let previous: serde_json::Map<String, Value> =
        std::fs::read_to_string(timings::output_dir().join("pretrained.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
    let mut merged = Value::Object(previous);
    merge(&mut merged, json);
    write_json("pretrained.json", &merged);
}
