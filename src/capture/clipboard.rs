//! The system clipboard, through arboard (X11 via x11rb, Wayland via the data-control protocol;
//! both pure Rust).
//!
//! On X11 (and XWayland) a copied picture is not stored by the X server: the program that copied
//! it owns the selection and must answer every paste. arboard answers from a background thread
//! that runs only while at least one `arboard::Clipboard` is alive; when the last one is dropped
//! it offers the data to a clipboard manager (if one runs) and stops serving. So this module keeps
//! one `arboard::Clipboard` in a process-wide slot that is never dropped: what [`copy_image`] put
//! there stays pasteable, by this and other programs, until something else is copied or the
//! process exits. On Wayland, wl-clipboard-rs serves from a background thread in the same way.

use std::borrow::Cow;
use std::sync::{Mutex, PoisonError};

use super::{CaptureError, Frame};

/// The process-wide clipboard handle (created on first use, kept for the process's lifetime so
/// that the X11 selection keeps being served).
static CLIPBOARD: Mutex<Option<arboard::Clipboard>> = Mutex::new(None);

/// Run `op` on the process-wide clipboard, opening it first if need be.
fn with_clipboard<T>(
    op: impl FnOnce(&mut arboard::Clipboard) -> Result<T, arboard::Error>,
) -> Result<T, CaptureError> {
    // A panic elsewhere while holding the lock leaves the handle itself usable.
    let mut slot = CLIPBOARD.lock().unwrap_or_else(PoisonError::into_inner);
    let clipboard = match &mut *slot {
        Some(clipboard) => clipboard,
        none => none.insert(
            arboard::Clipboard::new().map_err(|e| CaptureError::NoClipboard {
                reason: e.to_string(),
            })?,
        ),
    };
    op(clipboard).map_err(|e| {
        if matches!(e, arboard::Error::Unknown { .. }) {
            // Possibly a lost display connection: reconnect on the next call.
            *slot = None;
        }
        from_arboard(e)
    })
}

/// Our error for arboard's.
fn from_arboard(e: arboard::Error) -> CaptureError {
    match e {
        arboard::Error::ContentNotAvailable => CaptureError::ClipboardEmpty,
        arboard::Error::ClipboardOccupied => CaptureError::ClipboardBusy,
        arboard::Error::ConversionFailure => CaptureError::ClipboardImage {
            reason: e.to_string(),
        },
        arboard::Error::ClipboardNotSupported => CaptureError::NoClipboard {
            reason: e.to_string(),
        },
        other => CaptureError::Clipboard {
            reason: other.to_string(),
        },
    }
}

/// The image on the system clipboard (RGBA flattened over white → RGB).
///
/// Errors: [`CaptureError::ClipboardEmpty`] when the clipboard is empty or holds no picture
/// (only text, say); [`CaptureError::NoClipboard`] when there is no desktop session.
pub fn paste_image() -> Result<Frame, CaptureError> {
    let image = with_clipboard(arboard::Clipboard::get_image)?;
    let too_big = |_| CaptureError::ClipboardImage {
        reason: format!(
            "the picture is {}x{} pixels, too large to handle",
            image.width, image.height
        ),
    };
    let width = u32::try_from(image.width).map_err(too_big)?;
    let height = u32::try_from(image.height).map_err(too_big)?;
    Frame::from_rgba_over_white(width, height, &image.bytes)
}

/// Put an image on the system clipboard (for tests and "copy" buttons); the clipboard keeps
/// serving it while the process runs.
///
/// On X11 that needs the owner alive: this module keeps its `arboard::Clipboard` in a
/// process-wide slot for good (see the module docs). After the process exits the picture is gone
/// unless a clipboard manager took it over.
pub fn copy_image(frame: &Frame) -> Result<(), CaptureError> {
    frame.check()?;
    let mut rgba = Vec::with_capacity(frame.rgb.len() / 3 * 4);
    for px in frame.rgb.chunks_exact(3) {
        rgba.extend_from_slice(px);
        rgba.push(u8::MAX);
    }
    copy_image_rgba(frame.width, frame.height, &rgba)
}

/// Put an RGBA8 image (row-major, `width * height * 4` bytes) on the system clipboard, alpha
/// kept; like [`copy_image`] otherwise. [`paste_image`] reads it back flattened over white.
pub fn copy_image_rgba(width: u32, height: u32, rgba: &[u8]) -> Result<(), CaptureError> {
    // Validates the size (the flattened frame itself is not needed).
    super::check_len(width, height, 4, rgba.len())?;
    let too_big = |_| CaptureError::ClipboardImage {
        reason: format!("the picture is {width}x{height} pixels, too large for this platform"),
    };
    let image = arboard::ImageData {
        width: usize::try_from(width).map_err(too_big)?,
        height: usize::try_from(height).map_err(too_big)?,
        bytes: Cow::Borrowed(rgba),
    };
    with_clipboard(|clipboard| clipboard.set_image(image))
}
