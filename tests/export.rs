//! Exports are re-readable, written atomically, and lessons round-trip.
#![allow(clippy::unwrap_used)]

use fusionlab::app::Tab;
use fusionlab::app::lesson::{FORMAT, Lesson, shipped};
use fusionlab::engine::robustness::{Corruption, RobustnessCurve, RobustnessReport};
use fusionlab::engine::{EpochReport, Metrics, Prediction, TrainConfig};
use fusionlab::export::{
    EmbeddingRow, ReportInputs, coordinates_csv, metrics_csv, png, prediction_json, robustness_csv,
    tensorboard, write_atomic,
};
use fusionlab::model::{FusionKind, WeightKind};

fn epoch(n: usize) -> EpochReport {
    EpochReport {
        epoch: n,
        epochs: 3,
        train_loss: 1.0 / n as f32,
        train_accuracy: 0.5,
        learning_rate: 1e-3,
        val: Metrics {
            accuracy: 0.25 * n as f32,
            modality_only: [Some(0.5), None, Some(0.25)],
            mean_weights: [0.5, 0.25, 0.25],
            ..Metrics::default()
        },
        best: n == 3,
        seconds: 1.5,
    }
}

fn records(path: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

#[test]
fn metrics_and_robustness_csv_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.csv");
    metrics_csv(&path, &[epoch(1), epoch(2), epoch(3)]).unwrap();
    let (header, rows) = records(&path);
    assert_eq!(header[0], "epoch");
    assert_eq!(rows.len(), 3);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(rows[2][col("val_accuracy")].parse::<f32>().unwrap(), 0.75);
    assert_eq!(rows[0][col("text_only_accuracy")], "");
    assert_eq!(rows[2][col("best")], "true");
    assert!(metrics_csv(&dir.path().join("e.csv"), &[]).is_err());
    assert!(!dir.path().join("e.csv").exists());

    let report = RobustnessReport {
        model: "attention, \"quoted\"".into(),
        fusion: FusionKind::Attention,
        samples: 10,
        clean_accuracy: 0.9,
        curves: vec![RobustnessCurve {
            corruption: Corruption::AudioNoise,
            levels: vec![0.0, 0.5, 1.0],
            accuracy: vec![0.9, 0.6, 0.3],
            relative: 0.6,
            effective: Some(-0.1),
        }],
    };
    let path = dir.path().join("r.csv");
    robustness_csv(&path, &[report]).unwrap();
    let (header, rows) = records(&path);
    assert_eq!(
        header,
        [
            "model",
            "fusion",
            "corruption",
            "level",
            "accuracy",
            "area",
            "effective"
        ]
    );
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1][0], "attention, \"quoted\"");
    assert_eq!(rows[1][2], "audio-noise");
    assert_eq!(rows[1][4].parse::<f32>().unwrap(), 0.6);
}

#[test]
fn embeddings_export_in_tensorboard_format_and_as_coordinates() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = [[0.5f32, -1.0, 2.0], [1.0, 0.0, 0.25]];
    let rows = vec![
        EmbeddingRow {
            id: "a",
            label: "circle",
            predicted: "cross",
            split: "test",
            vector: &vectors[0],
            xy: [0.1, 0.2],
        },
        EmbeddingRow {
            id: "b\twith tab",
            label: "cross",
            predicted: "",
            split: "train",
            vector: &vectors[1],
            xy: [-3.0, 4.5],
        },
    ];
    let out = dir.path().join("emb");
    let [v, m] = tensorboard(&out, &rows).unwrap();
    let vt = std::fs::read_to_string(v).unwrap();
    let parsed: Vec<Vec<f32>> = vt
        .lines()
        .map(|l| l.split('\t').map(|x| x.parse().unwrap()).collect())
        .collect();
    assert_eq!(
        parsed,
        vectors.iter().map(|r| r.to_vec()).collect::<Vec<_>>()
    );
    let mt = std::fs::read_to_string(m).unwrap();
    let lines: Vec<Vec<&str>> = mt.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines[0], ["id", "label", "predicted", "split"]);
    assert_eq!(lines.len(), 3);
    assert!(
        lines.iter().all(|l| l.len() == 4),
        "a tab inside a field is replaced"
    );
    let path = out.join("coordinates.csv");
    coordinates_csv(&path, &rows).unwrap();
    let (header, got) = records(&path);
    assert_eq!(header, ["id", "label", "predicted", "split", "x", "y"]);
    assert_eq!(got[1][4].parse::<f32>().unwrap(), -3.0);
    assert_eq!(got[1][5].parse::<f32>().unwrap(), 4.5);
}

#[test]
fn a_prediction_report_and_a_png_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let prediction = Prediction {
        classes: vec!["circle".into(), "cross".into()],
        predicted: 1,
        probs: vec![0.25, 0.75],
        weights: [0.5, 0.0, 0.5],
        weight_kind: WeightKind::Native,
        present: [true, false, true],
        words: Vec::new(),
        attention: [vec![0.5, 0.5], Vec::new(), vec![1.0]],
        image_grid: 1,
        frame_ms: 40.0,
        frame_offset_ms: 0.0,
        spectrogram_ms: 20.0,
        spectrogram: vec![1.0; 4],
        mel_bins: 2,
        embeddings: Default::default(),
        fused: Vec::new(),
    };
    let inputs = ReportInputs {
        image: Some("cat.png".into()),
        text: None,
        audio: Some("meow.wav".into()),
    };
    let path = dir.path().join("p.json");
    prediction_json(&path, "models/attention", &inputs, &prediction).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(json["predicted"], "cross");
    assert_eq!(json["probabilities"]["circle"], 0.25);
    assert_eq!(json["weights"]["audio"], 0.5);
    assert_eq!(json["inputs"]["image"], "cat.png");
    let back: Prediction = serde_json::from_value(json["prediction"].clone()).unwrap();
    assert_eq!(back.probs, prediction.probs);

    let path = dir.path().join("plot.png");
    let rgba: Vec<u8> = (0..4 * 3 * 2).map(|i| i as u8).collect();
    png(&path, 3, 2, &rgba).unwrap();
    let img = image::open(&path).unwrap().to_rgba8();
    assert_eq!(img.dimensions(), (3, 2));
    assert_eq!(img.as_raw(), &rgba);
    assert!(png(&dir.path().join("bad.png"), 3, 3, &rgba).is_err());
}

#[test]
fn a_failed_write_leaves_the_old_file_and_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keep.csv");
    std::fs::write(&path, "old").unwrap();
    let err = write_atomic(&path, |out| {
        out.write_all(b"half")?;
        Err(std::io::Error::other("disk full").into())
    });
    assert!(err.unwrap_err().to_string().contains("disk full"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn lessons_round_trip_and_the_shipped_ones_are_valid() {
    let files = shipped();
    assert!((3..=5).contains(&files.len()), "{files:?}");
    for f in &files {
        let lesson = Lesson::load(f).unwrap_or_else(|e| panic!("{e}"));
        assert!(!lesson.question.is_empty(), "{}", f.display());
    }
    let lesson = Lesson {
        format: FORMAT.into(),
        version: 1,
        title: "t".into(),
        description: "d".into(),
        question: "q?".into(),
        dataset: "synthetic:xor?samples=300&audio_noise=0.5".into(),
        train: TrainConfig {
            fusion: FusionKind::Tensor,
            epochs: 7,
            ..TrainConfig::default()
        },
        panels: vec![Tab::Training, Tab::Analysis],
        example: Some("xor".into()),
        train_now: true,
        claims: Vec::new(),
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.fusionlab.json");
    lesson.save(&path).unwrap();
    assert_eq!(Lesson::load(&path).unwrap(), lesson);
    // Bad files name the file and the field.
    for (text, expect) in [
        ("{", "not a lesson file"),
        (
            r#"{"format":"other","version":1,"title":"t","dataset":"synthetic:xor","train":{},"panels":["Predict"]}"#,
            "'format'",
        ),
        (
            r#"{"format":"fusionlab-lesson","version":1,"title":"t","dataset":"synthetic:nope","train":{},"panels":["Predict"]}"#,
            "'dataset'",
        ),
        (
            r#"{"format":"fusionlab-lesson","version":1,"title":"t","dataset":"synthetic:xor","train":{"epochs":0},"panels":["Predict"]}"#,
            "'train'",
        ),
        (
            r#"{"format":"fusionlab-lesson","version":1,"title":"t","dataset":"synthetic:xor","train":{},"panels":[]}"#,
            "'panels'",
        ),
    ] {
        std::fs::write(&path, text).unwrap();
        let err = Lesson::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("x.fusionlab.json") && err.contains(expect),
            "{err}"
        );
    }
}
