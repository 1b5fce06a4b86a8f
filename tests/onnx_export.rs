//! ONNX export checked against onnxruntime: each model is exported, the preprocessed inputs of
//! every example in assets/examples (each of the 7 non-empty subsets of its modalities) run
//! through onnxruntime (`tests/onnx/check.py`, in a venv under target/onnx-venv), and the
//! probabilities, modality weights and attention maps are compared with `fusionlab predict
//! --json`. Without Python, a venv or the packages (offline), the tests print a SKIP line.

#[path = "support/skip.rs"]
mod skip;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use candle_core::Device;
use fusionlab::engine::{AudioInput, Batcher, ImageInput, RawInput, prepare_input};
use fusionlab::model::checkpoint::{self, LoadedModel};
use fusionlab::model::onnx_export::{self, OnnxExportError};
use fusionlab::model::{Backbones, FusionKind, ModelConfig};
use serde_json::{Value, json};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Largest difference allowed between onnxruntime's and fusionlab's outputs.
const TOLERANCE: f64 = 1e-4;

/// The venv's python, made once per run (and kept between runs while the requirements match),
/// or why it cannot be made.
fn python() -> Result<PathBuf, String> {
    static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    VENV.get_or_init(make_venv).clone()
}

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}

fn make_venv() -> Result<PathBuf, String> {
    let root = Path::new(ROOT);
    let dir = root.join("target/onnx-venv");
    let requirements = root.join("tests/onnx/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)
        .map_err(|e| format!("cannot read {}: {e}", requirements.display()))?;
    let stamp = dir.join("fusionlab-requirements.txt");
    let python = dir.join("bin/python");
    if python.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(python);
    }
    let out = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&dir)
        .output()
        .map_err(|e| format!("no python3 to make a venv with ({e})"))?;
    if !out.status.success() {
        return Err(format!("python3 -m venv failed: {}", tail(&out.stderr)));
    }
    let out = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "-q",
            "-r",
        ])
        .arg(&requirements)
        .output()
        .map_err(|e| format!("cannot run the venv's pip ({e})"))?;
    if !out.status.success() {
        return Err(format!(
            "pip could not install tests/onnx/requirements.txt (offline?): {}",
            tail(&out.stderr)
        ));
    }
    std::fs::write(&stamp, &wanted)
        .map_err(|e| format!("cannot write {}: {e}", stamp.display()))?;
    Ok(python)
}

/// One input of an example: the `fusionlab predict` arguments and the graph's inputs.
struct Case {
    id: String,
    args: Vec<String>,
    inputs: Value,
}

/// Every non-empty subset of every example's modalities, preprocessed for `loaded`.
fn cases(loaded: &LoadedModel, examples: usize) -> Vec<Case> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("assets/examples"))
        .expect("assets/examples")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.truncate(examples);
    let device = Device::Cpu;
    let batcher = Batcher {
        config: &loaded.card.model,
        vocab: &loaded.card.vocab,
        device: &device,
    };
    let mut out = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        let text = std::fs::read_to_string(dir.join("text.txt")).expect("text.txt");
        let text = text.trim().to_owned();
        for subset in 1..8usize {
            let (image, audio) = (dir.join("image.png"), dir.join("sound.wav"));
            let raw = RawInput {
                image: (subset & 1 != 0).then(|| ImageInput::File(image.clone())),
                text: (subset & 2 != 0).then(|| text.clone()),
                audio: (subset & 4 != 0).then(|| AudioInput::File(audio.clone())),
            };
            let mut args = Vec::new();
            if subset & 1 != 0 {
                args.extend(["--image".to_owned(), image.display().to_string()]);
            }
            if subset & 2 != 0 {
                args.extend(["--text".to_owned(), text.clone()]);
            }
            if subset & 4 != 0 {
                args.extend(["--audio".to_owned(), audio.display().to_string()]);
            }
            let sample = prepare_input(&raw, &loaded.card.features).expect("prepare the input");
            let batch = batcher.batch(&[&sample], None).expect("batch");
            let flat = |t: &candle_core::Tensor| -> Vec<f32> {
                t.flatten_all().and_then(|t| t.to_vec1()).expect("values")
            };
            let ids: Vec<i64> = batch
                .text_ids
                .flatten_all()
                .and_then(|t| t.to_vec1::<u32>())
                .expect("ids")
                .into_iter()
                .map(i64::from)
                .collect();
            out.push(Case {
                id: format!("{}/{subset}", name.clone().unwrap_or_default()),
                args,
                inputs: json!({
                    "image": flat(&batch.image),
                    "text_ids": ids,
                    "text_mask": flat(&batch.text_mask),
                    "audio": flat(&batch.audio),
                    "present": flat(&batch.present),
                }),
            });
        }
    }
    out
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

/// Largest |a − b| over the first `b.len()` entries, with the rest of `a` against 0.
fn gap(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .enumerate()
        .map(|(i, x)| (x - b.get(i).copied().unwrap_or(0.0)).abs())
        .chain((a.len()..b.len()).map(|_| f64::INFINITY))
        .fold(0.0, f64::max)
}

/// Maximum differences seen for one model.
#[derive(Default, Debug)]
struct Gaps {
    probabilities: f64,
    weights: f64,
    attention: f64,
}

/// Export `model_dir`, run every case through onnxruntime and through `fusionlab predict`, and
/// assert they agree; `None` when onnxruntime cannot be had here (after a SKIP line).
fn check(test: &str, model_dir: &Path, examples: usize) -> Option<Gaps> {
    let python = match python() {
        Ok(p) => p,
        Err(reason) => {
            skip::skip(test, &reason);
            return None;
        }
    };
    let loaded = checkpoint::load(model_dir, &Device::Cpu).expect("load the model");
    let tmp = tempfile::tempdir().expect("temp dir");
    let onnx = tmp.path().join("model.onnx");
    let exported = onnx_export::export(&loaded, &onnx).expect("export");
    let cases = cases(&loaded, examples);
    let inputs: Vec<Value> = cases
        .iter()
        .map(|c| {
            let mut v = c.inputs.clone();
            v["id"] = json!(c.id);
            v
        })
        .collect();
    let cases_path = tmp.path().join("cases.json");
    std::fs::write(&cases_path, serde_json::to_vec(&inputs).expect("json")).expect("write cases");
    let out = Command::new(&python)
        .arg(Path::new(ROOT).join("tests/onnx/check.py"))
        .arg(&onnx)
        .arg(&cases_path)
        .output()
        .expect("run check.py");
    assert!(
        out.status.success(),
        "check.py failed on {}:\n{}",
        model_dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("check.py prints JSON");
    let results = report["cases"].as_array().expect("cases");
    assert_eq!(results.len(), cases.len());
    let mut gaps = Gaps::default();
    for (case, result) in cases.iter().zip(results) {
        let predicted = Command::new(env!("CARGO_BIN_EXE_fusionlab"))
            .args(["predict", "--model"])
            .arg(model_dir)
            .args(&case.args)
            .arg("--json")
            .output()
            .expect("run fusionlab predict");
        assert!(
            predicted.status.success(),
            "predict {}: {}",
            case.id,
            String::from_utf8_lossy(&predicted.stderr)
        );
        let p: Value = serde_json::from_slice(&predicted.stdout).expect("predict JSON");
        let o = &result["outputs"];
        let probabilities = gap(&floats(&o["probabilities"]), &floats(&p["probs"]));
        let weights = gap(&floats(&o["modality_weights"]), &floats(&p["weights"]));
        let names = ["attention_image", "attention_text", "attention_audio"];
        let attention = names
            .iter()
            .enumerate()
            .map(|(m, name)| gap(&floats(&o[*name]), &floats(&p["attention"][m])))
            .fold(0.0, f64::max);
        let context = format!("{} on {}", model_dir.display(), case.id);
        assert!(
            probabilities < TOLERANCE,
            "probabilities differ by {probabilities} ({context})\nonnx {}\npredict {}",
            o["probabilities"],
            p["probs"]
        );
        assert!(
            weights < TOLERANCE,
            "modality weights differ by {weights} ({context})\nonnx {}\npredict {}",
            o["modality_weights"],
            p["weights"]
        );
        assert!(
            attention < TOLERANCE,
            "attention differs by {attention} ({context})"
        );
        gaps.probabilities = gaps.probabilities.max(probabilities);
        gaps.weights = gaps.weights.max(weights);
        gaps.attention = gaps.attention.max(attention);
    }
    let line = format!(
        "onnx {test}: {} cases, {} nodes, {} bytes, {:?} weights; max |diff| probabilities {:.2e}, weights {:.2e}, attention {:.2e}; onnxruntime {} latency {}\n",
        cases.len(),
        exported.nodes,
        exported.bytes.len(),
        exported.weight_kind,
        gaps.probabilities,
        gaps.weights,
        gaps.attention,
        report["onnxruntime"],
        report["latency"],
    );
    std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes()).ok();
    Some(gaps)
}

/// The shipped demo model (attention fusion, GRU text encoder) on all five examples.
#[test]
fn demo_model_matches_predict() {
    check(
        "demo_model_matches_predict",
        &Path::new(ROOT).join("models/attention"),
        5,
    );
}

/// Train a tiny model with the CLI and check its export on two examples.
fn check_trained(test: &str, fusion: &str, text_encoder: &str) {
    check_trained_with(test, fusion, text_encoder, |_| {});
}

/// [`check_trained`], with `edit` applied to the saved config.json first.
fn check_trained_with(test: &str, fusion: &str, text_encoder: &str, edit: impl FnOnce(&mut Value)) {
    if let Err(reason) = python() {
        skip::skip(test, &reason);
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join(format!("{fusion}-{text_encoder}"));
    let out = Command::new(env!("CARGO_BIN_EXE_fusionlab"))
        .args([
            "--dataset",
            "synthetic:redundant?samples=120",
            "train",
            "--fusion",
            fusion,
        ])
        .args([
            "--epochs",
            "1",
            "--embed-dim",
            "16",
            "--text-encoder",
            text_encoder,
            "--out",
        ])
        .arg(&dir)
        .output()
        .expect("run fusionlab train");
    assert!(
        out.status.success(),
        "train: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = dir.join("config.json");
    let mut card: Value =
        serde_json::from_slice(&std::fs::read(&config).expect("config.json")).expect("JSON");
    edit(&mut card);
    std::fs::write(&config, serde_json::to_vec_pretty(&card).expect("JSON")).expect("write");
    check(test, &dir, 2);
}

#[test]
fn early_fusion_matches_predict() {
    check_trained("early_fusion_matches_predict", "early", "gru");
}

#[test]
fn late_fusion_matches_predict() {
    check_trained("late_fusion_matches_predict", "late", "gru");
}

#[test]
fn gated_fusion_matches_predict() {
    check_trained("gated_fusion_matches_predict", "gated", "gru");
}

#[test]
fn tensor_fusion_matches_predict() {
    check_trained("tensor_fusion_matches_predict", "tensor", "gru");
}

/// Models saved before `tensor_linear` existed have ReLU projections.
#[test]
fn tensor_fusion_with_relu_projections_matches_predict() {
    check_trained_with(
        "tensor_fusion_with_relu_projections_matches_predict",
        "tensor",
        "gru",
        |card| card["model"]["tensor_linear"] = json!(false),
    );
}

#[test]
fn lowrank_fusion_matches_predict() {
    check_trained("lowrank_fusion_matches_predict", "lowrank", "gru");
}

#[test]
fn crossmodal_fusion_matches_predict() {
    check_trained("crossmodal_fusion_matches_predict", "crossmodal", "gru");
}

#[test]
fn transformer_text_encoder_matches_predict() {
    check_trained(
        "transformer_text_encoder_matches_predict",
        "attention",
        "transformer",
    );
}

#[test]
fn transformer_text_encoder_with_crossmodal_matches_predict() {
    check_trained(
        "transformer_text_encoder_with_crossmodal_matches_predict",
        "crossmodal",
        "transformer",
    );
}

#[test]
fn transformer_text_encoder_with_shapley_weights_matches_predict() {
    check_trained(
        "transformer_text_encoder_with_shapley_weights_matches_predict",
        "early",
        "transformer",
    );
}

/// A model on a frozen backbone is refused with the reason, before any weight is read.
#[test]
fn pretrained_backbones_are_refused() {
    let mut config = ModelConfig::new(FusionKind::Attention, 4, 10);
    config.backbones = Backbones::all();
    let err = onnx_export::build(&config, &Default::default(), "").expect_err("refused");
    assert!(matches!(err, OnnxExportError::Pretrained { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("not exported to ONNX yet"), "{message}");
    assert!(message.contains("--encoders scratch"), "{message}");
}

/// `fusionlab export` (as the CLI runs it) writes the file and lists its inputs and outputs;
/// the report names the file's exact size.
#[test]
fn export_command_writes_the_file_and_lists_the_signature() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = tmp.path().join("sub/attention.onnx");
    let model = Path::new(ROOT).join("models/attention");
    let args = fusionlab::cli::ExportArgs {
        model: model.display().to_string(),
        onnx: file.clone(),
    };
    fusionlab::cli::run_export(&args).expect("export");
    let bytes = std::fs::metadata(&file).expect("written").len();
    let loaded = checkpoint::load(&model, &Device::Cpu).expect("load");
    let exported = onnx_export::build(
        &loaded.card.model,
        &loaded.store.snapshot().expect("weights"),
        "",
    )
    .expect("build");
    let report = fusionlab::cli::render_export(&model, &file, &loaded.card, &exported);
    let words = report.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        "image float32 [1, 3, 32, 32]",
        "text_ids int64 [1, text_length]",
        "text_mask float32 [1, text_length]",
        "audio float32 [1, 64, 98]",
        "present float32 [1, 3]",
        "probabilities float32 [1, 4]",
        "modality_weights float32 [1, 3]",
        "attention_image float32 [1, 64]",
        "attention_text float32 [1, text_length]",
        "attention_audio float32 [1, 24]",
        "native modality weights",
    ] {
        assert!(words.contains(needle), "missing {needle:?}:\n{report}");
    }
    // The doc string differs between the two (none here), the graph does not.
    assert!(bytes > 300_000 && (bytes as i64 - exported.bytes.len() as i64).abs() < 1000);
    let missing = fusionlab::cli::ExportArgs {
        model: tmp.path().join("nothing").display().to_string(),
        onnx: tmp.path().join("x.onnx"),
    };
    let err = fusionlab::cli::run_export(&missing).expect_err("no model");
    assert!(err.to_string().contains("no model at"), "{err}");
    assert!(!tmp.path().join("x.onnx").exists());
}

/// Runs the exported model in onnxruntime on each `.npz` of inputs (argv[2:]) and prints, per
/// file, every output flattened, as one JSON list.
const RUN_NPZ: &str = r#"
import json, sys
import numpy as np, onnxruntime as ort
s = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
names = [o.name for o in s.get_outputs()]
out = []
for path in sys.argv[2:]:
    z = np.load(path)
    values = s.run(names, {i.name: z[i.name] for i in s.get_inputs()})
    out.append({n: v.astype(np.float64).ravel().tolist() for n, v in zip(names, values)})
json.dump(out, sys.stdout)
"#;

/// `tests/onnx/preprocess.py` (the reference preprocessing in Python, from docs/checkpoint.md)
/// turns the raw example files into the exported graph's inputs, and onnxruntime on those gives
/// `fusionlab predict --json`'s probabilities and modality weights: every example with all three
/// modalities, and image only.
#[test]
fn reference_preprocessing_feeds_the_exported_model() {
    let test = "reference_preprocessing_feeds_the_exported_model";
    let python = match python() {
        Ok(p) => p,
        Err(reason) => {
            skip::skip(test, &reason);
            return;
        }
    };
    let root = Path::new(ROOT);
    let model_dir = root.join("models/attention");
    let loaded = checkpoint::load(&model_dir, &Device::Cpu).expect("load the model");
    let tmp = tempfile::tempdir().expect("temp dir");
    let onnx = tmp.path().join("model.onnx");
    onnx_export::export(&loaded, &onnx).expect("export");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("assets/examples"))
        .expect("assets/examples")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), 5, "five examples");
    let mut cases: Vec<(String, Vec<String>, PathBuf)> = Vec::new();
    for dir in &dirs {
        let name = dir
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(dir.join("text.txt")).expect("text.txt");
        let image = [
            "--image".to_owned(),
            dir.join("image.png").display().to_string(),
        ];
        let mut all = image.to_vec();
        all.extend(["--text".to_owned(), text.trim().to_owned()]);
        all.extend([
            "--audio".to_owned(),
            dir.join("sound.wav").display().to_string(),
        ]);
        for (label, args) in [("all", all), ("image", image.to_vec())] {
            let npz = tmp.path().join(format!("{name}-{label}.npz"));
            let out = Command::new(&python)
                .arg(root.join("tests/onnx/preprocess.py"))
                .arg(&model_dir)
                .args(&args)
                .arg("--out")
                .arg(&npz)
                .output()
                .expect("run preprocess.py");
            assert!(
                out.status.success(),
                "preprocess.py on {name}/{label}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            cases.push((format!("{name}/{label}"), args, npz));
        }
    }
    let out = Command::new(&python)
        .args(["-c", RUN_NPZ])
        .arg(&onnx)
        .args(cases.iter().map(|c| &c.2))
        .output()
        .expect("run onnxruntime");
    assert!(
        out.status.success(),
        "onnxruntime on the npz files: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON list");
    assert_eq!(results.len(), cases.len());
    let (mut worst_p, mut worst_w) = (0.0f64, 0.0f64);
    for ((id, args, _), o) in cases.iter().zip(&results) {
        let predicted = Command::new(env!("CARGO_BIN_EXE_fusionlab"))
            .args(["predict", "--model"])
            .arg(&model_dir)
            .args(args)
            .arg("--json")
            .output()
            .expect("run fusionlab predict");
        assert!(predicted.status.success(), "predict {id}");
        let p: Value = serde_json::from_slice(&predicted.stdout).expect("predict JSON");
        let probabilities = gap(&floats(&o["probabilities"]), &floats(&p["probs"]));
        let weights = gap(&floats(&o["modality_weights"]), &floats(&p["weights"]));
        assert!(
            probabilities < TOLERANCE && weights < TOLERANCE,
            "{id}: probabilities differ by {probabilities}, weights by {weights}\nonnx {} {}\npredict {} {}",
            o["probabilities"],
            o["modality_weights"],
            p["probs"],
            p["weights"]
        );
        worst_p = worst_p.max(probabilities);
        worst_w = worst_w.max(weights);
    }
    eprintln!(
        "onnx {test}: {} cases; max |diff| probabilities {worst_p:.2e}, weights {worst_w:.2e}",
        cases.len()
    );
}
