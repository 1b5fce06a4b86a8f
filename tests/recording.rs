//! Recording through the app's recorder from a virtual microphone: PulseAudio's null sink, with
//! espeak-ng saying a word into it (`../shared/tools/virtual-mic.sh`; `make test` starts it).
//! Skips, saying why, where there is no usable microphone.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use fusionlab::app::Inputs;

#[path = "support/skip.rs"]
mod skip;

fn mic_tool() -> Option<PathBuf> {
    let path = std::env::var_os("FUSIONLAB_VIRTUAL_MIC").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/virtual-mic.sh"),
        PathBuf::from,
    );
    path.is_file().then_some(path)
}

const TEST: &str = "recording::records_a_spoken_word_and_the_saved_wav_round_trips";

#[test]
fn records_a_spoken_word_and_the_saved_wav_round_trips() {
    let Some(tool) = mic_tool() else {
        skip::skip(TEST, "no virtual-mic.sh (../shared/tools) on this machine");
        return;
    };
    if let Err(e) = fusionlab::audio::probe_input() {
        skip::skip(
            TEST,
            &format!("no usable microphone ({e}); `make test` starts a virtual one"),
        );
        return;
    }
    let ctx = egui::Context::default();
    let mut inputs = Inputs::default();
    inputs.start_recording().expect("recording starts");
    // Speak into the microphone while recording (espeak-ng through the null sink).
    let mut speaker = Command::new("bash")
        .arg(&tool)
        .args(["say", "seven"])
        .spawn()
        .expect("run virtual-mic.sh say");
    let start = Instant::now();
    let mut peak = 0f32;
    let mut spoken = None;
    while start.elapsed() < Duration::from_secs(10) {
        inputs.poll(&ctx);
        peak = peak.max(inputs.level);
        if spoken.is_none() && speaker.try_wait().ok().flatten().is_some() {
            spoken = Some(Instant::now());
        }
        if spoken.is_some_and(|t| t.elapsed() > Duration::from_millis(400)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    speaker.kill().ok();
    speaker.wait().ok();
    assert!(spoken.is_some(), "espeak-ng did not finish");
    inputs.stop_recording();
    let audio = inputs.audio.clone().expect("a recording");
    let seconds = audio.samples.len() as f32 / audio.sample_rate as f32;
    let max = audio.samples.iter().fold(0f32, |p, s| p.max(s.abs()));
    let rms =
        (audio.samples.iter().map(|s| s * s).sum::<f32>() / audio.samples.len() as f32).sqrt();
    println!(
        "recorded {seconds:.2} s at {} Hz, peak {max:.3}, rms {rms:.4}, meter peak {peak:.3}",
        audio.sample_rate
    );
    assert!(seconds > 0.3, "recording too short: {seconds} s");
    assert!(
        max > 0.05 && rms > 0.003,
        "the recording is silent (peak {max}, rms {rms})"
    );
    assert!(peak > 0.05, "the level meter never moved");
    assert!(inputs.error.is_none(), "{:?}", inputs.error);
    // Save and read back: same length, samples equal to 16-bit precision.
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("recording.wav");
    fusionlab::audio::write_wav(&path, &audio.samples, audio.sample_rate).expect("save");
    let back = fusionlab::data::audio::read_wav(&path, 600.0).expect("read back");
    assert_eq!(back.sample_rate, audio.sample_rate);
    assert_eq!(back.samples.len(), audio.samples.len());
    let worst = back
        .samples
        .iter()
        .zip(&audio.samples)
        .map(|(a, b)| (a - b.clamp(-1.0, 1.0)).abs())
        .fold(0f32, f32::max);
    assert!(worst <= 1.5 / 32767.0, "round trip error {worst}");
    // Only the final file is left behind (the temporary one was renamed).
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("recording.wav")]);
}
