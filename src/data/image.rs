//! Images → model input: decode (PNG, JPEG, BMP, GIF first frame, WebP), guard against
//! decompression bombs, convert any pixel type to RGB f32, resize to a square, normalise.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageReader, imageops::FilterType};

use super::error::ImageError;

/// How a non-square image becomes square.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fit {
    /// Scale so the short side fits, then cut the centre (nothing is distorted, edges may be lost).
    #[default]
    CenterCrop,
    /// Scale so the long side fits, then pad the rest with the mean colour (nothing is lost).
    Pad,
}

/// The image file extensions fusionlab decodes (lower case, without the dot).
pub const IMAGE_EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "bmp", "gif", "webp"];

/// Image preprocessing settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ImageConfig {
    /// Output side length in pixels (the model sees `3 × size × size`).
    pub size: u32,
    /// Crop or pad non-square images.
    pub fit: Fit,
    /// Per-channel mean subtracted after scaling pixels to 0..1.
    pub mean: [f32; 3],
    /// Per-channel standard deviation divided by after the mean.
    pub std: [f32; 3],
    /// Largest accepted width or height, checked on the header before decoding.
    pub max_side: u32,
    /// Largest accepted file size in bytes.
    pub max_bytes: u64,
}

impl Default for ImageConfig {
    fn default() -> Self {
        Self {
            size: 32,
            fit: Fit::CenterCrop,
            mean: [0.5; 3],
            std: [0.25; 3],
            max_side: 16_384,
            max_bytes: 64 << 20,
        }
    }
}

impl ImageConfig {
    /// The tensor shape of one preprocessed image, `[3, size, size]`.
    pub fn shape(&self) -> [usize; 3] {
        [3, self.size as usize, self.size as usize]
    }
}

/// Read, decode and preprocess an image file into a normalised CHW vector.
pub fn load_image(path: &Path, cfg: &ImageConfig) -> Result<Vec<f32>, ImageError> {
    let image = decode_image_file(path, cfg)?;
    Ok(preprocess(&image, cfg))
}

/// Read and decode an image file (with the size guards of `cfg`), without preprocessing.
pub fn decode_image_file(path: &Path, cfg: &ImageConfig) -> Result<DynamicImage, ImageError> {
    let io = |source| ImageError::Io {
        path: path.to_owned(),
        source,
    };
    let bytes_on_disk = std::fs::metadata(path).map_err(io)?.len();
    if bytes_on_disk > cfg.max_bytes {
        return Err(ImageError::TooManyBytes {
            path: path.to_owned(),
            bytes: bytes_on_disk,
            limit: cfg.max_bytes,
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    decode_image_bytes(&bytes, path, cfg)
}

/// Decode image bytes; `path` is only used in error messages.
pub fn decode_image_bytes(
    bytes: &[u8],
    path: &Path,
    cfg: &ImageConfig,
) -> Result<DynamicImage, ImageError> {
    if bytes.len() as u64 > cfg.max_bytes {
        return Err(ImageError::TooManyBytes {
            path: path.to_owned(),
            bytes: bytes.len() as u64,
            limit: cfg.max_bytes,
        });
    }
    if bytes.is_empty() {
        return Err(ImageError::UnsupportedFormat {
            path: path.to_owned(),
            reason: "the file is empty (0 bytes)".into(),
        });
    }
    let reader = |bytes| -> Result<ImageReader<Cursor<&[u8]>>, ImageError> {
        let reader = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|source| ImageError::Io {
                path: path.to_owned(),
                source,
            })?;
        if reader.format().is_none() {
            return Err(ImageError::UnsupportedFormat {
                path: path.to_owned(),
                reason: "the file's first bytes match no known image format".into(),
            });
        }
        Ok(reader)
    };
    // Header first: refuse huge declared sizes before any pixel memory is allocated.
    let (width, height) = reader(bytes)?
        .into_dimensions()
        .map_err(|err| map_decode_error(err, path))?;
    if width > cfg.max_side || height > cfg.max_side {
        return Err(ImageError::TooManyPixels {
            path: path.to_owned(),
            width,
            height,
            limit: cfg.max_side,
        });
    }
    if width == 0 || height == 0 {
        return Err(ImageError::Empty {
            path: path.to_owned(),
            width,
            height,
        });
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(cfg.max_side);
    limits.max_image_height = Some(cfg.max_side);
    let mut reader = reader(bytes)?;
    reader.limits(limits);
    reader.decode().map_err(|err| map_decode_error(err, path))
}

fn map_decode_error(err: image::ImageError, path: &Path) -> ImageError {
    let path = path.to_owned();
    match err {
        image::ImageError::Unsupported(e) => ImageError::UnsupportedFormat {
            path,
            reason: e.to_string(),
        },
        image::ImageError::Limits(e) => ImageError::Corrupt {
            path,
            reason: format!("decoding would exceed the memory limit ({e})"),
        },
        image::ImageError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            ImageError::Corrupt {
                path,
                reason: "the file ends too early".into(),
            }
        }
        other => ImageError::Corrupt {
            path,
            reason: other.to_string(),
        },
    }
}

/// Square, RGB, normalised: a decoded image in any pixel type → `3 × size × size` (CHW).
///
/// Transparent pixels are composited over white; grayscale is copied to all three channels;
/// 16-bit and float images keep their precision until the final f32.
pub fn preprocess(image: &DynamicImage, cfg: &ImageConfig) -> Vec<f32> {
    let size = cfg.size.max(1);
    let rgba = match cfg.fit {
        Fit::CenterCrop => image
            .resize_to_fill(size, size, FilterType::Triangle)
            .to_rgba32f(),
        Fit::Pad => image.resize(size, size, FilterType::Triangle).to_rgba32f(),
    };
    let (w, h) = rgba.dimensions();
    let (x0, y0) = ((size - w) / 2, (size - h) / 2);
    let plane = (size * size) as usize;
    // Padding is the mean colour, i.e. exactly 0 after normalisation.
    let mut out: Vec<f32> = cfg
        .mean
        .iter()
        .flat_map(|&m| std::iter::repeat_n(m, plane))
        .collect();
    for (x, y, px) in rgba.enumerate_pixels() {
        let [r, g, b, a] = px.0;
        let i = ((y + y0) * size + (x + x0)) as usize;
        for (c, v) in [r, g, b].into_iter().enumerate() {
            out[c * plane + i] = v * a + (1.0 - a); // over white
        }
    }
    normalize_chw(&mut out, cfg);
    out
}

/// Normalise an RGB image given as `[0, 1]` CHW planes in place (used by the synthetic renderer).
pub fn normalize_chw(pixels: &mut [f32], cfg: &ImageConfig) {
    let plane = (cfg.size * cfg.size) as usize;
    for (c, channel) in pixels.chunks_mut(plane.max(1)).take(3).enumerate() {
        for v in channel {
            *v = (*v - cfg.mean[c]) / cfg.std[c];
        }
    }
}
