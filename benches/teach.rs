//! Teach it yourself, timed through the real worker the app uses:
//!
//! * **Train → usable model** for a project of 3 classes × 8 examples (picture + sentence +
//!   sound each, from the built-in generator), with the pretrained encoders when installed and
//!   the Teach panel's settings (`teach_config`): cold (a fresh token cache and backbones not yet
//!   loaded: extraction included), warm (the same project again), and after one more example.
//!   Target: ≤ 5 s.
//! * **Listen**: one prediction of the last second of sound fused with a picture and a
//!   sentence, as Listen sends several times a second. Sound-to-bars latency is this plus at
//!   most one frame (30 ms) before the app takes the audio and one frame to draw the bars; the
//!   app test measures the whole path from the audio callback. Target: ≤ 300 ms.
//!
//! Prints each figure beside its target with the ratio.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use fusionlab::data::project::{NewExample, NewImage, NewSound, Project};
use fusionlab::data::synthetic::{Preset, SyntheticConfig, render_sample};
use fusionlab::data::{DatasetSpec, FeatureConfig, LoadOptions};
use fusionlab::engine::{AudioInput, ImageInput, RawInput, TrainConfig};
use fusionlab::worker::project::{teach_backbones, teach_config};
use fusionlab::worker::{Event, Job, JobId, Outcome, WorkerHandle};

/// The same allocator as the `fusionlab` binary (src/main.rs), so the numbers are the app's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CLASSES: usize = 3;
const PER_CLASS: usize = 8;
const TRAIN_TARGET_S: f64 = 5.0;
const LISTEN_TARGET_MS: f64 = 300.0;
/// The app's repaint interval while the microphone is in use (`teach::live`).
const FRAME_MS: f64 = 30.0;

/// Example `index` of the generator as a project example: picture, sentence and sound.
fn example(cfg: &SyntheticConfig, features: &FeatureConfig, index: usize) -> (usize, NewExample) {
    let s = render_sample(cfg, features, index);
    let image = s.image.map(|chw| {
        let side = features.image.size as usize;
        let plane = side * side;
        let rgb = (0..plane)
            .flat_map(|p| (0..3).map(move |c| (p, c)))
            .map(|(p, c)| (chw[c * plane + p].clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect();
        NewImage {
            width: side as u32,
            height: side as u32,
            rgb,
        }
    });
    let audio = s.audio.map(|samples| NewSound {
        sample_rate: features.audio.sample_rate,
        samples,
    });
    (
        s.label,
        NewExample {
            image,
            text: s.text,
            audio,
        },
    )
}

fn make_project(dir: &Path) -> Result<(Project, SyntheticConfig, FeatureConfig)> {
    let mut cfg = SyntheticConfig::new(Preset::Redundant);
    cfg.classes = CLASSES;
    cfg.missing = [0.0; 3];
    let features = FeatureConfig::default();
    let mut project = Project::create(dir, "bench")?;
    let names: Vec<String> = (0..CLASSES).map(|c| format!("class{c}")).collect();
    for name in &names {
        project.add_class(name)?;
    }
    for index in 0..CLASSES * PER_CLASS {
        let (label, ex) = example(&cfg, &features, index);
        project.add_example(&names[label], ex)?;
    }
    Ok((project, cfg, features))
}

/// Run `job` and wait for its end.
fn run(worker: &WorkerHandle, job: Job) -> Result<(Outcome, Duration)> {
    let start = Instant::now();
    let id: JobId = worker.start(job);
    loop {
        match worker.recv_timeout(Duration::from_secs(600)) {
            Some(Event::End { job, outcome, .. }) if job == id => {
                return Ok((outcome, start.elapsed()));
            }
            Some(_) => {}
            None => bail!("the worker did not answer in 10 minutes"),
        }
    }
}

fn train(worker: &WorkerHandle, project: &Project) -> Result<f64> {
    let (backbones, _) = teach_backbones(project);
    let job = Job::Train {
        dataset: DatasetSpec::Path(project.dir.clone()),
        load: LoadOptions::default(),
        config: teach_config(&TrainConfig::default(), backbones),
    };
    match run(worker, job)? {
        (Outcome::Trained(_), t) => Ok(t.as_secs_f64()),
        (Outcome::Failed { message }, _) => bail!("training failed: {message}"),
        (other, _) => bail!("training ended with {other:?}"),
    }
}

fn line(what: &str, value: f64, unit: &str, target: f64) {
    println!(
        "{what:<52} {value:>8.2} {unit:<3} target ≤ {target} {unit}  ratio {:.2}",
        value / target
    );
}

fn main() -> Result<()> {
    fusionlab::model::device::pin_thread_count();
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let tmp = tempfile::tempdir()?;
    // A fresh token cache: the cold run extracts every input.
    use_token_cache(&tmp.path().join("cache"));
    let dir = tmp.path().join("project");
    let (mut project, cfg, features) = make_project(&dir)?;
    let (_, note) = teach_backbones(&project);
    println!(
        "teach: {CLASSES} classes × {PER_CLASS} examples (picture + sentence + sound); {note}"
    );
    let worker = WorkerHandle::spawn(Arc::new(|| {}))?;
    line(
        "Train → usable model, cold (extraction included)",
        train(&worker, &project)?,
        "s",
        TRAIN_TARGET_S,
    );
    line(
        "Train → usable model, warm (same project)",
        train(&worker, &project)?,
        "s",
        TRAIN_TARGET_S,
    );
    let (label, ex) = example(&cfg, &features, CLASSES * PER_CLASS);
    project.add_example(&format!("class{label}"), ex)?;
    line(
        "Train → usable model, after adding one example",
        train(&worker, &project)?,
        "s",
        TRAIN_TARGET_S,
    );

    // Listen: the newest second of sound with the picture and sentence of an example.
    let s = render_sample(&cfg, &features, CLASSES * PER_CLASS + 1);
    let (_, ex) = example(&cfg, &features, CLASSES * PER_CLASS + 1);
    let image = ex.image.context("the generator gave no picture")?;
    let input = RawInput {
        image: Some(ImageInput::Rgb {
            width: image.width,
            height: image.height,
            pixels: image.rgb,
        }),
        text: s.text.clone(),
        audio: s.audio.map(|samples| AudioInput::Samples {
            sample_rate: features.audio.sample_rate,
            samples,
        }),
    };
    let mut times = Vec::new();
    for step in 0..25 {
        // Each window is new sound (the live window moves on); picture and sentence stay.
        let mut input = input.clone();
        if let Some(AudioInput::Samples { samples, .. }) = &mut input.audio {
            let n = samples.len().max(1);
            samples.rotate_left(1601 * (step + 1) % n);
        }
        let (outcome, t) = run(&worker, Job::Predict { input })?;
        if let Outcome::Failed { message } = outcome {
            bail!("prediction failed: {message}");
        }
        times.push(t.as_secs_f64() * 1000.0);
    }
    let warm = &mut times[5..];
    warm.sort_by(f64::total_cmp);
    let median = warm[warm.len() / 2];
    line(
        "Listen: one prediction (1 s sound + picture + text)",
        median,
        "ms",
        LISTEN_TARGET_MS,
    );
    line(
        "Listen: sound → bars, at most (prediction + 2 frames)",
        median + 2.0 * FRAME_MS,
        "ms",
        LISTEN_TARGET_MS,
    );
    Ok(())
}

/// Put the token cache in `dir` (read when the worker first extracts).
fn use_token_cache(dir: &Path) {
    #[allow(unsafe_code)]
    // SAFETY: called first thing in `main`, while the process has a single thread, so nothing
    // reads the environment at the same time.
    unsafe {
        std::env::set_var(fusionlab::data::tokens::CACHE_ENV, dir);
    }
}
