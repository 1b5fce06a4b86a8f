//! Training-step and prediction benchmarks of the default model (`TrainConfig::default()`:
//! attention fusion, GRU text encoder, embed_dim 64, batch 32) on `synthetic:redundant`.
//!
//! * `train/step_32`: one optimiser step exactly as in `engine::train` (`engine::step`: the
//!   batch cut into one part per thread, each part's forward, cross-entropy and backward on its
//!   own core, gradients added, norm + clipping, AdamW step, undo copy and finiteness check) on
//!   a prepared batch of 32; batching itself is not timed. `train/forward_loss_32` times the
//!   forward half alone (forward + cross-entropy + read-back, no backward).
//! * `predict/engine_predict_1`: `engine::predict` on one test sample (batching, forward with
//!   explanations, the three single-modality passes that evaluation does, read-back).
//! * `predict/forward_1`: `FusionModel::forward(batch of 1, explain)` plus reading the logits.
//!
//! `FUSIONLAB_BENCH_FUSION=<method>` times another fusion method instead of attention.
//!
//! Besides criterion's report, the medians are written as JSON to `target/bench/rust.json`
//! (`samples_per_second`, `predict_ms`, …, plus the shapes and parameter counts) for
//! `benches/reference/compare.py`, which sets them beside a PyTorch version of the same model.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use candle_core::{D, Device};
#[path = "common/timings.rs"]
mod timings;
use timings::{Timings, output_dir, threads, unwrap_or_die};

use criterion::{Criterion, SamplingMode, Throughput};
use fusionlab::data::{Dataset, DatasetSpec, LoadOptions, Quiet, Sample, Split, load_dataset};
use fusionlab::engine::step::{Stepper, shard};
use fusionlab::engine::{Batcher, TrainConfig, predict};
use fusionlab::model::checkpoint::{FORMAT, LoadedModel, ModelCard, VERSION};
use fusionlab::model::{Batch, FusionModel, ModelConfig, ParamStore};

/// The same allocator as the `fusionlab` binary (src/main.rs), so the numbers are the app's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DATASET: &str = "synthetic:redundant";

/// Everything a benchmark needs, built once.
struct Setup {
    dataset: Dataset,
    cfg: TrainConfig,
    model_cfg: ModelConfig,
    device: Device,
}

fn setup() -> Result<Setup> {
    let spec: DatasetSpec = DATASET.parse()?;
    let dataset = load_dataset(&spec, &LoadOptions::default(), &Quiet)?;
    let mut cfg = TrainConfig::default();
    // FUSIONLAB_BENCH_FUSION=<method> times another fusion method (the JSON names it).
    if let Ok(method) = std::env::var("FUSIONLAB_BENCH_FUSION") {
        cfg.fusion = method
            .parse()
            .map_err(|e| anyhow::anyhow!("FUSIONLAB_BENCH_FUSION: {e}"))?;
    }
    let model_cfg = cfg.model_config(
        dataset.classes.len(),
        dataset.vocab.len(),
        &dataset.features,
    );
    Ok(Setup {
        dataset,
        cfg,
        model_cfg,
        device: Device::Cpu,
    })
}

/// One training step exactly as `engine::train` takes it (its [`Stepper`]): the parts' forward
/// and backward passes on the pool's threads, gradient norm + clipping, the AdamW step, the
/// weights kept for undo and checked finite.
fn train_step(
    model: &FusionModel,
    stepper: &mut Stepper,
    parts: &[Batch],
    lr: f64,
    clip_norm: f64,
) -> Result<f32> {
    let grads = stepper.gradients(model, parts)?;
    let loss = grads.loss;
    std::hint::black_box(&grads.predicted);
    if let Some(what) = stepper.apply(grads, lr, clip_norm)? {
        anyhow::bail!("training step failed: {what}");
    }
    Ok(loss)
}

const TRAIN_SAMPLES: usize = 10;
const PREDICT_SAMPLES: usize = 30;

struct Results {
    train: Option<(f64, usize)>,
    train_forward: Option<(f64, usize)>,
    predict: Option<(f64, usize)>,
    forward: Option<(f64, usize)>,
    parameters: usize,
    parameter_tensors: usize,
    groups: serde_json::Map<String, serde_json::Value>,
    text_lengths: std::collections::BTreeMap<usize, usize>,
    batch_text_len: Vec<usize>,
}

fn bench_all(c: &mut Criterion, s: &Setup) -> Result<Results> {
    let (train_idx, _, _) = fusionlab::engine::split_indices(&s.dataset, s.cfg.seed);
    let batcher = Batcher {
        config: &s.model_cfg,
        vocab: &s.dataset.vocab,
        device: &s.device,
    };
    let bs = s.cfg.batch_size;
    // A few fixed batches of the training split (all modalities present in this dataset).
    let chunks: Vec<Vec<&Sample>> = train_idx
        .chunks_exact(bs)
        .take(8)
        .map(|chunk| chunk.iter().map(|&i| &s.dataset.samples[i]).collect())
        .collect();
    let batches: Vec<Batch> = chunks
        .iter()
        .map(|samples| batcher.batch(samples, None))
        .collect::<Result<_, _>>()?;
    // The same batches cut into one part per thread, as training does.
    let sharded: Vec<Vec<Batch>> = chunks
        .iter()
        .map(|samples| shard(&batcher, samples, None))
        .collect::<Result<_, _>>()?;
    anyhow::ensure!(!batches.is_empty(), "fewer than {bs} training samples");
    let batch_text_len = batches
        .iter()
        .map(|b| b.text_ids.dim(1))
        .collect::<Result<Vec<_>, _>>()?;
    let mut text_lengths = std::collections::BTreeMap::new();
    for &i in &train_idx {
        let s = &s.dataset.samples[i];
        let len = s
            .text
            .as_ref()
            .map_or(0, |t| t.words.len().min(batcher.config.max_tokens));
        *text_lengths.entry(len).or_insert(0usize) += 1;
    }

    // Training step.
    let store = ParamStore::new(s.cfg.seed);
    let model = FusionModel::new(&s.model_cfg, &store, &s.device)?;
    let parameters = store.parameter_count();
    let parameter_tensors = store.len();
    let mut groups = serde_json::Map::new();
    for (name, shape) in store.shapes() {
        let group = name.split('.').next().unwrap_or("?").to_owned();
        let n: usize = shape.iter().product();
        let entry = groups.entry(group).or_insert(serde_json::json!(0));
        *entry = serde_json::json!(entry.as_u64().unwrap_or(0) + n as u64);
    }
    println!(
        "model: {} fusion, {} text encoder, {} parameters in {} tensors {}; {} classes, vocabulary {}, \
         image 3×{s2}×{s2}, log-mel {}×{}, text lengths per batch {:?}; {} threads",
        s.model_cfg.fusion,
        match s.model_cfg.text_encoder {
            fusionlab::model::TextEncoderKind::Gru => "gru",
            fusionlab::model::TextEncoderKind::Transformer => "transformer",
        },
        parameters,
        parameter_tensors,
        serde_json::Value::Object(groups.clone()),
        s.model_cfg.classes,
        s.model_cfg.vocab_size,
        s.model_cfg.mel_bins,
        s.model_cfg.frames,
        batch_text_len,
        threads(),
        s2 = s.model_cfg.image_size,
    );
    let mut stepper = Stepper::new(&store, s.cfg.learning_rate, s.cfg.weight_decay)?;
    let mut train_t = Timings::default();
    let mut forward_train_t = Timings::default();
    let mut error: Option<anyhow::Error> = None;
    {
        let mut group = c.benchmark_group("train");
        group
            .sample_size(TRAIN_SAMPLES)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_secs(3))
            .measurement_time(Duration::from_secs(15))
            .throughput(Throughput::Elements(bs as u64));
        let mut next = 0usize;
        group.bench_function(format!("step_{bs}"), |b| {
            b.iter_custom(|iters| {
                train_t.record(iters, || {
                    let parts = &sharded[next % sharded.len()];
                    next += 1;
                    let t = Instant::now();
                    let (lr, clip) = (s.cfg.learning_rate, s.cfg.clip_norm);
                    if let Err(e) = train_step(&model, &mut stepper, parts, lr, clip) {
                        error.get_or_insert(e);
                    }
                    t.elapsed()
                })
            })
        });
        // The forward half alone (graph built, loss read back, no backward): where the time goes.
        group
            .measurement_time(Duration::from_secs(5))
            .warm_up_time(Duration::from_secs(1));
        group.bench_function(format!("forward_loss_{bs}"), |b| {
            b.iter_custom(|iters| {
                forward_train_t.record(iters, || {
                    let batch = &batches[next % batches.len()];
                    next += 1;
                    let t = Instant::now();
                    let run = || -> Result<f32> {
                        let labels = batch.labels.as_ref().context("batch without labels")?;
                        let out = model.forward(batch, false)?;
                        Ok(candle_nn::loss::cross_entropy(&out.logits, labels)?
                            .to_scalar::<f32>()?)
                    };
                    if let Err(e) = run() {
                        error.get_or_insert(e);
                    }
                    t.elapsed()
                })
            })
        });
        group.finish();
    }
    if let Some(e) = error.take() {
        return Err(e.context("training step failed"));
    }

    // Prediction of one test sample with a freshly initialised model of the same architecture
    // (the weights do not change the amount of work).
    let sample = s
        .dataset
        .samples
        .iter()
        .find(|x| x.split == Split::Test && x.presence().count() == 3)
        .or_else(|| s.dataset.samples.iter().find(|x| x.presence().count() == 3))
        .context("no sample with all three modalities")?;
    let pstore = ParamStore::new(s.cfg.seed);
    let loaded = LoadedModel {
        card: ModelCard {
            format: FORMAT.to_owned(),
            version: VERSION,
            name: "bench".to_owned(),
            model: s.model_cfg.clone(),
            features: s.dataset.features.clone(),
            vocab: s.dataset.vocab.clone(),
            classes: s.dataset.classes.clone(),
            dataset: s.dataset.name.clone(),
            training: serde_json::Value::Null,
            metrics: serde_json::Value::Null,
            saved_unix: 0,
            pretrained: Vec::new(),
        },
        model: FusionModel::new(&s.model_cfg, &pstore, &s.device)?,
        store: pstore,
    };
    let single = Batcher {
        config: loaded.model.config(),
        vocab: &loaded.card.vocab,
        device: &s.device,
    }
    .batch(&[sample], None)?;
    let mut predict_t = Timings::default();
    let mut forward_t = Timings::default();
    {
        let mut group = c.benchmark_group("predict");
        group
            .sample_size(PREDICT_SAMPLES)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_secs(2))
            .measurement_time(Duration::from_secs(6))
            .throughput(Throughput::Elements(1));
        group.bench_function("engine_predict_1", |b| {
            b.iter_custom(|iters| {
                predict_t.record(iters, || {
                    let t = Instant::now();
                    match predict(&loaded, sample, &s.device) {
                        Ok(p) => {
                            std::hint::black_box(p);
                        }
                        Err(e) => {
                            error.get_or_insert(e.into());
                        }
                    }
                    t.elapsed()
                })
            })
        });
        group.bench_function("forward_1", |b| {
            b.iter_custom(|iters| {
                forward_t.record(iters, || {
                    let t = Instant::now();
                    let run = || -> Result<Vec<Vec<f32>>> {
                        let out = loaded.model.forward(&single, true)?;
                        Ok(candle_nn::ops::softmax(&out.logits, D::Minus1)?.to_vec2::<f32>()?)
                    };
                    match run() {
                        Ok(p) => {
                            std::hint::black_box(p);
                        }
                        Err(e) => {
                            error.get_or_insert(e);
                        }
                    }
                    t.elapsed()
                })
            })
        });
        group.finish();
    }
    if let Some(e) = error.take() {
        return Err(e.context("prediction failed"));
    }
    Ok(Results {
        train: train_t.median(TRAIN_SAMPLES),
        train_forward: forward_train_t.median(TRAIN_SAMPLES),
        predict: predict_t.median(PREDICT_SAMPLES),
        forward: forward_t.median(PREDICT_SAMPLES),
        parameters,
        parameter_tensors,
        groups,
        text_lengths,
        batch_text_len,
    })
}

fn write_json(s: &Setup, r: &Results) -> Result<PathBuf> {
    let (Some((step, steps)), Some((pred, preds))) = (r.train, r.predict) else {
        anyhow::bail!("no measurements");
    };
    let bs = s.cfg.batch_size;
    let m = &s.model_cfg;
    let json = serde_json::json!({
        "implementation": "fusionlab (candle 0.11, CPU)",
        "dataset": DATASET,
        "threads": threads(),
        "cpus": std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        "batch_size": bs,
        "train_step_ms": step * 1e3,
        "train_steps_measured": steps,
        "samples_per_second": bs as f64 / step,
        "train_forward_ms": r.train_forward.map(|(f, _)| f * 1e3),
        "predict_ms": pred * 1e3,
        "predict_runs_measured": preds,
        "forward_ms": r.forward.map(|(f, _)| f * 1e3),
        "parameter_count": r.parameters,
        "parameter_tensors": r.parameter_tensors,
        "parameter_groups": r.groups,
        "model": m,
        "shapes": {
            "classes": m.classes,
            "vocab_size": m.vocab_size,
            "image": [3, m.image_size, m.image_size],
            "audio": [m.mel_bins, m.frames],
            "max_tokens": m.max_tokens,
            "batch_text_len": r.batch_text_len,
            "text_lengths": r.text_lengths,
        },
        "unix_time": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    });
    let dir = output_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("rust.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn main() {
    fusionlab::model::device::pin_thread_count();
    let mut c = Criterion::default().configure_from_args();
    // `cargo test --benches` / `--test` runs each routine once: nothing worth writing down.
    let quick = std::env::args().any(|a| a == "--test" || a == "--list");
    let s = unwrap_or_die(setup());
    let results = unwrap_or_die(bench_all(&mut c, &s));
    c.final_summary();
    if quick {
        return;
    }
    if let (Some((step, _)), Some((pred, _))) = (results.train, results.predict) {
        println!(
            "summary: train step {:.1} ms = {:.1} samples/s (batch {}), predict {:.2} ms, forward {:.2} ms, {} parameters, {} threads",
            step * 1e3,
            s.cfg.batch_size as f64 / step,
            s.cfg.batch_size,
            pred * 1e3,
            results.forward.map_or(f64::NAN, |(f, _)| f * 1e3),
            results.parameters,
            threads()
        );
        match write_json(&s, &results) {
            Ok(path) => println!("wrote {}", path.display()),
            Err(e) => eprintln!("could not write the JSON summary: {e:#}"),
        }
    } else {
        println!(
            "no measurements were taken (filtered out?); target/bench/rust.json left as it was"
        );
    }
}
