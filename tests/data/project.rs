//! Teach-it-yourself projects: making, changing and reopening one, advice, errors, ids, and
//! loading it as a dataset.

use std::path::{Path, PathBuf};

use fusionlab::data::project::{
    Advice, Example, FILES_DIR, MIN_EXAMPLES, NewExample, NewImage, NewSound, PROJECT_FILE,
    Project, ProjectError, TABLE,
};
use fusionlab::data::{Modality, Quiet, folder, spec::LoadOptions};

use super::common::{temp_dir, write_png, write_tone};

fn image(shade: u8) -> NewImage {
    let (width, height) = (64, 64);
    let rgb = (0..width * height)
        .flat_map(|i| [shade, (i % 256) as u8, (i / 64 * 4) as u8])
        .collect();
    NewImage { width, height, rgb }
}

fn sound(hz: f32) -> NewSound {
    let sample_rate = 16_000;
    let samples = (0..8_000)
        .map(|i| (std::f32::consts::TAU * hz * i as f32 / sample_rate as f32).sin() * 0.4)
        .collect();
    NewSound {
        sample_rate,
        samples,
    }
}

fn text(t: &str) -> Option<String> {
    Some(t.to_owned())
}

fn project_with(dir: &Path, classes: &[&str]) -> Project {
    let mut p = Project::create(dir, "Desk things").expect("create");
    for c in classes {
        p.add_class(c).expect("add class");
    }
    p
}

fn all_three(shade: u8, sentence: &str, hz: f32) -> NewExample {
    NewExample {
        image: Some(image(shade)),
        text: text(sentence),
        audio: Some(sound(hz)),
    }
}

/// Every file of every example exists.
fn assert_files_exist(p: &Project) {
    for e in &p.examples {
        for rel in [&e.image, &e.audio].into_iter().flatten() {
            assert!(
                p.file(rel).is_file(),
                "{} of {} is missing",
                rel.display(),
                e.id
            );
        }
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(FILES_DIR))
        .expect("files dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn create_writes_an_empty_project_that_reopens() {
    let dir = temp_dir();
    let root = dir.path().join("new project");
    let p = Project::create(&root, "  Desk things ").expect("create");
    assert_eq!(p.name, "Desk things");
    assert!(Project::is_project(&root));
    assert!(root.join(FILES_DIR).is_dir());
    let table = std::fs::read_to_string(root.join(TABLE)).expect("table");
    assert!(table.starts_with("file_name,label,text,audio"), "{table}");
    assert_eq!(table.lines().count(), 1, "header only: {table}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join(PROJECT_FILE)).expect("json"))
            .expect("valid json");
    assert_eq!(json["version"], 1);
    assert_eq!(json["name"], "Desk things");
    assert_eq!(json["classes"], serde_json::json!([]));
    assert_eq!(Project::open(&root).expect("open"), p);
    // An existing empty folder is fine too.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    Project::create(&empty, "x").expect("create in an empty folder");
}

#[test]
fn every_change_is_saved_and_reopens_equal() {
    let dir = temp_dir();
    let root = dir.path().join("p");
    let mut p = project_with(&root, &["cup", "keys", "pen"]);
    let colours: Vec<[u8; 3]> = p.classes.iter().map(|c| c.colour).collect();
    assert!(
        colours[0] != colours[1] && colours[1] != colours[2] && colours[0] != colours[2],
        "{colours:?}"
    );

    // add_example: image only, text only, sound only, all three.
    let a = p
        .add_example(
            "cup",
            NewExample {
                image: Some(image(200)),
                ..NewExample::default()
            },
        )
        .expect("image only");
    assert_eq!(a.id, "ex00001");
    assert_eq!(a.image.as_deref(), Some(Path::new("files/ex00001.png")));
    assert_eq!((a.text.as_ref(), a.audio.as_ref()), (None, None));
    let b = p
        .add_example(
            "cup",
            NewExample {
                text: text("  a white mug  "),
                ..NewExample::default()
            },
        )
        .expect("text only");
    assert_eq!(b.text.as_deref(), Some("a white mug"), "trimmed");
    assert_eq!((b.image.as_ref(), b.audio.as_ref()), (None, None));
    let c = p
        .add_example(
            "keys",
            NewExample {
                audio: Some(sound(900.0)),
                text: text("   "),
                ..NewExample::default()
            },
        )
        .expect("sound only");
    assert_eq!(c.audio.as_deref(), Some(Path::new("files/ex00003.wav")));
    assert_eq!(c.text, None, "blank text is none");
    let d = p
        .add_example("keys", all_three(40, "keys jingle, jangle", 1200.0))
        .expect("all three");
    assert!(d.image.is_some() && d.text.is_some() && d.audio.is_some());
    let decoded = image::open(p.file(d.image.as_ref().expect("image")))
        .expect("png decodes")
        .to_rgb8();
    assert_eq!(
        decoded.into_raw(),
        image(40).rgb,
        "the PNG holds the pixels given"
    );
    let wave = fusionlab::data::audio::read_wav(&p.file(d.audio.as_ref().expect("wav")), 10.0)
        .expect("wav decodes");
    assert_eq!((wave.sample_rate, wave.samples.len()), (16_000, 8_000));
    assert_eq!(p.counts("cup"), [1, 1, 0]);
    assert_eq!(p.counts("keys"), [1, 1, 2]);
    assert_eq!(Project::open(&root).expect("reopen"), p);

    // add_files: unpaired files to pen, a paired drop to cup, with a corrupt png and wav.
    let drop = dir.path().join("drop");
    std::fs::create_dir_all(&drop).expect("mkdir");
    write_png(&drop.join("pen1.png"), 20, 10, [10, 20, 200]);
    write_png(&drop.join("pen2.JPG.png"), 8, 8, [10, 20, 30]);
    write_tone(&drop.join("click.wav"), 8_000, 0.3, 440.0);
    std::fs::write(
        drop.join("note.txt"),
        "\n\n  a blue pen, \"fine\"  \nsecond line\n",
    )
    .expect("write");
    std::fs::write(drop.join("broken.png"), b"\x89PNG\r\n\x1a\n not really").expect("write");
    std::fs::write(drop.join("broken.wav"), b"RIFF\x10\x00\x00\x00WAVEjunk").expect("write");
    std::fs::write(drop.join("notes.doc"), b"hello").expect("write");
    let paths: Vec<PathBuf> = [
        "pen1.png",
        "broken.png",
        "click.wav",
        "note.txt",
        "broken.wav",
        "pen2.JPG.png",
        "notes.doc",
    ]
    .iter()
    .map(|n| drop.join(n))
    .collect();
    let got = p.add_files("pen", &paths, false);
    let kinds: Vec<[bool; 3]> = got
        .added
        .iter()
        .map(|e| [e.image.is_some(), e.text.is_some(), e.audio.is_some()])
        .collect();
    assert_eq!(
        kinds,
        [
            [true, false, false],
            [false, false, true],
            [false, true, false],
            [true, false, false]
        ]
    );
    assert_eq!(got.added[2].text.as_deref(), Some("a blue pen, \"fine\""));
    assert_eq!(
        got.added[0].image.as_deref(),
        Some(Path::new("files/ex00005.png"))
    );
    assert_eq!(
        got.added[1].audio.as_deref(),
        Some(Path::new("files/ex00006.wav"))
    );
    let skipped: Vec<&Path> = got.skipped.iter().map(|(p, _)| p.as_path()).collect();
    assert_eq!(
        skipped,
        [
            drop.join("broken.png"),
            drop.join("broken.wav"),
            drop.join("notes.doc")
        ]
    );
    for (path, why) in &got.skipped {
        let name = path.file_name().expect("name").to_string_lossy();
        assert!(
            why.contains(name.as_ref()),
            "the reason names the file: {why}"
        );
    }
    assert!(got.skipped[2].1.contains(".wav"), "{}", got.skipped[2].1);
    assert_eq!(
        std::fs::read(p.file(got.added[1].audio.as_ref().expect("wav"))).expect("copy"),
        std::fs::read(drop.join("click.wav")).expect("source"),
        "files are copied as they are"
    );

    // Paired: the i-th image with the i-th sound, by position among images and sounds.
    write_tone(&drop.join("s2.wav"), 16_000, 0.2, 300.0);
    write_tone(&drop.join("s3.wav"), 16_000, 0.2, 600.0);
    let paired: Vec<PathBuf> = [
        "click.wav",
        "s2.wav",
        "pen1.png",
        "broken.png",
        "pen2.JPG.png",
        "s3.wav",
    ]
    .iter()
    .map(|n| drop.join(n))
    .collect();
    let got = p.add_files("cup", &paired, true);
    let shape: Vec<(Option<String>, Option<String>)> = got
        .added
        .iter()
        .map(|e| {
            let name = |p: &Option<PathBuf>| {
                p.as_ref()
                    .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
            };
            (name(&e.image), name(&e.audio))
        })
        .collect();
    let (n1, n2, n3) = ("ex00009", "ex00010", "ex00011");
    assert_eq!(
        shape,
        [
            (Some(format!("{n1}.png")), Some(format!("{n1}.wav"))),
            // broken.png's partner s2.wav stays alone.
            (None, Some(format!("{n2}.wav"))),
            (Some(format!("{n3}.png")), Some(format!("{n3}.wav"))),
        ]
    );
    assert_eq!(got.skipped.len(), 1);
    assert_eq!(got.skipped[0].0, drop.join("broken.png"));
    let reopened = Project::open(&root).expect("reopen");
    assert_eq!(reopened, p);
    assert_files_exist(&p);

    // Rename: examples follow, files stay.
    let pen_files: Vec<Example> = p.examples_of("pen").cloned().collect();
    p.rename_class("pen", "  pencil ").expect("rename");
    assert!(p.class("pen").is_none());
    assert_eq!(p.examples_of("pencil").count(), pen_files.len());
    for (e, before) in p.examples_of("pencil").zip(&pen_files) {
        assert_eq!(
            (&e.id, &e.image, &e.audio),
            (&before.id, &before.image, &before.audio)
        );
    }
    p.rename_class("pencil", "Pencil")
        .expect("a change of case is a rename");
    assert_eq!(Project::open(&root).expect("reopen"), p);

    // Move and remove.
    p.move_example("ex00002", "keys").expect("move");
    assert_eq!(p.example("ex00002").expect("moved").label, "keys");
    let removed = p.remove_example("ex00004").expect("remove");
    assert_eq!(removed, d);
    assert!(
        !p.file(d.image.as_ref().expect("image")).exists(),
        "its files are deleted"
    );
    assert!(!p.file(d.audio.as_ref().expect("wav")).exists());
    assert_eq!(Project::open(&root).expect("reopen"), p);

    // Delete a class: its examples and files go, the others stay.
    let keys: Vec<Example> = p.examples_of("keys").cloned().collect();
    let gone = p.delete_class("keys").expect("delete");
    assert_eq!(gone, keys);
    assert!(p.class("keys").is_none());
    assert!(p.examples.iter().all(|e| e.label != "keys"));
    assert!(!p.file(c.audio.as_ref().expect("wav")).exists());
    assert_files_exist(&p);
    p.set_colour("cup", [1, 2, 3]).expect("colour");
    let reopened = Project::open(&root).expect("reopen");
    assert_eq!(reopened, p);
    assert_eq!(reopened.class("cup").expect("cup").colour, [1, 2, 3]);
    assert_eq!(
        reopened
            .classes
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["cup", "Pencil"],
        "class order is kept"
    );
    // Every file left in files/ belongs to an example.
    let mut listed: Vec<String> = p
        .examples
        .iter()
        .flat_map(|e| [e.image.clone(), e.audio.clone()])
        .flatten()
        .map(|rel| {
            rel.file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    listed.sort();
    assert_eq!(files_in(&root), listed);
}

#[test]
fn texts_with_commas_quotes_newlines_and_unicode_round_trip() {
    let dir = temp_dir();
    let mut p = project_with(dir.path(), &["a", "b"]);
    let texts = [
        "plain",
        "commas, and \"double quotes\", and 'single'",
        "two\nlines\r\nand a tab\there",
        "ünïcödé — 日本語のテキスト 🙂 ok",
        "ends with a quote\"",
        ",leading comma",
    ];
    for (i, t) in texts.iter().enumerate() {
        p.add_example(
            if i % 2 == 0 { "a" } else { "b" },
            NewExample {
                text: text(t),
                ..NewExample::default()
            },
        )
        .expect("add");
    }
    let reopened = Project::open(dir.path()).expect("reopen");
    assert_eq!(reopened, p);
    let got: Vec<&str> = reopened
        .examples
        .iter()
        .map(|e| e.text.as_deref().expect("text"))
        .collect();
    assert_eq!(got, texts);
    let d = folder::load(dir.path(), &LoadOptions::default(), &Quiet).expect("load");
    let mut raw: Vec<&str> = d
        .samples
        .iter()
        .map(|s| s.text.as_ref().expect("text").raw.as_str())
        .collect();
    raw.sort();
    let mut want = texts.to_vec();
    want.sort();
    assert_eq!(raw, want, "the loader reads the same texts");
}

#[test]
fn the_loader_reads_a_project() {
    let dir = temp_dir();
    let mut p = project_with(dir.path(), &["zebra", "apple", "empty"]);
    for i in 0..4u8 {
        p.add_example(
            "zebra",
            all_three(i * 30, "stripes and more stripes", 500.0),
        )
        .expect("add");
        p.add_example(
            "apple",
            NewExample {
                text: text("a red apple"),
                audio: Some(sound(800.0)),
                ..NewExample::default()
            },
        )
        .expect("add");
    }
    p.add_example(
        "apple",
        NewExample {
            image: Some(image(9)),
            ..NewExample::default()
        },
    )
    .expect("add");
    let d = folder::load(dir.path(), &LoadOptions::default(), &Quiet).expect("load");
    assert!(d.problems.is_empty(), "{:?}", d.problems);
    assert_eq!(
        d.classes,
        ["apple", "zebra"],
        "the loader's own order; empty classes absent"
    );
    assert_eq!(d.samples.len(), 9);
    let s = d.summary();
    let count = |m: Modality| s.splits.iter().map(|x| x.total.present(m)).sum::<usize>();
    assert_eq!(count(Modality::Image), 5);
    assert_eq!(count(Modality::Text), 8);
    assert_eq!(count(Modality::Audio), 8);
    for sample in &d.samples {
        let e = p
            .example(&sample.id)
            .expect("the sample id is the example id");
        let class = &d.classes[sample.label];
        assert_eq!(&e.label, class);
        assert_eq!(
            sample.presence().0,
            [e.image.is_some(), e.text.is_some(), e.audio.is_some()]
        );
    }
    // The same through a dataset spec.
    let spec = fusionlab::data::DatasetSpec::Path(dir.path().to_owned());
    let d2 = fusionlab::data::load_dataset(&spec, &LoadOptions::default(), &Quiet).expect("spec");
    assert_eq!(d2.samples.len(), 9);

    // A project without examples: the loader's usual error.
    let empty = temp_dir();
    project_with(empty.path(), &["a", "b"]);
    let err = folder::load(empty.path(), &LoadOptions::default(), &Quiet).expect_err("empty");
    assert!(
        matches!(err, fusionlab::data::DatasetError::NoSamples { .. }),
        "{err:?}"
    );
}

#[test]
fn advice_says_what_stops_training() {
    let dir = temp_dir();
    let mut p = Project::create(dir.path(), "p").expect("create");
    assert_eq!(p.advice(), [Advice::NoClasses]);
    assert!(p.advice()[0].to_string().contains("two classes"));
    assert_eq!(p.can_train(), Err(vec![Advice::NoClasses]));

    p.add_class("cup").expect("add");
    assert_eq!(
        p.advice(),
        [
            Advice::OneClass,
            Advice::EmptyClass {
                class: "cup".into()
            }
        ]
    );
    p.add_class("keys").expect("add");
    let pic = || NewExample {
        image: Some(image(1)),
        ..NewExample::default()
    };
    p.add_example("cup", pic()).expect("add");
    let advice = p.advice();
    assert_eq!(
        advice,
        [
            Advice::TooFew {
                class: "cup".into(),
                have: 1,
                need: MIN_EXAMPLES - 1
            },
            Advice::EmptyClass {
                class: "keys".into()
            }
        ]
    );
    let too_few = advice[0].to_string();
    assert!(
        too_few.contains("'cup'")
            && too_few.contains("add 2 more")
            && too_few.contains("8 or more"),
        "{too_few}"
    );
    assert!(
        advice[1].to_string().contains("'keys' has no examples"),
        "{}",
        advice[1]
    );
    assert!(advice.iter().all(Advice::blocks_training));

    for _ in 0..2 {
        p.add_example("cup", pic()).expect("add");
    }
    for _ in 0..3 {
        p.add_example(
            "keys",
            NewExample {
                image: Some(image(2)),
                audio: Some(sound(300.0)),
                ..NewExample::default()
            },
        )
        .expect("add");
    }
    let advice = p.advice();
    assert_eq!(
        advice,
        [Advice::MissingModality {
            class: "cup".into(),
            missing: vec![Modality::Audio]
        }]
    );
    let warning = advice[0].to_string();
    assert!(
        warning.contains("'cup' has no sounds while other classes do")
            && warning.contains("hint that it is 'cup'"),
        "{warning}"
    );
    assert!(!advice[0].blocks_training());
    assert_eq!(p.can_train(), Ok(()), "a missing modality only warns");

    let two = Advice::MissingModality {
        class: "x".into(),
        missing: vec![Modality::Image, Modality::Audio],
    }
    .to_string();
    assert!(
        two.contains("no images and no sounds") && two.contains("image or sound"),
        "{two}"
    );
}

#[test]
fn errors_name_the_folder_class_or_example_and_what_to_do() {
    let dir = temp_dir();
    let err = Project::open(dir.path()).expect_err("not a project");
    assert!(matches!(err, ProjectError::NotAProject { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&dir.path().display().to_string())
            && msg.contains(PROJECT_FILE)
            && msg.contains("New project"),
        "{msg}"
    );
    assert!(!Project::is_project(dir.path()));
    let missing = Project::open(&dir.path().join("nowhere")).expect_err("missing folder");
    assert!(missing.to_string().contains("nowhere"), "{missing}");

    std::fs::write(dir.path().join("something.txt"), "x").expect("write");
    let err = Project::create(dir.path(), "p").expect_err("not empty");
    assert!(matches!(err, ProjectError::NotEmpty { .. }), "{err:?}");
    assert!(err.to_string().contains("empty folder"), "{err}");
    let err = Project::create(&dir.path().join("something.txt"), "p").expect_err("a file");
    assert!(matches!(err, ProjectError::NotAFolder { .. }), "{err:?}");
    assert!(matches!(
        Project::create(&dir.path().join("q"), "  "),
        Err(ProjectError::BadName { .. })
    ));

    let root = dir.path().join("p");
    let mut p = project_with(&root, &["Cup"]);
    let err = p.add_class(" cup ").expect_err("duplicate");
    assert!(
        matches!(&err, ProjectError::DuplicateClass { name } if name == "cup"),
        "{err:?}"
    );
    assert!(err.to_string().contains("'cup'"), "{err}");
    let long = "x".repeat(65);
    for bad in [
        "",
        "   ",
        "a,b",
        "say \"hi\"",
        "it's",
        "a/b",
        "a\\b",
        "two\nlines",
        &long,
    ] {
        let err = p.add_class(bad).expect_err(bad);
        assert!(
            matches!(err, ProjectError::BadName { .. }),
            "{bad:?}: {err:?}"
        );
        assert!(
            err.to_string().contains("cannot be used as a name"),
            "{err}"
        );
    }
    p.add_class("keys").expect("add");
    assert!(matches!(
        p.rename_class("keys", "CUP"),
        Err(ProjectError::DuplicateClass { .. })
    ));
    assert!(matches!(
        p.rename_class("nope", "x"),
        Err(ProjectError::UnknownClass { .. })
    ));
    let err = p
        .add_example(
            "mugs",
            NewExample {
                text: text("a mug"),
                ..NewExample::default()
            },
        )
        .expect_err("unknown class");
    assert!(err.to_string().contains("'mugs'"), "{err}");
    let err = p
        .add_example("Cup", NewExample::default())
        .expect_err("empty");
    assert!(matches!(err, ProjectError::EmptyExample), "{err:?}");
    let err = p
        .add_example(
            "Cup",
            NewExample {
                text: text(" ?! "),
                ..NewExample::default()
            },
        )
        .expect_err("no words");
    assert!(matches!(err, ProjectError::EmptyExample), "{err:?}");
    let err = p
        .add_example(
            "Cup",
            NewExample {
                image: Some(NewImage {
                    width: 4,
                    height: 4,
                    rgb: vec![0; 47],
                }),
                ..NewExample::default()
            },
        )
        .expect_err("short pixels");
    assert!(matches!(err, ProjectError::BadImage { .. }), "{err:?}");
    assert!(err.to_string().contains("48"), "{err}");
    let err = p
        .add_example(
            "Cup",
            NewExample {
                audio: Some(NewSound {
                    sample_rate: 0,
                    samples: vec![0.0; 10],
                }),
                ..NewExample::default()
            },
        )
        .expect_err("bad rate");
    assert!(matches!(err, ProjectError::BadSound { .. }), "{err:?}");
    let err = p.remove_example("ex99999").expect_err("unknown example");
    assert!(err.to_string().contains("ex99999"), "{err}");
    assert!(matches!(
        p.move_example("ex99999", "Cup"),
        Err(ProjectError::UnknownExample { .. })
    ));
    let got = p.add_files("mugs", &[root.join("x.png")], false);
    assert!(got.added.is_empty());
    assert!(got.skipped[0].1.contains("'mugs'"), "{:?}", got.skipped);
    assert!(p.examples.is_empty(), "nothing was added by the failures");
    assert_eq!(
        files_in(&root),
        Vec::<String>::new(),
        "and no file was left behind"
    );

    // A damaged project file says so.
    std::fs::write(root.join(PROJECT_FILE), "{ not json").expect("write");
    let err = Project::open(&root).expect_err("corrupt");
    assert!(matches!(err, ProjectError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains(PROJECT_FILE), "{err}");
    std::fs::write(
        root.join(PROJECT_FILE),
        r#"{"version":7,"name":"p","classes":[]}"#,
    )
    .expect("write");
    let err = Project::open(&root).expect_err("newer");
    assert!(
        matches!(err, ProjectError::NewerVersion { version: 7, .. }),
        "{err:?}"
    );
}

#[test]
fn ids_are_never_reused() {
    let dir = temp_dir();
    let root = dir.path();
    let mut p = project_with(root, &["a", "b"]);
    let pic = || NewExample {
        image: Some(image(5)),
        ..NewExample::default()
    };
    let words = || NewExample {
        text: text("just words"),
        ..NewExample::default()
    };
    assert_eq!(p.add_example("a", pic()).expect("add").id, "ex00001");
    assert_eq!(p.add_example("a", words()).expect("add").id, "ex00002");
    p.remove_example("ex00002").expect("remove");
    assert_eq!(p.add_example("a", pic()).expect("add").id, "ex00003");
    p.remove_example("ex00003").expect("remove");
    // Reopened, the removed ids are still not given out again.
    let mut p = Project::open(root).expect("reopen");
    assert_eq!(p.add_example("b", words()).expect("add").id, "ex00004");
    p.delete_class("b").expect("delete");
    let mut p = Project::open(root).expect("reopen");
    assert_eq!(p.add_example("a", words()).expect("add").id, "ex00005");

    // A file left by a crash (listed nowhere) is never overwritten.
    write_png(&root.join("files/ex00042.png"), 4, 4, [1, 2, 3]);
    let orphan = std::fs::read(root.join("files/ex00042.png")).expect("orphan");
    assert_eq!(p.add_example("a", pic()).expect("add").id, "ex00043");
    assert_eq!(
        std::fs::read(root.join("files/ex00042.png")).expect("orphan"),
        orphan
    );
    // Nor is the hidden temporary file of an interrupted write.
    std::fs::write(root.join("files/.ex00050.wav.tmp123"), b"half").expect("write");
    let mut p = Project::open(root).expect("reopen");
    assert_eq!(p.add_example("a", words()).expect("add").id, "ex00051");
    let got = p.add_files("a", &[root.join("files/ex00042.png")], false);
    assert_eq!(got.added[0].id, "ex00052");
}

#[test]
fn open_repairs_in_memory_and_writes_nothing() {
    let dir = temp_dir();
    let root = dir.path();
    let mut p = project_with(root, &["a", "b"]);
    for class in ["a", "b"] {
        p.add_example(class, all_three(3, "hello there", 400.0))
            .expect("add");
    }
    // Hand edits: a label the project file does not know, a row whose file is gone, a row
    // without an id column value (it keeps the id of its file) and an empty row.
    let mut table = std::fs::read_to_string(root.join(TABLE)).expect("table");
    table.push_str("files/ex00001.png,newclass,from a hand edit,,\n");
    table.push_str("files/gone.png,a,missing file,,ex00077\n");
    table.push_str(",b,,,\n");
    std::fs::write(root.join(TABLE), &table).expect("write");
    let json = std::fs::read(root.join(PROJECT_FILE)).expect("json");
    let q = Project::open(root).expect("open");
    assert_eq!(
        q.classes
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["a", "b", "newclass"]
    );
    let colour = q.classes[2].colour;
    assert!(colour != q.classes[0].colour && colour != q.classes[1].colour);
    assert_eq!(q.examples.len(), 3, "{:?}", q.examples);
    assert_eq!(q.examples[2].label, "newclass");
    assert_eq!(
        q.examples[2].id, "ex00078",
        "its file's id is taken, so it gets one past every id seen"
    );
    assert_eq!(
        std::fs::read_to_string(root.join(TABLE)).expect("table"),
        table
    );
    assert_eq!(std::fs::read(root.join(PROJECT_FILE)).expect("json"), json);
    // The id of the dropped row is not given out either.
    let mut q = q;
    let e = q
        .add_example(
            "a",
            NewExample {
                text: text("more"),
                ..NewExample::default()
            },
        )
        .expect("add");
    assert_eq!(e.id, "ex00079");
    // The next write saves the cleaned-up table.
    assert_eq!(Project::open(root).expect("reopen"), q);
}
