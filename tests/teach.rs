//! Teach it yourself, driven headless as a user would (egui_kittest, the real worker): make a
//! project, add classes, add examples through each path — the current inputs, dropped files, a
//! pasted image, a recorded series from the virtual microphone — train, predict a held-out
//! example, rename / move / delete, and reopen the project to find everything again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use egui_kittest::kittest::{NodeT as _, Queryable as _};
use fusionlab::app::{FusionApp, Tab};
use fusionlab::data::project::Project;
use fusionlab::worker::project::ProjectOp;
use fusionlab::worker::{DecodedImage, DecodedInput};

#[path = "support/harness.rs"]
mod harness;
#[path = "support/skip.rs"]
mod skip;
use harness::{DATASET, harness, wait_for};

type H = egui_kittest::Harness<'static, FusionApp>;

/// A file dropped on the window, as the windowing layer hands it over.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

const COLOURS: [(&str, [u8; 3]); 3] = [
    ("red", [220, 30, 30]),
    ("green", [30, 200, 40]),
    ("blue", [30, 60, 220]),
];

/// A picture of one colour with a little noise (`seed` varies it).
fn picture(colour: [u8; 3], seed: u32) -> (u32, u32, Vec<u8>) {
    let (w, h) = (40u32, 40u32);
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    for _ in 0..w * h {
        for c in colour {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let noise = (state % 31) as i32 - 15;
            rgb.push((i32::from(c) + noise).clamp(0, 255) as u8);
        }
    }
    (w, h, rgb)
}

fn decoded(colour: [u8; 3], seed: u32) -> DecodedImage {
    let (width, height, rgb) = picture(colour, seed);
    DecodedImage {
        name: format!("picture {seed}"),
        width,
        height,
        rgb,
    }
}

fn project(h: &H) -> Project {
    h.state().teach.project().cloned().expect("a project")
}

/// Step until the project's jobs are written and `done` holds.
fn wait_project(h: &mut H, what: &str, done: impl Fn(&Project) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        h.step();
        let a = h.state();
        if !a.teach.busy() && a.teach.project().is_some_and(&done) {
            h.step();
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; the panel says: {:?}",
            a.teach.error
        );
        std::thread::sleep(Duration::from_millis(15));
    }
}

/// Click a text field, then type into it.
fn type_into(h: &mut H, field: &str, text: &str) {
    h.get_by_label(field).click();
    h.run_steps(1);
    h.get_by_label(field).type_text(text);
    h.run_steps(1);
}

fn count(p: &Project, class: &str) -> usize {
    p.examples_of(class).count()
}

/// The index of `class`'s card (its buttons come in card order).
fn card(p: &Project, class: &str) -> usize {
    p.classes.iter().position(|c| c.name == class).unwrap()
}

fn mic_tool() -> Option<PathBuf> {
    let path = std::env::var_os("FUSIONLAB_VIRTUAL_MIC").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/virtual-mic.sh"),
        PathBuf::from,
    );
    path.is_file().then_some(path)
}

/// Record a series of two clips into `class` from the virtual microphone, espeak-ng talking.
fn record_series(h: &mut H, tool: &Path, class: &str) {
    {
        let series = &mut h.state_mut().teach.series;
        series.clips = 2;
        series.clip_seconds = 0.5;
        series.gap_seconds = 0.2;
        series.countdown_seconds = 0.2;
    }
    h.run_steps(2);
    let at = card(&project(h), class);
    let before = count(&project(h), class);
    h.query_all_by_label("Record 2 × 0.5 s")
        .nth(at)
        .unwrap()
        .click();
    h.run_steps(2);
    let mut speaker = Command::new("bash")
        .arg(tool)
        .args(["say", "one two three"])
        .spawn()
        .expect("run virtual-mic.sh say");
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&project(h), class) < before + 2 {
        assert!(Instant::now() < deadline, "the series did not finish");
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    speaker.kill().ok();
    speaker.wait().ok();
    assert!(
        !h.state().teach.live.is_active(),
        "the microphone stays open"
    );
}

/// Hold Space with `class` selected while espeak-ng talks: one clip becomes an example.
fn hold_space(h: &mut H, tool: &Path, class: &str) {
    h.get_by_label(class).click();
    h.run_steps(2);
    let before = count(&project(h), class);
    h.key_down(egui::Key::Space);
    h.run_steps(2);
    assert!(
        h.state().teach.live.is_active(),
        "holding Space did not start recording"
    );
    let mut speaker = Command::new("bash")
        .arg(tool)
        .args(["say", "green"])
        .spawn()
        .expect("run virtual-mic.sh say");
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1200) {
        h.key_down(egui::Key::Space);
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    speaker.wait().ok();
    h.key_up(egui::Key::Space);
    h.run_steps(2);
    wait_project(h, "the held clip", |p| count(p, class) == before + 1);
    let clip = project(h).examples_of(class).last().unwrap().clone();
    assert!(clip.audio.is_some() && clip.image.is_none());
}

#[test]
fn a_project_made_in_the_app_collects_examples_trains_and_reopens() {
    const TEST: &str = "teach::a_project_made_in_the_app_collects_examples_trains_and_reopens";
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("colours");
    let mut h = harness(DATASET);
    h.state_mut().settings.tab = Tab::Teach;
    h.run_steps(3);
    h.get_by_label("New project…").click();
    h.run_steps(2);
    type_into(&mut h, "Name", "colours");
    type_into(&mut h, "Folder", &dir.display().to_string());
    h.run_steps(2);
    h.get_by_label("Create").click();
    wait_project(&mut h, "the new project", |p| p.name == "colours");
    assert!(Project::is_project(&dir));

    for (name, _) in COLOURS {
        type_into(&mut h, "New class", name);
        h.get_by_label("Add class").click();
        wait_project(&mut h, "a new class", |p| {
            p.classes.iter().any(|c| c.name == name)
        });
    }

    // The current inputs (a picture and a sentence) become one example, three per class.
    for (c, (name, colour)) in COLOURS.iter().enumerate() {
        for k in 0..3 {
            let input = DecodedInput {
                image: Some(decoded(*colour, (c * 100 + k) as u32)),
                text: Some(format!("this one is {name}")),
                audio: None,
            };
            h.state_mut().inputs.apply(input, true);
            h.run_steps(2);
            let before = count(&project(&h), name);
            h.query_all_by_label("Add current inputs")
                .nth(c)
                .unwrap()
                .click();
            wait_project(&mut h, "an added example", |p| count(p, name) == before + 1);
        }
    }
    let first = &project(&h).examples[0];
    assert!(first.image.is_some() && first.text.as_deref() == Some("this one is red"));

    // Files dropped on a card become examples of its class; a broken file is named, not added.
    let files = tmp.path().join("drop");
    std::fs::create_dir_all(&files).unwrap();
    for (c, (name, colour)) in COLOURS.iter().enumerate() {
        let mut paths = Vec::new();
        for k in 0..3 {
            let (w, hgt, rgb) = picture(*colour, (1000 + c * 10 + k) as u32);
            let path = files.join(format!("{name}{k}.png"));
            image::RgbImage::from_raw(w, hgt, rgb)
                .unwrap()
                .save(&path)
                .unwrap();
            paths.push(path);
        }
        if c == 0 {
            let broken = files.join("broken.png");
            std::fs::write(&broken, b"not a png").unwrap();
            paths.push(broken);
        }
        let before = count(&project(&h), name);
        let rect = h
            .state()
            .teach
            .card_rects
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| *r)
            .unwrap();
        h.hover_at(rect.center());
        h.step();
        for path in paths {
            h.input_mut()
                .dropped_files
                .push(std::sync::Arc::new(Dropped(path)));
        }
        h.step();
        wait_project(&mut h, "dropped files", |p| count(p, name) == before + 3);
        if c == 0 {
            let err = h.state().teach.error.clone().unwrap_or_default();
            assert!(
                err.contains("broken.png"),
                "the broken file is not named: {err}"
            );
        }
    }

    // A pasted picture (needs a display for the clipboard: `make test` runs under xvfb-run).
    if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some() {
        let (width, height, rgb) = picture(COLOURS[1].1, 4242);
        fusionlab::capture::copy_image(&fusionlab::capture::Frame { width, height, rgb })
            .expect("an image on the clipboard");
        let before = count(&project(&h), "green");
        h.query_all_by_label("Paste image").nth(1).unwrap().click();
        wait_project(&mut h, "the pasted picture", |p| {
            count(p, "green") == before + 1
        });
    } else {
        skip::skip(
            TEST,
            "no display for the clipboard: the pasted-image path did not run",
        );
    }

    // Frames from a camera: here a frame source of our own (these machines have no camera).
    let frames = (0..2)
        .map(|k| {
            let (width, height, rgb) = picture(COLOURS[2].1, 5000 + k);
            fusionlab::capture::Frame { width, height, rgb }
        })
        .collect();
    h.state_mut().teach.camera = Some(Box::new(fusionlab::capture::StillFrames::new(
        "test camera",
        frames,
    )));
    h.run_steps(2);
    for k in 0..2 {
        let before = count(&project(&h), "blue");
        h.query_all_by_label("Camera").nth(2).unwrap().click();
        wait_project(&mut h, "a camera frame", |p| count(p, "blue") == before + 1);
        assert!(k < 2);
    }

    // A series from the virtual microphone, and a clip while Space is held.
    let mic = mic_tool().filter(|_| fusionlab::audio::probe_input().is_ok());
    match &mic {
        Some(tool) => {
            record_series(&mut h, tool, "blue");
            hold_space(&mut h, tool, "green");
        }
        None => skip::skip(
            TEST,
            "no usable microphone (`make test` starts a virtual one): the series and hold-Space paths did not run",
        ),
    }

    // Train in one click; the model becomes current.
    h.get_by_label("Train attention fusion").click();
    wait_for(&mut h, "the project's model", 600, |a| {
        a.teach.last_train_seconds.is_some()
            && a.model.card.as_ref().is_some_and(|c| c.classes.len() == 3)
    });
    eprintln!(
        "teach: usable model {:.1} s after Train ({})",
        h.state().teach.last_train_seconds.unwrap(),
        h.state().teach.train_note.clone().unwrap_or_default()
    );
    assert_eq!(h.state().settings.dataset, dir.display().to_string());
    assert_eq!(h.state().settings.project.as_deref(), Some(dir.as_path()));

    // The model can be saved from the panel.
    let models = tmp.path().join("models");
    h.state_mut().models_dir = models.clone();
    h.run_steps(2);
    h.get_by_label("Save model as models/colours").click();
    wait_for(&mut h, "the saved model", 60, |a| a.model.dir.is_some());
    assert!(models.join("colours/config.json").is_file());

    // A held-out picture of each colour is predicted as its class.
    h.state_mut().settings.tab = Tab::Teach;
    h.state_mut().predict.current = None;
    for (c, (name, colour)) in COLOURS.iter().enumerate() {
        let input = DecodedInput {
            image: Some(decoded(*colour, 9000 + c as u32)),
            ..DecodedInput::default()
        };
        h.state_mut().inputs.apply(input, true);
        wait_for(&mut h, "a held-out prediction", 120, |a| {
            a.predict
                .current
                .as_ref()
                .is_some_and(|p| p.present == [true, false, false])
        });
        let p = h.state().predict.current.clone().unwrap();
        assert_eq!(
            p.classes[p.predicted], *name,
            "held-out {name}: {:?}",
            p.probs
        );
        h.get_by_label("Live preview");
        h.state_mut().predict.current = None;
    }

    // Listen: the bars follow the microphone (with the picture still in the inputs).
    if let Some(tool) = &mic {
        h.get_by_label("Listen").click();
        h.run_steps(2);
        let mut speaker = Command::new("bash")
            .arg(tool)
            .args(["say", "red green blue red green blue"])
            .spawn()
            .expect("run virtual-mic.sh say");
        wait_for(&mut h, "live predictions", 60, |a| {
            a.teach.live.stats.latencies_ms.len() >= 10
        });
        speaker.kill().ok();
        speaker.wait().ok();
        let (median, max) = h.state().teach.live.stats.summary().unwrap();
        eprintln!("teach: listen sound to bars {median:.0} ms median, {max:.0} ms max");
        let p = h.state().predict.current.clone().unwrap();
        assert_eq!(
            p.present,
            [true, false, true],
            "the live sound is fused with the picture"
        );
        h.get_by_label("Stop listening").click();
        h.run_steps(2);
        assert_eq!(h.state().teach.live.mode(), None);
    }

    // Rename, move, delete.
    let at = card(&project(&h), "red");
    h.query_all_by_label("Rename").nth(at).unwrap().click();
    h.run_steps(2);
    h.key_press(egui::Key::End);
    h.event(egui::Event::Text("dish".into()));
    h.run_steps(1);
    h.key_press(egui::Key::Enter);
    wait_project(&mut h, "the renamed class", |p| {
        p.classes.iter().any(|c| c.name == "reddish")
    });
    let moved = project(&h).examples_of("green").next().unwrap().id.clone();
    // Right-click the example (scrolled into view): Move to 'blue'.
    h.get_by_label(&moved).scroll_to_me();
    h.run_steps(3);
    h.get_by_label(&moved).click_secondary();
    h.run_steps(2);
    h.get_by_label("Move to 'blue'").click();
    wait_project(&mut h, "the moved example", |p| {
        p.examples
            .iter()
            .any(|e| e.id == moved && e.label == "blue")
    });
    let at = card(&project(&h), "green");
    h.query_all_by_label("Delete").nth(at).unwrap().click();
    h.run_steps(2);
    h.get_by_label_contains("Delete 'green' and its");
    h.get_by_label("Yes, delete").click();
    wait_project(&mut h, "the deleted class", |p| {
        p.classes.iter().all(|c| c.name != "green")
    });
    let saved = project(&h);
    assert_eq!(count(&saved, "green"), 0);
    drop(h);

    // Reopening shows everything again.
    let mut again = harness(DATASET);
    {
        let app = again.state_mut();
        app.settings.tab = Tab::Teach;
        app.teach.open(&mut app.jobs, &dir);
    }
    wait_project(&mut again, "the reopened project", |p| p.name == "colours");
    assert_eq!(project(&again), saved);
    assert!(again.query_all_by_label_contains("reddish").count() >= 1);
}

#[test]
fn without_microphone_or_camera_the_buttons_say_why() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let mut h = harness(DATASET);
    // The background microphone check ends first; then this machine has no microphone.
    wait_for(&mut h, "the microphone check", 30, |a| {
        a.inputs.mic != fusionlab::app::MicStatus::Checking
    });
    {
        let app = h.state_mut();
        app.settings.tab = Tab::Teach;
        app.inputs.mic = fusionlab::app::MicStatus::Unavailable("no sound card".into());
        app.teach.send(
            &mut app.jobs,
            &dir,
            ProjectOp::Create {
                name: "empty".into(),
            },
        );
    }
    wait_project(&mut h, "the project", |p| p.name == "empty");
    h.get_by_label_contains("add at least two classes");
    {
        let app = h.state_mut();
        app.teach
            .send(&mut app.jobs, &dir, ProjectOp::AddClass("cup".into()));
    }
    wait_project(&mut h, "a class", |p| p.classes.len() == 1);
    h.run_steps(2);
    h.get_by_label_contains("no microphone: no sound card");
    assert!(
        h.get_by_label("Record 5 × 1.0 s")
            .accesskit_node()
            .is_disabled()
    );
    assert!(h.get_by_label("Listen").accesskit_node().is_disabled());
    let camera = h.get_by_label("Camera");
    if fusionlab::capture::probe_camera().is_err() {
        assert!(camera.accesskit_node().is_disabled());
    }
    // An empty inputs panel cannot be added.
    assert!(
        h.get_by_label("Add current inputs")
            .accesskit_node()
            .is_disabled()
    );
    // Opening a folder that is not a project says so.
    let other = tmp.path().join("not-a-project");
    std::fs::create_dir_all(&other).unwrap();
    {
        let app = h.state_mut();
        app.teach.open(&mut app.jobs, &other);
    }
    wait_for(&mut h, "the error", 30, |a| !a.teach.busy());
    let err = h.state().teach.error.clone().unwrap_or_default();
    assert!(
        err.contains("not-a-project") && err.contains("fusionlab-project.json"),
        "{err}"
    );
}

#[test]
fn a_project_named_at_start_opens_on_the_teach_panel_as_the_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("named");
    let mut p = Project::create(&dir, "named").unwrap();
    p.add_class("cup").unwrap();
    p.add_class("keys").unwrap();
    let mut h = harness::harness_with(fusionlab::app::StartOptions {
        project: Some(dir.clone()),
        fresh: true,
        ..fusionlab::app::StartOptions::default()
    });
    wait_project(&mut h, "the named project", |p| p.classes.len() == 2);
    assert_eq!(h.state().settings.tab, Tab::Teach);
    assert_eq!(h.state().settings.dataset, dir.display().to_string());
    // Two empty classes: what stands in the way is said, and Train is off.
    h.get_by_label_contains("'cup' has no examples yet");
    assert!(
        h.get_by_label("Train attention fusion")
            .accesskit_node()
            .is_disabled()
    );
}
