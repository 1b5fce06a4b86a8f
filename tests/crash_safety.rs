//! Saves survive being killed: a child process rewrites a model folder, a recording (WAV) and an
//! export (CSV) in a loop and is sent SIGKILL at a random moment, 20 times each; every time the
//! target must be either the previous version or the new one, complete, and no half-written
//! leftover may be offered as a model. A second test does the same to a teach-it-yourself
//! project while examples are being added: after every kill the project opens, every example
//! it lists has its files and they decode, every example the child reported added is there, and
//! the project loads as a dataset.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use candle_core::Device;
use fusionlab::model::checkpoint;
use rand::{Rng as _, SeedableRng as _};

const CHILD: &str = "FUSIONLAB_CRASH_CHILD";
const TARGET: &str = "FUSIONLAB_CRASH_TARGET";
const ROUNDS: usize = 20;
const NEW_SAMPLES: usize = 16_000 * 4;
const NEW_ROWS: usize = 20_000;

fn demo_model() -> checkpoint::LoadedModel {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/attention");
    checkpoint::load(&dir, &Device::Cpu).unwrap()
}

fn rows(n: usize) -> Vec<Vec<String>> {
    (0..n)
        .map(|i| vec![i.to_string(), format!("row {i}")])
        .collect()
}

/// The child: rewrite `target` with the "new" version until killed.
fn child(kind: &str, target: &Path) -> ! {
    let model = (kind == "model").then(demo_model);
    let samples = vec![0.25f32; NEW_SAMPLES];
    let table = rows(NEW_ROWS);
    loop {
        match kind {
            "model" => {
                let m = model.as_ref().unwrap();
                let mut card = m.card.clone();
                card.dataset = "new".into();
                checkpoint::save(target, &card, &m.store).unwrap();
            }
            "wav" => fusionlab::audio::write_wav(target, &samples, 16_000).unwrap(),
            _ => fusionlab::export::table_csv(target, &["id", "name"], &table).unwrap(),
        }
    }
}

/// Write the "old" version.
fn write_old(kind: &str, target: &Path) {
    match kind {
        "model" => {
            let m = demo_model();
            let mut card = m.card.clone();
            card.dataset = "old".into();
            checkpoint::save(target, &card, &m.store).unwrap();
        }
        "wav" => fusionlab::audio::write_wav(target, &[0.5; 1000], 16_000).unwrap(),
        _ => fusionlab::export::table_csv(target, &["id", "name"], &rows(3)).unwrap(),
    }
}

/// Which complete version `target` holds ("old" or "new"), or why it is broken.
fn version(kind: &str, target: &Path) -> Result<&'static str, String> {
    match kind {
        "model" => {
            let m = checkpoint::load(target, &Device::Cpu).map_err(|e| e.to_string())?;
            match m.card.dataset.as_str() {
                "old" => Ok("old"),
                "new" => Ok("new"),
                other => Err(format!("unexpected model {other}")),
            }
        }
        "wav" => {
            let reader = hound::WavReader::open(target).map_err(|e| e.to_string())?;
            let n = reader
                .into_samples::<i16>()
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?
                .len();
            match n {
                1000 => Ok("old"),
                NEW_SAMPLES => Ok("new"),
                n => Err(format!("{n} samples")),
            }
        }
        _ => {
            let mut r = csv::Reader::from_path(target).map_err(|e| e.to_string())?;
            let n = r
                .records()
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?
                .len();
            match n {
                3 => Ok("old"),
                NEW_ROWS => Ok("new"),
                n => Err(format!("{n} rows")),
            }
        }
    }
}

#[test]
fn saves_survive_sigkill_at_random_moments() {
    if let (Ok(kind), Ok(target)) = (std::env::var(CHILD), std::env::var(TARGET)) {
        child(&kind, &PathBuf::from(target));
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    for (kind, name) in [("model", "m"), ("wav", "take.wav"), ("csv", "table.csv")] {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join(name);
        let mut seen = Vec::new();
        for round in 0..ROUNDS {
            write_old(kind, &target);
            let mut process = Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "saves_survive_sigkill_at_random_moments",
                    "--test-threads=1",
                ])
                .env(CHILD, kind)
                .env(TARGET, &target)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(rng.random_range(5..300)));
            process.kill().unwrap(); // SIGKILL
            process.wait().unwrap();
            let v = version(kind, &target)
                .unwrap_or_else(|e| panic!("{kind}, round {round}: the file is broken: {e}"));
            seen.push(v);
            if kind == "model" {
                // Leftovers of an interrupted save are hidden and never offered as models.
                let offered = fusionlab::app::saved_models(dir.path());
                assert_eq!(
                    offered,
                    std::slice::from_ref(&target),
                    "{kind}, round {round}"
                );
            }
        }
        // Hidden temporary files and folders show how many kills landed in the middle of a write.
        let interrupted = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().starts_with('.'))
            })
            .count();
        println!("{kind}: {seen:?}; {interrupted} writes interrupted mid-way");
        assert!(
            seen.contains(&"new"),
            "{kind}: the child never finished a save"
        );
    }
}

const PROJECT_TEST: &str = "projects_survive_sigkill_while_examples_are_added";

/// The child: add examples (picture, sentence and sound) to the project at `target`, two
/// classes in turn, printing `added <id>` once each add has returned.
fn project_child(target: &Path) -> ! {
    use fusionlab::data::project::{NewExample, NewImage, NewSound, Project};
    let mut project = Project::open(target).unwrap();
    let rgb = (0..64 * 64u32)
        .flat_map(|i| [(i % 64 * 4) as u8, (i / 64 * 4) as u8, 128])
        .collect();
    let samples = (0..8_000).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
    let example = NewExample {
        image: Some(NewImage {
            width: 64,
            height: 64,
            rgb,
        }),
        text: Some("a sentence, with a comma and \"quotes\"".into()),
        audio: Some(NewSound {
            sample_rate: 16_000,
            samples,
        }),
    };
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        let class = if i % 2 == 0 { "left" } else { "right" };
        let added = project.add_example(class, example.clone()).unwrap();
        writeln!(out, "added {}", added.id).unwrap();
        out.flush().unwrap();
    }
    unreachable!()
}

/// Hidden temporary files (interrupted writes) in `dir`.
fn hidden(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.file_name().to_string_lossy().starts_with('.'))
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn projects_survive_sigkill_while_examples_are_added() {
    use fusionlab::data::project::Project;
    use fusionlab::data::{Quiet, audio, folder, image, spec::LoadOptions};
    if let (Ok(kind), Ok(target)) = (std::env::var(CHILD), std::env::var(TARGET)) {
        assert_eq!(kind, "project");
        project_child(&PathBuf::from(target));
    }
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("desk things");
    let mut project = Project::create(&target, "desk things").unwrap();
    project.add_class("left").unwrap();
    project.add_class("right").unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
    let mut printed: Vec<String> = Vec::new();
    for round in 0..ROUNDS {
        let mut process = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", PROJECT_TEST, "--test-threads=1", "--nocapture"])
            .env(CHILD, "project")
            .env(TARGET, &target)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = process.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            stdout.read_to_string(&mut text).unwrap();
            text
        });
        std::thread::sleep(Duration::from_millis(rng.random_range(20..400)));
        process.kill().unwrap(); // SIGKILL
        process.wait().unwrap();
        let text = reader.join().unwrap();
        let ids: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("added "))
            .map(str::to_owned)
            .collect();
        printed.extend(ids);

        let p = Project::open(&target)
            .unwrap_or_else(|e| panic!("round {round}: the project does not open: {e}"));
        let listed: HashSet<&str> = p.examples.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(
            listed.len(),
            p.examples.len(),
            "round {round}: ids are unique"
        );
        for id in &printed {
            assert!(
                listed.contains(id.as_str()),
                "round {round}: {id} was added but is not in the project"
            );
        }
        for e in &p.examples {
            let img = e.image.as_ref().expect("every example has a picture");
            image::decode_image_file(&p.file(img), &image::ImageConfig::default())
                .unwrap_or_else(|err| panic!("round {round}, {}: {err}", e.id));
            let wav = e.audio.as_ref().expect("every example has a sound");
            let wave = audio::read_wav(&p.file(wav), 10.0)
                .unwrap_or_else(|err| panic!("round {round}, {}: {err}", e.id));
            assert_eq!(wave.samples.len(), 8_000, "round {round}, {}", e.id);
            assert!(e.text.is_some(), "round {round}, {}", e.id);
        }
        if !p.examples.is_empty() {
            let d = folder::load(&target, &LoadOptions::default(), &Quiet)
                .unwrap_or_else(|e| panic!("round {round}: the project does not load: {e}"));
            assert_eq!(d.samples.len(), p.examples.len(), "round {round}");
            assert!(d.problems.is_empty(), "round {round}: {:?}", d.problems);
        }
    }
    let p = Project::open(&target).unwrap();
    let interrupted = hidden(&target) + hidden(&target.join("files"));
    println!(
        "project: {} examples after {ROUNDS} kills ({} reported added); {interrupted} writes \
         interrupted mid-way",
        p.examples.len(),
        printed.len()
    );
    assert!(
        !printed.is_empty(),
        "the child never finished adding an example"
    );
}
