//! The `fusionlab` binary as a user runs it.

use std::path::Path;
use std::process::{Command, Output};

#[path = "support/skip.rs"]
mod skip;

fn fusionlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fusionlab"))
        .args(args)
        .output()
        .expect("run fusionlab")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_the_subcommands_and_dataset_forms() {
    let out = fusionlab(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for needle in [
        "data",
        "app",
        "synthetic:<preset>",
        "metadata.csv",
        "--dataset",
    ] {
        assert!(help.contains(needle), "missing {needle}:\n{help}");
    }
    let out = fusionlab(&["data", "info", "--help"]);
    assert!(text(&out.stdout).contains("--json") && text(&out.stdout).contains("--strict"));
}

#[test]
fn data_info_json_reports_counts_and_shapes() {
    let out = fusionlab(&["data", "info", "synthetic:missing?samples=200", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["samples"], 200);
    assert_eq!(v["classes"].as_array().map(Vec::len), Some(4));
    assert_eq!(v["image_shape"], serde_json::json!([3, 32, 32]));
    assert_eq!(v["audio_shape"], serde_json::json!([64, 98]));
    let splits = v["splits"].as_array().expect("splits");
    let total: u64 = splits
        .iter()
        .map(|s| s["total"]["samples"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(total, 200);
    let images: u64 = splits
        .iter()
        .map(|s| s["total"]["image"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        images < 170 && images > 110,
        "about 30 % of images missing: {images}"
    );
}

#[test]
fn data_info_table_and_image_size() {
    let out = fusionlab(&[
        "data",
        "info",
        "synthetic:complementary?samples=80",
        "--image-size",
        "16",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(report.contains("classes   8: circle-slow-low"), "{report}");
    assert!(report.contains("image 3×16×16"), "{report}");
    assert!(report.contains("problems  0"), "{report}");
}

#[test]
fn bad_input_exits_non_zero_with_the_reason_on_stderr() {
    let out = fusionlab(&["data", "info", "synthetic:nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("unknown preset 'nope'"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());

    let out = fusionlab(&["data", "info", "/no/such/folder"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("/no/such/folder"),
        "{}",
        text(&out.stderr)
    );

    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("manifest.csv"),
        "label,text\ncat,a cat\ndog,\u{0}\ncat,\n",
    )
    .expect("write");
    let out = fusionlab(&[
        "data",
        "info",
        dir.path().to_str().expect("utf8"),
        "--strict",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("row 4") && err.contains("strict"), "{err}");

    // Not strict, but no row is usable: every bad row is listed, with what to do.
    std::fs::write(
        dir.path().join("manifest.csv"),
        "label,image\ncat,a.png\ndog,b.png\n",
    )
    .expect("write");
    let out = fusionlab(&["data", "info", dir.path().to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("row 2") && err.contains("row 3") && err.contains("a.png not found"),
        "{err}"
    );
    assert!(err.contains("no usable samples (2 bad rows"), "{err}");
}

#[test]
fn avdigits_info() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/avdigits");
    if !dir.is_dir() {
        skip::skip(
            "cli::avdigits_info",
            &format!("{} is absent", dir.display()),
        );
        return;
    }
    let out = fusionlab(&["data", "info", dir.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report.contains("samples   3000 (train 2700, val 0, test 300)"),
        "{report}"
    );
    assert!(
        report.contains("classes   10: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9"),
        "{report}"
    );
    assert!(
        report.contains("image 3000 (missing 0)") && report.contains("audio 3000 (missing 0)"),
        "{report}"
    );
    assert!(report.contains("problems  0"), "{report}");
}

const TINY: &str = "synthetic:redundant?samples=64";

#[test]
fn train_save_eval_and_predict_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let model = dir.path().join("tiny");
    let model = model.to_str().expect("utf-8 path");
    let out = fusionlab(&[
        "train",
        "--dataset",
        TINY,
        "--fusion",
        "gated",
        "--epochs",
        "2",
        "--embed-dim",
        "16",
        "--out",
        model,
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["fusion"], "gated");
    assert_eq!(v["history"].as_array().map(Vec::len), Some(2));
    assert!(v["val"]["accuracy"].as_f64().is_some());

    // Human output: a metrics line, the per-class table and the confusion matrix.
    let out = fusionlab(&["eval", "--model", model, "--dataset", TINY]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    for needle in [
        "macro-F1",
        "precision",
        "confusion",
        "circle",
        "weights (native)",
    ] {
        assert!(table.contains(needle), "missing {needle}:\n{table}");
    }

    // Without --dataset, eval uses the model's own dataset.
    let out = fusionlab(&["eval", "--model", model, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["dataset"], TINY);
    assert!(v["samples"].as_array().is_some_and(|s| !s.is_empty()));

    let out = fusionlab(&["predict", "--model", model, "--text", "A small red circle!"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    for needle in [
        "prediction",
        "class probabilities",
        "modality weights (native)",
        "top words",
        "image",
        "not given",
    ] {
        assert!(shown.contains(needle), "missing {needle}:\n{shown}");
    }

    let out = fusionlab(&["predict", "--model", model]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--image"),
        "{}",
        text(&out.stderr)
    );

    let out = fusionlab(&[
        "predict",
        "--model",
        model,
        "--image",
        "/no/such.png",
        "--json",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("/no/such.png"),
        "{}",
        text(&out.stderr)
    );

    // A dataset with other classes is refused with the counts.
    let out = fusionlab(&[
        "eval",
        "--model",
        model,
        "--dataset",
        "synthetic:redundant?samples=60&classes=6",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("trained for 4 classes") && err.contains("has 6"),
        "{err}"
    );
}

#[test]
fn model_commands_explain_bad_arguments() {
    let out = fusionlab(&["train", "--dataset", TINY, "--fusion", "concat"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("crossmodal"),
        "{}",
        text(&out.stderr)
    );

    let out = fusionlab(&["eval", "--model", "no-such-model"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no model at"),
        "{}",
        text(&out.stderr)
    );

    let out = fusionlab(&["train", "--dataset", TINY, "--out", "bad name!"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("model name"),
        "{}",
        text(&out.stderr)
    );

    if !cfg!(feature = "cuda") {
        let out = fusionlab(&[
            "train",
            "--dataset",
            TINY,
            "--epochs",
            "1",
            "--device",
            "cuda",
        ]);
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("built without CUDA"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn compare_prints_one_row_per_method() {
    let out = fusionlab(&[
        "compare",
        "--dataset",
        TINY,
        "--fusions",
        "early,late",
        "--epochs",
        "1",
        "--embed-dim",
        "16",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.contains("val acc") && table.contains("shapley"),
        "{table}"
    );
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("early") || l.starts_with("late"))
        .collect();
    assert_eq!(rows.len(), 2, "{table}");
}

#[test]
fn robustness_measures_saved_models_as_json_and_as_a_table() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/attention");
    let model = models.to_str().expect("utf-8 path");
    let out = fusionlab(&[
        "robustness",
        "--model",
        model,
        "--dataset",
        "synthetic:redundant?samples=120",
        "--corruptions",
        "audio-missing,image-noise",
        "--levels",
        "3",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["levels"], serde_json::json!([0.0, 0.5, 1.0]));
    let curves = v["reports"][0]["curves"].as_array().expect("curves");
    assert_eq!(curves.len(), 2);
    assert_eq!(
        curves[0]["corruption"], "audio-missing",
        "in the order asked"
    );
    assert_eq!(curves[1]["accuracy"].as_array().expect("acc").len(), 3);
    let out = fusionlab(&[
        "robustness",
        "--model",
        model,
        "--dataset",
        "synthetic:redundant?samples=120",
        "--corruptions",
        "text-missing",
        "--levels",
        "2",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.contains("text: missing") && table.contains("needs a late fusion model"),
        "{table}"
    );
    let out = fusionlab(&["robustness", "--model", model, "--corruptions", "sunburn"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("sunburn"),
        "{}",
        text(&out.stderr)
    );
}

/// A Teach project (made with the library, as the app makes it) is an ordinary dataset folder
/// for the CLI: `data info` reads it and `train` trains on it.
#[test]
fn a_teach_project_loads_with_data_info_and_trains_from_the_cli() {
    use fusionlab::data::project::{NewExample, NewImage, NewSound, Project};
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("mine");
    let mut project = Project::create(&dir, "mine").expect("create");
    for (c, class) in ["cup", "keys"].iter().enumerate() {
        project.add_class(class).expect("class");
        for k in 0..4u8 {
            let shade = if c == 0 { 40 } else { 210 } + k;
            let example = NewExample {
                image: Some(NewImage {
                    width: 16,
                    height: 16,
                    rgb: vec![shade; 16 * 16 * 3],
                }),
                text: Some(format!("this is the {class} number {k}")),
                audio: (k % 2 == 0).then(|| NewSound {
                    sample_rate: 16_000,
                    samples: vec![0.1 * f32::from(k + 1); 8_000],
                }),
            };
            project.add_example(class, example).expect("example");
        }
    }
    let path = dir.display().to_string();
    let out = fusionlab(&["data", "info", &path, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["samples"], 8);
    assert_eq!(v["classes"], serde_json::json!(["cup", "keys"]));
    assert_eq!(v["problems"].as_array().map(Vec::len), Some(0), "{v}");
    let out = fusionlab(&[
        "train",
        "--dataset",
        &path,
        "--epochs",
        "2",
        "--embed-dim",
        "8",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}
