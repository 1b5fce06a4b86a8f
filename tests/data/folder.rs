use std::path::Path;

use fusionlab::data::{
    DatasetError, DatasetSpec, LoadOptions, Modality, ProblemKind, Quiet, Split, load_dataset,
};

use super::common::{shared_data, temp_dir, write_png, write_tone};

fn load(path: &Path, strict: bool) -> Result<fusionlab::data::Dataset, DatasetError> {
    let options = LoadOptions {
        strict,
        ..LoadOptions::default()
    };
    load_dataset(&DatasetSpec::Path(path.to_owned()), &options, &Quiet)
}

/// A manifest with good rows and one of each kind of bad row.
fn messy_manifest(dir: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("img")).expect("mkdir");
    std::fs::create_dir_all(dir.join("snd")).expect("mkdir");
    write_png(&dir.join("img/a.png"), 12, 12, [200, 0, 0]);
    write_png(&dir.join("img/b.png"), 12, 12, [0, 0, 200]);
    std::fs::write(dir.join("img/corrupt.png"), b"\x89PNG\r\n\x1a\n garbage").expect("write");
    write_tone(&dir.join("snd/a.wav"), 8000, 0.5, 300.0);
    let mut csv = Vec::new();
    csv.extend_from_slice(b"id,split,label,image,audio,text\n"); // line 1
    csv.extend_from_slice(b"r2,train,cat,img/a.png,snd/a.wav,a red cat\n"); // ok
    csv.extend_from_slice(b"r3,train,dog,img/b.png,,a blue dog\n"); // ok, no audio
    csv.extend_from_slice(b"r4,test,cat,img/missing.png,,\n"); // missing file
    csv.extend_from_slice(b"r5,test,bird,img/a.png,,\n"); // unknown label
    csv.extend_from_slice(b"r6,train,dog,img/corrupt.png,,\n"); // corrupt image
    csv.extend_from_slice(b"r7,train,caf\xff,img/a.png,,\n"); // not UTF-8
    csv.extend_from_slice(b"r8,train,cat,img/a.png\n"); // wrong field count
    csv.extend_from_slice(b"r9,valid,dog,,snd/a.wav,   \n"); // ok: val, audio only, blank text
    csv.extend_from_slice(b"r10,later,dog,,snd/a.wav,\n"); // bad split
    csv.extend_from_slice(b"r11,test,cat,,,\n"); // nothing present
    let path = dir.join("manifest.csv");
    std::fs::write(&path, csv).expect("write csv");
    path
}

#[test]
fn manifest_reports_every_bad_row_and_loads_the_rest() {
    let dir = temp_dir();
    let manifest = messy_manifest(dir.path());
    let d = load(dir.path(), false).expect("load");
    assert_eq!(d.classes, ["cat", "dog"]);
    let ids: Vec<&str> = d.samples.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["r2", "r3", "r9"]);
    assert_eq!(d.samples[2].split, Split::Val);
    assert_eq!(d.samples[1].presence().0, [true, true, false]);
    assert_eq!(
        d.samples[2].presence().0,
        [false, false, true],
        "blank text counts as missing"
    );
    let got: Vec<(usize, Option<&str>, ProblemKind)> = d
        .problems
        .iter()
        .map(|p| (p.line, p.column.as_deref(), p.kind.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (4, Some("image"), ProblemKind::MissingFile),
            (5, Some("label"), ProblemKind::UnknownLabel),
            (6, Some("image"), ProblemKind::BadFile),
            (7, Some("label"), ProblemKind::NotUtf8),
            (8, None, ProblemKind::BadRow),
            (10, Some("split"), ProblemKind::BadSplit),
            (11, Some("image, audio, text"), ProblemKind::BadRow),
        ]
    );
    for p in &d.problems {
        let text = p.to_string();
        assert!(text.contains(&manifest.display().to_string()), "{text}");
        assert!(text.contains(&format!("row {}", p.line)), "{text}");
    }
    assert!(d.problems[0].message.contains("missing.png"));
    assert!(d.problems[1].message.contains("'bird'"));
    assert!(d.problems[2].message.contains("corrupt.png"));
}

#[test]
fn strict_turns_any_bad_row_into_an_error() {
    let dir = temp_dir();
    messy_manifest(dir.path());
    match load(dir.path(), true) {
        Err(DatasetError::Strict(problems)) => assert_eq!(problems.len(), 7),
        other => panic!("expected a strict error, got {other:?}"),
    }
}

#[test]
fn missing_label_column_is_an_error_naming_file_and_column() {
    let dir = temp_dir();
    let path = dir.path().join("table.csv");
    std::fs::write(&path, "id,image,audio\nx,a.png,b.wav\n").expect("write");
    let err = load(&path, false).expect_err("no label");
    assert!(
        matches!(&err, DatasetError::MissingColumn { column, .. } if column == "label"),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("table.csv") && text.contains("'label'"),
        "{text}"
    );

    std::fs::write(&path, "id,label\nx,cat\n").expect("write");
    let err = load(&path, false).expect_err("no modality");
    assert!(err.to_string().contains("image, audio or text"), "{err}");
}

#[test]
fn a_folder_without_a_table_says_what_to_add() {
    let dir = temp_dir();
    let err = load(dir.path(), false).expect_err("empty folder");
    assert!(matches!(err, DatasetError::NoTable { .. }), "{err:?}");
    assert!(err.to_string().contains("manifest.csv"), "{err}");
    let err = load(&dir.path().join("nowhere"), false).expect_err("missing");
    assert!(matches!(err, DatasetError::Io { .. }), "{err:?}");
}

#[test]
fn huggingface_imagefolder_with_class_folders_and_split_folders() {
    let dir = temp_dir();
    let root = dir.path();
    for (split, class, n, colour) in [
        ("train", "red", 3, [220, 0, 0]),
        ("train", "blue", 3, [0, 0, 220]),
        ("test", "red", 1, [220, 0, 0]),
        ("test", "blue", 1, [0, 0, 220]),
    ] {
        std::fs::create_dir_all(root.join(split).join(class)).expect("mkdir");
        for i in 0..n {
            write_png(&root.join(format!("{split}/{class}/{i}.png")), 8, 8, colour);
        }
    }
    let mut csv = String::from("file_name,text\n");
    for (split, class, n) in [
        ("train", "red", 3),
        ("train", "blue", 3),
        ("test", "red", 1),
        ("test", "blue", 1),
    ] {
        for i in 0..n {
            csv.push_str(&format!("{split}/{class}/{i}.png,a {class} picture\n"));
        }
    }
    std::fs::write(root.join("metadata.csv"), csv).expect("write");
    let d = load(root, false).expect("load");
    assert_eq!(d.classes, ["blue", "red"]);
    assert!(d.problems.is_empty(), "{:?}", d.problems);
    let s = d.summary();
    assert_eq!(s.split(Split::Train).expect("train").total.samples, 6);
    assert_eq!(s.split(Split::Test).expect("test").total.samples, 2);
    assert!(
        d.samples
            .iter()
            .all(|s| s.presence().0 == [true, true, false])
    );
}

#[test]
fn huggingface_audiofolder_with_label_column_gets_a_stratified_split() {
    let dir = temp_dir();
    let mut csv = String::from("file_name,label\n");
    for i in 0..20 {
        let name = format!("clip{i}.wav");
        write_tone(
            &dir.path().join(&name),
            16_000,
            0.2,
            200.0 + 50.0 * (i % 2) as f32,
        );
        csv.push_str(&format!(
            "{name},{}\n",
            if i % 2 == 0 { "low" } else { "high" }
        ));
    }
    csv.push_str("notes.txt,low\n");
    std::fs::write(dir.path().join("metadata.csv"), csv).expect("write");
    let d = load(dir.path(), false).expect("load");
    assert_eq!(d.samples.len(), 20);
    assert_eq!(d.problems.len(), 1);
    assert_eq!(d.problems[0].kind, ProblemKind::BadRow);
    assert!(d.problems[0].message.contains("notes.txt"));
    let s = d.summary();
    for split in [Split::Train, Split::Val, Split::Test] {
        let counts = &s.split(split).expect("split").classes;
        assert_eq!(
            counts[0].samples, counts[1].samples,
            "{split:?} is stratified"
        );
    }
    assert_eq!(s.split(Split::Train).expect("train").total.samples, 16);
    assert!(
        d.samples
            .iter()
            .all(|s| s.audio.as_ref().is_some_and(|a| a.len() == 64 * 98))
    );
}

#[test]
fn avdigits_loads_completely() {
    let Some(dir) = shared_data("data::folder::avdigits_loads_completely", "avdigits") else {
        return;
    };
    let d = load(&dir, false).expect("avdigits");
    let s = d.summary();
    assert_eq!(s.classes.len(), 10);
    assert_eq!(s.split(Split::Train).expect("train").total.samples, 2700);
    assert_eq!(s.split(Split::Test).expect("test").total.samples, 300);
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    for split in &s.splits {
        assert_eq!(split.total.present(Modality::Image), split.total.samples);
        assert_eq!(split.total.present(Modality::Audio), split.total.samples);
        assert_eq!(split.total.present(Modality::Text), 0);
    }
}

#[test]
fn huggingface_rows_may_carry_a_sound_or_only_a_text() {
    let dir = temp_dir();
    let root = dir.path();
    std::fs::create_dir_all(root.join("files")).expect("mkdir");
    write_png(&root.join("files/a.png"), 8, 8, [200, 0, 0]);
    write_tone(&root.join("files/a.wav"), 16_000, 0.2, 300.0);
    write_tone(&root.join("files/b.wav"), 16_000, 0.2, 600.0);
    std::fs::write(root.join("fusionlab-project.json"), "not even json").expect("write");
    let mut csv = String::from("file_name,label,text,audio,id\n"); // line 1
    csv.push_str("files/a.png,cat,\"a cat, purring\",files/a.wav,e1\n"); // image + sound + text
    csv.push_str(",cat,,files/b.wav,e2\n"); // sound only
    csv.push_str(",dog,\"a dog\nbarking\",,e3\n"); // text only (lines 4-5)
    csv.push_str("files/a.wav,dog,,files/b.wav,e4\n"); // line 6: two sounds
    csv.push_str(",dog,   ,,e5\n"); // line 7: nothing
    csv.push_str(",dog,,files/none.wav,e6\n"); // line 8: missing sound
    std::fs::write(root.join("metadata.csv"), csv).expect("write");
    let d = load(root, false).expect("load");
    let got: Vec<(&str, [bool; 3])> = d
        .samples
        .iter()
        .map(|s| (s.id.as_str(), s.presence().0))
        .collect();
    assert_eq!(
        got,
        [
            ("e1", [true, true, true]),
            ("e2", [false, false, true]),
            ("e3", [false, true, false])
        ]
    );
    assert_eq!(d.classes, ["cat", "dog"]);
    let problems: Vec<(usize, Option<&str>, ProblemKind)> = d
        .problems
        .iter()
        .map(|p| (p.line, p.column.as_deref(), p.kind.clone()))
        .collect();
    assert_eq!(
        problems,
        [
            (6, Some("file_name, audio"), ProblemKind::BadRow),
            (7, Some("file_name"), ProblemKind::BadRow),
            (8, Some("audio"), ProblemKind::MissingFile),
        ]
    );
    assert!(
        d.problems[0].message.contains("two sounds"),
        "{}",
        d.problems[0]
    );
    assert!(
        d.problems[0].message.contains("keep one"),
        "{}",
        d.problems[0]
    );
    assert!(
        d.problems[1].message.contains("file_name is empty"),
        "{}",
        d.problems[1]
    );
}
