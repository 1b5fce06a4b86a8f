//! Image capture for collecting examples ("teach it yourself"): a picture pasted from the system
//! clipboard ([`paste_image`], arboard), or a frame grabbed from a webcam ([`open_camera`]).
//!
//! Everything hands out a [`Frame`]: RGB8, row-major, no padding. Frame sources sit behind the
//! [`FrameSource`] trait so that the UI can be driven by [`StillFrames`] in tests and demos.

mod camera;
mod clipboard;

pub use camera::{open_camera, probe_camera};
pub use clipboard::{copy_image, copy_image_rgba, paste_image};

/// One captured picture: RGB8, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes: red, green, blue for each pixel, rows top to bottom.
    pub rgb: Vec<u8>,
}

impl Frame {
    /// A frame from its RGB8 bytes, checked: at least one pixel, and exactly
    /// `width * height * 3` bytes.
    pub fn new(width: u32, height: u32, rgb: Vec<u8>) -> Result<Self, CaptureError> {
        check_len(width, height, 3, rgb.len())?;
        Ok(Self { width, height, rgb })
    }

    /// A frame from RGBA8 bytes, flattened over a white background: each channel becomes
    /// `round((c * a + 255 * (255 - a)) / 255)`, so opaque pixels keep their colour and fully
    /// transparent ones turn white.
    pub fn from_rgba_over_white(
        width: u32,
        height: u32,
        rgba: &[u8],
    ) -> Result<Self, CaptureError> {
        check_len(width, height, 4, rgba.len())?;
        let mut rgb = Vec::with_capacity(rgba.len() / 4 * 3);
        for px in rgba.chunks_exact(4) {
            let alpha = u32::from(px[3]);
            for &channel in &px[..3] {
                let mixed = u32::from(channel) * alpha + 255 * (255 - alpha);
                // (x + 127) / 255 rounds to nearest; the result is at most 255.
                rgb.push(u8::try_from((mixed + 127) / 255).unwrap_or(u8::MAX));
            }
        }
        Ok(Self { width, height, rgb })
    }

    /// Whether the byte count matches the size (the fields are public, so a frame built by hand
    /// may not).
    pub fn check(&self) -> Result<(), CaptureError> {
        check_len(self.width, self.height, 3, self.rgb.len())
    }
}

/// `width * height * channels == len`, and the picture is not empty.
fn check_len(width: u32, height: u32, channels: u64, len: usize) -> Result<(), CaptureError> {
    let expected = u64::from(width) * u64::from(height) * channels;
    if width == 0 || height == 0 || u64::try_from(len).ok() != Some(expected) {
        return Err(CaptureError::BadFrame {
            width,
            height,
            channels,
            expected,
            len,
        });
    }
    Ok(())
}

/// Why a picture could not be captured, pasted or copied. Each message says what went wrong and
/// what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The system clipboard cannot be reached (no X11 or Wayland session, say).
    #[error(
        "the clipboard cannot be opened: {reason}; run fusionlab inside a desktop session \
         (X11, or Wayland with XWayland or the data-control protocol)"
    )]
    NoClipboard {
        /// What the clipboard backend said.
        reason: String,
    },
    /// The clipboard is empty, or holds something other than a picture (text, a file name).
    #[error("the clipboard holds no image: copy a picture (not a file) and paste again")]
    ClipboardEmpty,
    /// Another program (or thread) is holding the clipboard right now.
    #[error("the clipboard is busy (another program holds it): wait a moment and try again")]
    ClipboardBusy,
    /// The picture on the clipboard could not be decoded, or ours could not be encoded.
    #[error(
        "the clipboard image could not be converted: {reason}; copy the picture again \
         (from an image viewer or a browser) and retry"
    )]
    ClipboardImage {
        /// What went wrong.
        reason: String,
    },
    /// Any other clipboard failure.
    #[error("the clipboard failed: {reason}; try again, and restart the app if it keeps failing")]
    Clipboard {
        /// What the clipboard backend said.
        reason: String,
    },
    /// No camera at all.
    #[error("no camera found: {reason}")]
    NoCamera {
        /// Why not, and what to do.
        reason: String,
    },
    /// A camera exists but this build has no way to read it.
    #[error("a camera was found at {device} but this build cannot read cameras: {reason}")]
    CameraUnsupported {
        /// The device node, e.g. `/dev/video0`.
        device: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// A camera was opened but failed.
    #[error(
        "the camera {device} failed: {reason}; check that no other program uses it, \
         reconnect it and try again"
    )]
    Camera {
        /// The camera's name or device node.
        device: String,
        /// What went wrong.
        reason: String,
    },
    /// A frame source that has nothing to hand out.
    #[error("the frame source '{source_name}' has no frames: give it at least one picture")]
    NoFrames {
        /// The source's name.
        source_name: String,
    },
    /// A frame whose byte count does not match its size.
    #[error(
        "a {width}x{height} picture with {channels} bytes a pixel needs {expected} bytes, \
         but {len} were given: build frames with Frame::new, which checks the size"
    )]
    BadFrame {
        /// Claimed width.
        width: u32,
        /// Claimed height.
        height: u32,
        /// Bytes a pixel (3 for RGB, 4 for RGBA).
        channels: u64,
        /// `width * height * channels`.
        expected: u64,
        /// Bytes actually given.
        len: usize,
    },
}

/// Where frames come from: a webcam, or a source of one's own (tests, a folder of stills).
pub trait FrameSource: Send {
    /// Shown in the UI ("USB camera (/dev/video0)").
    fn name(&self) -> String;
    /// The newest frame.
    fn grab(&mut self) -> Result<Frame, CaptureError>;
}

/// A frame source that hands out the given frames in turn (cycling) — for tests and demos.
#[derive(Clone, Debug)]
pub struct StillFrames {
    name: String,
    frames: Vec<Frame>,
    next: usize,
}

impl StillFrames {
    /// A source called `name` that hands out `frames` in order, starting over after the last.
    /// With no frames, [`FrameSource::grab`] returns [`CaptureError::NoFrames`].
    pub fn new(name: &str, frames: Vec<Frame>) -> Self {
        Self {
            name: name.to_owned(),
            frames,
            next: 0,
        }
    }
}

impl FrameSource for StillFrames {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn grab(&mut self) -> Result<Frame, CaptureError> {
        let frame = self
            .frames
            .get(self.next)
            .cloned()
            .ok_or_else(|| CaptureError::NoFrames {
                source_name: self.name.clone(),
            })?;
        self.next = (self.next + 1) % self.frames.len();
        Ok(frame)
    }
}
