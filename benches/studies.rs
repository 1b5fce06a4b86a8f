//! The accuracy studies of issue 15: what the frozen backbones add over encoders trained from
//! scratch, each on real data, printed as Markdown tables (the README's) and written to
//! `target/bench/studies.json`.
//!
//! * `speakers`: avdigits (`../shared/data/avdigits`) with every recording of one speaker as the
//!   test split and the other five as training data, for each of the six speakers: image alone,
//!   audio alone and image + audio fused, from scratch and on the backbones.
//! * `text`: `assets/text-topics` (8 topics; the test sentences use no word of the training
//!   sentences): GRU and transformer from scratch vs MiniLM.
//! * `fashion`: Fashion-MNIST (Debian `dataset-fashion-mnist`; `make bench` unpacks it into
//!   `target/bench/data`), 10 and 100 training images per class, 1 000 test images.
//!
//! `cargo bench --bench studies [-- speakers|text|fashion …]`; a study whose data or backbone is
//! missing prints a SKIP line. `STUDY_SPEAKERS=george,theo` limits the speaker study. Backbone
//! tokens are cached in `target/bench/token-cache`, so a second run only trains.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use candle_core::Device;
use fusionlab::data::{Dataset, Origin, Split};
use fusionlab::engine::extract::{ExtractOptions, Extractor};
use fusionlab::engine::{TrainConfig, train};
use fusionlab::model::device::DeviceChoice;
use fusionlab::model::pretrained::store::{State, Store};
use fusionlab::model::{Backbone, Backbones, TextEncoderKind};
use serde_json::{Value, json};

#[path = "common/pipeline.rs"]
mod pipeline;
use pipeline::{Observer, load};
#[path = "common/timings.rs"]
#[allow(dead_code)] // the timing helpers are for the speed benchmarks
mod timings;
use timings::{output_dir, unwrap_or_die, write_json};

/// The same allocator as the `fusionlab` binary (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The backbones every study may use, or why not.
fn backbones_ready(store: &Store, needed: &[Backbone]) -> Result<(), String> {
    match needed
        .iter()
        .find(|&&b| !matches!(store.state(b), State::Installed { .. }))
    {
        Some(b) => Err(format!(
            "{b} is not installed (run `fusionlab pretrained install`)"
        )),
        None => Ok(()),
    }
}

/// One trained configuration's test figures.
struct Outcome {
    accuracy: f32,
    /// Test accuracy with only this modality given.
    only: [Option<f32>; 3],
    seconds: f32,
}

/// Trains on `data` (tokens already extracted where `cfg.backbones` asks for them) and returns
/// the test figures.
fn fit(data: &Dataset, cfg: &TrainConfig) -> Result<Outcome> {
    let out = train(data, cfg, &Device::Cpu, &Observer)?;
    let test = out.test.context("no test split")?;
    Ok(Outcome {
        accuracy: test.metrics.accuracy,
        only: test.metrics.modality_only,
        seconds: out.seconds,
    })
}

fn config(epochs: usize, backbones: Backbones) -> TrainConfig {
    TrainConfig {
        epochs,
        device: DeviceChoice::Cpu,
        backbones,
        ..TrainConfig::default()
    }
}

fn extractor() -> Extractor {
    Extractor::new(
        ExtractOptions {
            store: Store::from_env(),
            cache_root: output_dir().join("token-cache"),
        },
        Device::Cpu,
    )
}

/// The speaker of an avdigits sample: its audio file is `<digit>_<speaker>_<take>.wav`.
fn speaker(origin: &Origin) -> Option<String> {
    let Origin::Files {
        audio: Some(path), ..
    } = origin
    else {
        return None;
    };
    let name = path.file_stem()?.to_str()?;
    name.split('_').nth(1).map(str::to_owned)
}

fn fmt(v: Option<f32>) -> String {
    v.map_or_else(|| "—".into(), |a| format!("{a:.3}"))
}

fn mean(values: &[f32]) -> f32 {
    values.iter().sum::<f32>() / values.len().max(1) as f32
}

fn speakers(store: &Store) -> Result<Value> {
    let dir = manifest_dir().join("../shared/data/avdigits");
    if !dir.join("manifest.csv").is_file() {
        println!("SKIP speakers: {} not found", dir.display());
        return Ok(Value::Null);
    }
    let both = Backbones {
        image: Some(Backbone::EfficientNetLite0),
        text: None,
        audio: Some(Backbone::SpeechEmbedding),
    };
    if let Err(why) = backbones_ready(
        store,
        &[Backbone::EfficientNetLite0, Backbone::SpeechEmbedding],
    ) {
        println!("SKIP speakers: {why}");
        return Ok(Value::Null);
    }
    let mut data = load(&dir)?;
    extractor()
        .dataset(&mut data, &both, &Observer)?
        .context("extraction stopped")?;
    let mut names: Vec<String> = data
        .samples
        .iter()
        .filter_map(|s| speaker(&s.origin))
        .collect();
    names.sort();
    names.dedup();
    if let Ok(only) = std::env::var("STUDY_SPEAKERS") {
        names.retain(|n| only.split(',').any(|o| o == n));
    }
    // (label, image?, audio?, backbones, modality dropout)
    let scratch = Backbones::default();
    let runs: [(&str, bool, bool, Backbones, f64); 7] = [
        ("image alone, scratch", true, false, scratch, 0.0),
        ("image alone, EfficientNet-Lite0", true, false, both, 0.0),
        ("audio alone, scratch", false, true, scratch, 0.0),
        ("audio alone, speech embedding", false, true, both, 0.0),
        ("fused, scratch", true, true, scratch, 0.0),
        ("fused, both backbones", true, true, both, 0.0),
        (
            "fused, both backbones, modality dropout 0.3",
            true,
            true,
            both,
            0.3,
        ),
    ];
    let mut table: Vec<Vec<f32>> = vec![Vec::new(); runs.len()];
    let mut only: Vec<Vec<String>> = vec![Vec::new(); runs.len()];
    let mut rows = Vec::new();
    for held_out in &names {
        for (r, &(label, image, audio, backbones, dropout)) in runs.iter().enumerate() {
            let mut d = data.clone();
            for s in &mut d.samples {
                s.split = if speaker(&s.origin).as_ref() == Some(held_out) {
                    Split::Test
                } else {
                    Split::Train
                };
                if !image {
                    s.image = None;
                    s.backbone.0[0] = None;
                }
                if !audio {
                    s.audio = None;
                    s.backbone.0[2] = None;
                }
            }
            let cfg = TrainConfig {
                modality_dropout: dropout,
                ..config(15, backbones)
            };
            let o = fit(&d, &cfg)?;
            eprintln!(
                "  {held_out}: {label}: {:.3} ({:.0} s)",
                o.accuracy, o.seconds
            );
            table[r].push(o.accuracy);
            if image && audio {
                only[r].push(format!("{}/{}", fmt(o.only[0]), fmt(o.only[2])));
            }
            rows.push(
                json!({"held_out": held_out, "run": label, "accuracy": o.accuracy,
                "only_image": o.only[0], "only_audio": o.only[2], "seconds": o.seconds}),
            );
        }
    }
    println!(
        "\navdigits, one speaker held out (test accuracy; train on the other five, 15 epochs)\n"
    );
    println!("| encoders | {} | mean |", names.join(" | "));
    println!("| --- |{} --- |", " --- |".repeat(names.len()));
    for (r, (label, ..)) in runs.iter().enumerate() {
        let cells: Vec<String> = table[r].iter().map(|a| format!("{a:.3}")).collect();
        println!(
            "| {label} | {} | **{:.3}** |",
            cells.join(" | "),
            mean(&table[r])
        );
    }
    for (r, (label, ..)) in runs.iter().enumerate() {
        if !only[r].is_empty() {
            println!(
                "{label}: image-only / audio-only accuracy per speaker: {}",
                only[r].join(", ")
            );
        }
    }
    Ok(json!({"speakers": names, "runs": rows}))
}

fn text(store: &Store) -> Result<Value> {
    let path = manifest_dir().join("assets/text-topics/manifest.csv");
    if let Err(why) = backbones_ready(store, &[Backbone::MiniLm]) {
        println!("SKIP text: {why}");
        return Ok(Value::Null);
    }
    let mut data = load(&path)?;
    let minilm = Backbones {
        text: Some(Backbone::MiniLm),
        ..Backbones::default()
    };
    extractor()
        .dataset(&mut data, &minilm, &Observer)?
        .context("extraction stopped")?;
    let runs = [
        ("GRU, scratch", TextEncoderKind::Gru, Backbones::default()),
        (
            "transformer, scratch",
            TextEncoderKind::Transformer,
            Backbones::default(),
        ),
        ("MiniLM-L6-v2 (frozen)", TextEncoderKind::Gru, minilm),
    ];
    println!(
        "\ntext-topics: 8 topics, 112 training / 48 test sentences, test words never seen in training\n"
    );
    println!("| text encoder | test accuracy (mean of 3 seeds) | per seed |");
    println!("| --- | --- | --- |");
    let mut rows = Vec::new();
    for (label, kind, backbones) in runs {
        let accs = (0..3u64)
            .map(|seed| {
                let cfg = TrainConfig {
                    text_encoder: kind,
                    seed,
                    ..config(40, backbones)
                };
                fit(&data, &cfg).map(|o| o.accuracy)
            })
            .collect::<Result<Vec<f32>>>()?;
        let each: Vec<String> = accs.iter().map(|a| format!("{a:.3}")).collect();
        println!("| {label} | **{:.3}** | {} |", mean(&accs), each.join(", "));
        rows.push(json!({"run": label, "accuracy": accs}));
    }
    Ok(json!({"runs": rows}))
}

const FASHION_CLASSES: [&str; 10] = [
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle-boot",
];

/// The folder with Fashion-MNIST's four idx files, if any.
fn fashion_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("FASHION_MNIST_DIR").map(PathBuf::from),
        Some(PathBuf::from("/usr/share/datasets/fashion-mnist")),
        Some(output_dir().join("data/usr/share/datasets/fashion-mnist")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| d.join("t10k-labels-idx1-ubyte.gz").is_file())
}

/// The bytes after the header of a gzipped idx file.
fn idx(path: &Path, header: usize) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .with_context(|| format!("{}", path.display()))?;
    anyhow::ensure!(bytes.len() > header, "{}: too short", path.display());
    Ok(bytes.split_off(header))
}

/// A folder dataset of the first `per_class` training images of each class and the first 100
/// test images of each class, as PNG files and a manifest.
fn fashion_folder(src: &Path, per_class: usize, out: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(out)?;
    let mut csv = String::from("id,label,image,split\n");
    for (split, prefix, n) in [("train", "train", per_class), ("test", "t10k", 100)] {
        let labels = idx(&src.join(format!("{prefix}-labels-idx1-ubyte.gz")), 8)?;
        let pixels = idx(&src.join(format!("{prefix}-images-idx3-ubyte.gz")), 16)?;
        let mut taken = [0usize; 10];
        for (i, &label) in labels.iter().enumerate() {
            let class = usize::from(label);
            if class >= 10 || taken[class] >= n {
                continue;
            }
            taken[class] += 1;
            let px = pixels
                .get(i * 784..(i + 1) * 784)
                .context("idx images shorter than the labels")?;
            let image = image::GrayImage::from_raw(28, 28, px.to_vec()).context("28 × 28")?;
            let name = format!("{split}_{i}.png");
            image.save(out.join(&name))?;
            csv.push_str(&format!(
                "{split}_{i},{},{name},{split}\n",
                FASHION_CLASSES[class]
            ));
        }
    }
    let manifest = out.join("manifest.csv");
    std::fs::write(&manifest, csv)?;
    Ok(manifest)
}

fn fashion(store: &Store) -> Result<Value> {
    let Some(src) = fashion_dir() else {
        println!(
            "SKIP fashion: no Fashion-MNIST idx files (`make bench` unpacks the Debian package dataset-fashion-mnist into target/bench/data; or set FASHION_MNIST_DIR)"
        );
        return Ok(Value::Null);
    };
    if let Err(why) = backbones_ready(store, &[Backbone::EfficientNetLite0]) {
        println!("SKIP fashion: {why}");
        return Ok(Value::Null);
    }
    let image = Backbones {
        image: Some(Backbone::EfficientNetLite0),
        ..Backbones::default()
    };
    let tmp = tempfile::tempdir()?;
    println!("\nFashion-MNIST, image only, 1 000 test images (test accuracy, 30 epochs)\n");
    println!("| training images per class | from scratch | EfficientNet-Lite0 (frozen) |");
    println!("| --- | --- | --- |");
    let mut rows = Vec::new();
    for per_class in [10, 100] {
        let manifest = fashion_folder(
            &src,
            per_class,
            &tmp.path().join(format!("shot{per_class}")),
        )?;
        let mut data = load(&manifest)?;
        extractor()
            .dataset(&mut data, &image, &Observer)?
            .context("extraction stopped")?;
        let scratch = fit(&data, &config(30, Backbones::default()))?;
        let pretrained = fit(&data, &config(30, image))?;
        println!(
            "| {per_class} | {:.3} | {:.3} |",
            scratch.accuracy, pretrained.accuracy
        );
        rows.push(json!({"per_class": per_class, "scratch": scratch.accuracy, "pretrained": pretrained.accuracy}));
    }
    Ok(json!({"runs": rows}))
}

fn main() {
    fusionlab::model::device::pin_thread_count();
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo test --benches` runs every bench binary with `--test`: these are long studies.
    if args.iter().any(|a| a == "--test" || a == "--list") {
        println!("SKIP studies: long accuracy studies, run by `cargo bench --bench studies`");
        return;
    }
    let wanted: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let run = |name: &str| wanted.is_empty() || wanted.contains(&name);
    let store = Store::from_env();
    let path = output_dir().join("studies.json");
    let mut json: serde_json::Map<String, Value> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    type Study = fn(&Store) -> Result<Value>;
    let studies: [(&str, Study); 3] =
        [("text", text), ("fashion", fashion), ("speakers", speakers)];
    for (name, study) in studies {
        if run(name) {
            let result = unwrap_or_die(study(&store));
            if !result.is_null() {
                json.insert(name.to_owned(), result);
            }
        }
    }
    println!();
    write_json("studies.json", &Value::Object(json));
}
