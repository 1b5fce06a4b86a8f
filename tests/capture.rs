//! Image capture sources (`fusionlab::capture`): still frames, the camera probe, and the system
//! clipboard. The clipboard tests need an X11 or Wayland display (`make test` runs the suite
//! under `xvfb-run`) and skip, saying so, without one.
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};

use fusionlab::capture::{self, CaptureError, Frame, FrameSource as _, StillFrames};

#[path = "support/skip.rs"]
mod skip;

/// The clipboard is one per display: tests that use it take turns.
static CLIPBOARD_TURN: Mutex<()> = Mutex::new(());

fn clipboard_turn() -> MutexGuard<'static, ()> {
    CLIPBOARD_TURN
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// A display to hold a clipboard, or why there is none.
fn display() -> Result<(), &'static str> {
    let set = |var| std::env::var_os(var).is_some_and(|v| !v.is_empty());
    if set("DISPLAY") || set("WAYLAND_DISPLAY") {
        Ok(())
    } else {
        Err("neither DISPLAY nor WAYLAND_DISPLAY is set (run under xvfb-run, as `make test` does)")
    }
}

/// A `width`x`height` frame whose pixels all differ.
fn pattern(width: u32, height: u32, seed: u8) -> Frame {
    let rgb = (0..width * height * 3)
        .map(|i| u8::try_from((i * 37 + u32::from(seed) * 11) % 256).unwrap())
        .collect();
    Frame::new(width, height, rgb).unwrap()
}

#[test]
fn still_frames_cycle_through_their_frames() {
    let (a, b, c) = (pattern(4, 3, 1), pattern(4, 3, 2), pattern(2, 2, 3));
    let mut source = StillFrames::new("demo stills", vec![a.clone(), b.clone(), c.clone()]);
    assert_eq!(source.name(), "demo stills");
    let grabbed: Vec<Frame> = (0..7).map(|_| source.grab().unwrap()).collect();
    assert_eq!(grabbed, [&a, &b, &c, &a, &b, &c, &a].map(Clone::clone));

    // Usable as the trait object the UI holds.
    let mut boxed: Box<dyn fusionlab::capture::FrameSource> =
        Box::new(StillFrames::new("one", vec![c.clone()]));
    assert_eq!(boxed.grab().unwrap(), c);
    assert_eq!(boxed.grab().unwrap(), c);
}

#[test]
fn still_frames_without_frames_say_what_to_do() {
    let mut empty = StillFrames::new("empty folder", Vec::new());
    let err = empty.grab().unwrap_err();
    assert!(matches!(err, CaptureError::NoFrames { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("empty folder") && msg.contains("at least one picture"),
        "{msg}"
    );
}

#[test]
fn frames_check_their_size() {
    let err = Frame::new(2, 2, vec![0; 11]).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("needs 12 bytes") && msg.contains("11 were given"),
        "{msg}"
    );
    assert!(Frame::new(0, 5, Vec::new()).is_err());
    let by_hand = Frame {
        width: 3,
        height: 1,
        rgb: vec![0; 6],
    };
    assert!(by_hand.check().is_err());
    assert!(capture::copy_image(&by_hand).is_err());
}

#[test]
fn rgba_flattens_over_white() {
    // Opaque keeps its colour, transparent turns white, half-transparent is mixed and rounded.
    let rgba = [10, 20, 30, 255, 10, 20, 30, 0, 200, 100, 0, 128, 0, 0, 0, 1];
    let frame = Frame::from_rgba_over_white(2, 2, &rgba).unwrap();
    assert_eq!(
        frame.rgb,
        [10, 20, 30, 255, 255, 255, 227, 177, 127, 254, 254, 254]
    );
}

#[test]
fn probe_camera_says_what_to_do_without_a_camera() {
    const TEST: &str = "capture::probe_camera_says_what_to_do_without_a_camera";
    let nodes: Vec<String> = std::fs::read_dir("/dev")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("video"))
                .collect()
        })
        .unwrap_or_default();
    if !nodes.is_empty() {
        let found = capture::probe_camera();
        skip::skip(
            TEST,
            &format!(
                "this machine has /dev/{} (probe: {found:?})",
                nodes.join(", /dev/")
            ),
        );
        return;
    }
    let err = capture::probe_camera().unwrap_err();
    assert!(matches!(err, CaptureError::NoCamera { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("no camera found:") && msg.contains("connect a webcam"),
        "{msg}"
    );
    let Err(err) = capture::open_camera() else {
        panic!("a camera opened on a machine without /dev/video*");
    };
    assert!(err.to_string().contains("connect a webcam"), "{err}");
}

/// Set by `clipboard_serves_other_processes` for the child it starts.
const CHILD_ENV: &str = "FUSIONLAB_CAPTURE_PASTE_CHILD";

#[test]
fn clipboard_round_trips_images_and_refuses_text() {
    const TEST: &str = "capture::clipboard_round_trips_images_and_refuses_text";
    let _turn = clipboard_turn();
    if let Err(why) = display() {
        // Without a display the clipboard cannot open, and the error says what to do.
        let err = capture::paste_image().unwrap_err();
        assert!(matches!(err, CaptureError::NoClipboard { .. }), "{err:?}");
        assert!(err.to_string().contains("desktop session"), "{err}");
        skip::skip(TEST, why);
        return;
    }

    // Opaque RGB comes back exactly.
    let frame = pattern(7, 5, 9);
    capture::copy_image(&frame).unwrap();
    assert_eq!(capture::paste_image().unwrap(), frame);

    // RGBA comes back flattened over white.
    let rgba = [0, 0, 255, 255, 200, 100, 0, 128, 9, 9, 9, 0];
    capture::copy_image_rgba(3, 1, &rgba).unwrap();
    let pasted = capture::paste_image().unwrap();
    assert_eq!((pasted.width, pasted.height), (3, 1));
    assert_eq!(pasted.rgb, [0, 0, 255, 227, 177, 127, 255, 255, 255]);

    // Text on the clipboard is no image. Keep the handle until after the paste.
    let mut text = arboard::Clipboard::new().unwrap();
    text.set_text("a class name, not a picture").unwrap();
    let err = capture::paste_image().unwrap_err();
    assert!(matches!(err, CaptureError::ClipboardEmpty), "{err:?}");
    assert!(err.to_string().contains("copy a picture"), "{err}");
    drop(text);
}

#[test]
fn clipboard_serves_other_processes() {
    const TEST: &str = "capture::clipboard_serves_other_processes";
    let _turn = clipboard_turn();
    if let Err(why) = display() {
        skip::skip(TEST, why);
        return;
    }
    let frame = pattern(5, 4, 42);
    capture::copy_image(&frame).unwrap();
    // Another process pastes it: on X11 that goes through the X server to our serving thread.
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "paste_in_child_process",
            "--ignored",
            "--nocapture",
        ])
        .args(["--test-threads", "1"])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        // The harness prints "test paste_in_child_process ... " before it, on the same line.
        .find_map(|l| l.split_once("PASTED ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("the child printed no PASTED line:\n{stdout}"));
    let expected = format!("{}x{} {:?}", frame.width, frame.height, frame.rgb);
    assert_eq!(line, expected);
}

/// The child half of `clipboard_serves_other_processes`.
#[test]
#[ignore = "started as a child process by clipboard_serves_other_processes"]
fn paste_in_child_process() {
    assert!(
        std::env::var_os(CHILD_ENV).is_some(),
        "run by clipboard_serves_other_processes, not alone"
    );
    let frame = capture::paste_image().unwrap();
    println!("PASTED {}x{} {:?}", frame.width, frame.height, frame.rgb);
}
