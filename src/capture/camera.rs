//! Webcams, through nokhwa (V4L2 on Linux, Media Foundation on Windows, AVFoundation on macOS).
//!
//! MJPEG frames, what most webcams send at their larger sizes, are decoded with the `image` crate
//! the app already uses; the other formats (YUYV, NV12, grey, raw RGB/BGR) by nokhwa.

use std::sync::mpsc;
use std::time::Duration;

use nokhwa::Camera;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{
    ApiBackend, CameraIndex, CameraInfo, FrameFormat, RequestedFormat, RequestedFormatType,
};

use super::{CaptureError, Frame, FrameSource};

/// What to do when there is no camera at all.
const CONNECT_ONE: &str = "connect a webcam and restart the app";

/// The cameras the platform lists, or why it cannot list them.
fn list_cameras() -> Result<Vec<CameraInfo>, CaptureError> {
    let cameras = nokhwa::query(ApiBackend::Auto).map_err(|e| CaptureError::NoCamera {
        reason: format!("the camera list cannot be read ({e}); {CONNECT_ONE}"),
    })?;
    if cameras.is_empty() {
        let reason = if cfg!(target_os = "linux") {
            format!("no /dev/video* device; {CONNECT_ONE}")
        } else {
            format!("the system lists no camera; {CONNECT_ONE}")
        };
        return Err(CaptureError::NoCamera { reason });
    }
    Ok(cameras)
}

/// A camera's name for the UI: "USB camera (/dev/video0)" on Linux, its own name elsewhere.
fn display_name(info: &CameraInfo) -> String {
    let name = info.human_name();
    match info.index() {
        // Without a driver-given name, V4L2 lists the node's path as the name.
        CameraIndex::Index(n) if cfg!(target_os = "linux") && !name.starts_with("/dev/") => {
            format!("{name} (/dev/video{n})")
        }
        _ => name,
    }
}

/// Is a camera usable? Its name, or why not (e.g. "no camera found: no /dev/video* device;
/// connect a webcam and restart the app").
///
/// Cheap: it lists the cameras and names the first, without opening it.
pub fn probe_camera() -> Result<String, CaptureError> {
    let cameras = list_cameras()?;
    cameras
        .first()
        .map(display_name)
        .ok_or_else(|| CaptureError::NoCamera {
            reason: CONNECT_ONE.to_owned(),
        })
}

/// Open the default camera: the first listed camera that opens (on Linux a webcam often adds a
/// second, metadata-only /dev/video node, which cannot stream pictures), at its highest frame
/// rate, streaming.
pub fn open_camera() -> Result<Box<dyn FrameSource>, CaptureError> {
    let mut first_error = None;
    for info in list_cameras()? {
        match Webcam::open(&info) {
            Ok(cam) => return Ok(Box::new(cam)),
            Err(e) => {
                log::info!("camera {} not usable: {e}", display_name(&info));
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| CaptureError::NoCamera {
        reason: CONNECT_ONE.to_owned(),
    }))
}

/// How long [`FrameSource::grab`] waits for the camera (opening it, or one frame).
const CAMERA_TIMEOUT: Duration = Duration::from_secs(10);

/// An open, streaming webcam. nokhwa's `Camera` may not move between threads (it is not `Send`)
/// and a [`FrameSource`] must, so the camera lives on a thread of its own that grabs a frame
/// whenever asked; dropping the `Webcam` ends that thread, which stops the stream.
struct Webcam {
    /// Shown in the UI.
    name: String,
    /// One message a frame wanted; dropped to stop the thread.
    requests: mpsc::Sender<()>,
    /// The camera thread's answers.
    frames: mpsc::Receiver<Result<Frame, CaptureError>>,
}

impl Webcam {
    /// Open the camera `info` describes and start its stream, on its own thread.
    fn open(info: &CameraInfo) -> Result<Self, CaptureError> {
        let name = display_name(info);
        let index = info.index().clone();
        let (requests, wanted) = mpsc::channel::<()>();
        let (answers, frames) = mpsc::channel();
        let (tell_opened, opened) = mpsc::channel();
        let thread_name = name.clone();
        std::thread::Builder::new()
            .name("camera".to_owned())
            .spawn(move || serve_camera(&thread_name, index, &tell_opened, &wanted, &answers))
            .map_err(|e| CaptureError::Camera {
                device: name.clone(),
                reason: format!("cannot start the camera thread: {e}"),
            })?;
        let opened = opened
            .recv_timeout(CAMERA_TIMEOUT)
            .map_err(|_| CaptureError::Camera {
                device: name.clone(),
                reason: format!("it did not open within {} s", CAMERA_TIMEOUT.as_secs()),
            })?;
        opened.map(|()| Self {
            name,
            requests,
            frames,
        })
    }
}

/// The camera thread: open the camera and say whether that worked, then answer each request with
/// one decoded frame until the requests channel closes.
fn serve_camera(
    name: &str,
    index: CameraIndex,
    tell_opened: &mpsc::Sender<Result<(), CaptureError>>,
    wanted: &mpsc::Receiver<()>,
    answers: &mpsc::Sender<Result<Frame, CaptureError>>,
) {
    let failed = |reason: String| CaptureError::Camera {
        device: name.to_owned(),
        reason,
    };
    let format = RequestedFormat::new::<RgbFormat>(RequestedFormatType::AbsoluteHighestFrameRate);
    let opened = Camera::new(index, format).and_then(|mut camera| {
        camera.open_stream()?;
        Ok(camera)
    });
    let mut camera = match opened {
        Ok(camera) => camera,
        Err(e) => {
            tell_opened.send(Err(failed(e.to_string()))).ok();
            return;
        }
    };
    if tell_opened.send(Ok(())).is_ok() {
        while wanted.recv().is_ok() {
            let frame = camera
                .frame()
                .map_err(|e| e.to_string())
                .and_then(|buffer| decode(&buffer))
                .map_err(failed);
            if answers.send(frame).is_err() {
                break;
            }
        }
    }
    // Frees the device for other programs now rather than whenever the backend gets to it.
    if let Err(e) = camera.stop_stream() {
        log::debug!("stopping camera {name}: {e}");
    }
}

impl FrameSource for Webcam {
    fn name(&self) -> String {
        self.name.clone()
    }

    /// Asks the camera thread for its next frame and waits for it (at most [`CAMERA_TIMEOUT`]).
    fn grab(&mut self) -> Result<Frame, CaptureError> {
        let lost = |reason: String| CaptureError::Camera {
            device: self.name.clone(),
            reason,
        };
        // A frame that arrived after an earlier grab gave up is stale now.
        while self.frames.try_recv().is_ok() {}
        self.requests
            .send(())
            .map_err(|_| lost("the camera thread has stopped".to_owned()))?;
        match self.frames.recv_timeout(CAMERA_TIMEOUT) {
            Ok(frame) => frame,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(lost(format!(
                "no frame came within {} s",
                CAMERA_TIMEOUT.as_secs()
            ))),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(lost("the camera thread has stopped".to_owned()))
            }
        }
    }
}

/// A camera buffer as an RGB frame; the error says what went wrong.
fn decode(buffer: &nokhwa::Buffer) -> Result<Frame, String> {
    let res = buffer.resolution();
    let image = if buffer.source_frame_format() == FrameFormat::MJPEG {
        image::load_from_memory_with_format(buffer.buffer(), image::ImageFormat::Jpeg)
            .map_err(|e| format!("a JPEG frame from the camera cannot be decoded: {e}"))?
            .into_rgb8()
    } else {
        buffer.decode_image::<RgbFormat>().map_err(|e| {
            format!(
                "a {} frame cannot be decoded: {e}",
                buffer.source_frame_format()
            )
        })?
    };
    if (image.width(), image.height()) != (res.width(), res.height()) {
        log::debug!(
            "camera said {}x{}, the frame is {}x{}",
            res.width(),
            res.height(),
            image.width(),
            image.height()
        );
    }
    Frame::new(image.width(), image.height(), image.into_raw()).map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use nokhwa::utils::Resolution;

    #[test]
    fn decodes_mjpeg_frames() {
        // A flat grey 16x8 JPEG survives lossy coding within a step or two.
        let grey = image::RgbImage::from_pixel(16, 8, image::Rgb([128, 128, 128]));
        let mut jpeg = Vec::new();
        image::DynamicImage::ImageRgb8(grey)
            .write_to(
                &mut std::io::Cursor::new(&mut jpeg),
                image::ImageFormat::Jpeg,
            )
            .unwrap();
        let buffer = nokhwa::Buffer::new(Resolution::new(16, 8), &jpeg, FrameFormat::MJPEG);
        let frame = decode(&buffer).unwrap();
        assert_eq!((frame.width, frame.height), (16, 8));
        assert!(
            frame.rgb.iter().all(|&c| c.abs_diff(128) <= 2),
            "{:?}",
            frame.rgb
        );
    }

    #[test]
    fn decodes_yuyv_frames() {
        // Two pixels of Y=235, U=V=128: full-range-ish white, grey-balanced.
        let yuyv = [235, 128, 235, 128];
        let buffer = nokhwa::Buffer::new(Resolution::new(2, 1), &yuyv, FrameFormat::YUYV);
        let frame = decode(&buffer).unwrap();
        assert_eq!((frame.width, frame.height, frame.rgb.len()), (2, 1, 6));
        let (r, g, b) = (frame.rgb[0], frame.rgb[1], frame.rgb[2]);
        assert!(r == g && g == b, "grey input gave {r},{g},{b}");
    }

    #[test]
    fn bad_jpeg_says_so() {
        let buffer = nokhwa::Buffer::new(Resolution::new(4, 4), b"not a jpeg", FrameFormat::MJPEG);
        let err = decode(&buffer).unwrap_err();
        assert!(err.contains("JPEG frame"), "{err}");
    }
}
