use std::io::Cursor;
use std::path::Path;

use fusionlab::data::ImageError;
use fusionlab::data::image::{Fit, ImageConfig, decode_image_bytes, load_image, preprocess};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

use super::common::temp_dir;

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), format)
        .expect("encode");
    bytes
}

fn cfg(size: u32) -> ImageConfig {
    ImageConfig {
        size,
        ..ImageConfig::default()
    }
}

/// Channel `c` of pixel (x, y) of a CHW vector, back in 0..1.
fn pixel(v: &[f32], cfg: &ImageConfig, c: usize, x: usize, y: usize) -> f32 {
    let s = cfg.size as usize;
    v[c * s * s + y * s + x] * cfg.std[c] + cfg.mean[c]
}

#[test]
fn every_supported_format_decodes_to_the_same_colour() {
    let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(20, 20, Rgb([200, 40, 10])));
    let c = cfg(8);
    for format in [
        ImageFormat::Png,
        ImageFormat::Jpeg,
        ImageFormat::Bmp,
        ImageFormat::Gif,
        ImageFormat::WebP,
    ] {
        let bytes = encode(&img, format);
        let decoded = decode_image_bytes(&bytes, Path::new("x"), &c)
            .unwrap_or_else(|e| panic!("{format:?}: {e}"));
        let v = preprocess(&decoded, &c);
        assert_eq!(v.len(), 3 * 8 * 8);
        let r = pixel(&v, &c, 0, 4, 4);
        let b = pixel(&v, &c, 2, 4, 4);
        assert!((r - 200.0 / 255.0).abs() < 0.06, "{format:?}: red {r}");
        assert!((b - 10.0 / 255.0).abs() < 0.06, "{format:?}: blue {b}");
    }
}

#[test]
fn gif_uses_the_first_frame() {
    use image::codecs::gif::GifEncoder;
    let mut bytes = Vec::new();
    {
        let mut enc = GifEncoder::new(&mut bytes);
        for colour in [[0u8, 255, 0, 255], [255, 0, 0, 255]] {
            let frame = image::Frame::new(RgbaImage::from_pixel(6, 6, Rgba(colour)));
            enc.encode_frame(frame).expect("frame");
        }
    }
    let c = cfg(6);
    let v = preprocess(
        &decode_image_bytes(&bytes, Path::new("anim.gif"), &c).expect("gif"),
        &c,
    );
    assert!(pixel(&v, &c, 1, 3, 3) > 0.9, "green first frame expected");
    assert!(pixel(&v, &c, 0, 3, 3) < 0.1);
}

#[test]
fn grayscale_rgba_and_16_bit_become_rgb() {
    let c = cfg(4);
    let gray = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(4, 4, image::Luma([128])));
    let v = preprocess(&gray, &c);
    for ch in 0..3 {
        assert!((pixel(&v, &c, ch, 1, 1) - 128.0 / 255.0).abs() < 1e-3);
    }
    // Fully transparent black over white is white; opaque stays as is.
    let clear = DynamicImage::ImageRgba8(RgbaImage::from_pixel(4, 4, Rgba([0, 0, 0, 0])));
    assert!((pixel(&preprocess(&clear, &c), &c, 0, 2, 2) - 1.0).abs() < 1e-3);
    let sixteen = DynamicImage::ImageRgb16(image::ImageBuffer::from_pixel(
        4,
        4,
        Rgb([65535u16, 0, 32768]),
    ));
    let v = preprocess(&sixteen, &c);
    assert!((pixel(&v, &c, 0, 0, 0) - 1.0).abs() < 1e-3);
    assert!((pixel(&v, &c, 2, 0, 0) - 0.5).abs() < 1e-3);
}

#[test]
fn normalisation_uses_mean_and_std() {
    let c = ImageConfig {
        size: 2,
        mean: [0.5, 0.5, 0.5],
        std: [0.25, 0.5, 1.0],
        ..ImageConfig::default()
    };
    let white = DynamicImage::ImageRgb8(RgbImage::from_pixel(2, 2, Rgb([255, 255, 255])));
    let v = preprocess(&white, &c);
    assert!(
        (v[0] - 2.0).abs() < 1e-5 && (v[4] - 1.0).abs() < 1e-5 && (v[8] - 0.5).abs() < 1e-5,
        "{v:?}"
    );
}

#[test]
fn wide_images_are_center_cropped_or_padded() {
    // 30×10: left third red, middle green, right blue.
    let mut img = RgbImage::new(30, 10);
    for (x, _, p) in img.enumerate_pixels_mut() {
        *p = match x / 10 {
            0 => Rgb([255, 0, 0]),
            1 => Rgb([0, 255, 0]),
            _ => Rgb([0, 0, 255]),
        };
    }
    let img = DynamicImage::ImageRgb8(img);
    let crop = cfg(10);
    let v = preprocess(&img, &crop);
    // Centre crop keeps the green middle everywhere.
    assert!(pixel(&v, &crop, 1, 0, 5) > 0.9 && pixel(&v, &crop, 1, 9, 5) > 0.9);
    let pad = ImageConfig {
        fit: Fit::Pad,
        ..cfg(9)
    };
    let v = preprocess(&img, &pad);
    // Pad keeps all three colours in a 9×3 band; rows above and below are the mean colour.
    assert!(pixel(&v, &pad, 0, 0, 4) > 0.8, "red on the left");
    assert!(pixel(&v, &pad, 2, 8, 4) > 0.8, "blue on the right");
    assert!(
        (pixel(&v, &pad, 0, 4, 0) - pad.mean[0]).abs() < 1e-6,
        "padding"
    );
}

#[test]
fn files_load_and_report_their_path() {
    let dir = temp_dir();
    let path = dir.path().join("ok.png");
    super::common::write_png(&path, 40, 30, [10, 20, 30]);
    assert_eq!(
        load_image(&path, &cfg(16)).expect("load").len(),
        3 * 16 * 16
    );

    let missing = dir.path().join("nope.png");
    let err = load_image(&missing, &cfg(16)).expect_err("missing");
    assert!(matches!(err, ImageError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("nope.png"), "{err}");
}

#[test]
fn truncated_png_is_corrupt() {
    let dir = temp_dir();
    let img = DynamicImage::ImageRgb8(RgbImage::from_fn(64, 64, |x, y| {
        Rgb([x as u8 * 3, y as u8 * 3, 7])
    }));
    let bytes = encode(&img, ImageFormat::Png);
    let path = dir.path().join("truncated.png");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("write");
    let err = load_image(&path, &cfg(8)).expect_err("truncated");
    assert!(matches!(err, ImageError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("truncated.png"), "{err}");
}

#[test]
fn wrong_magic_bytes_are_not_an_image() {
    let dir = temp_dir();
    let path = dir.path().join("fake.png");
    std::fs::write(&path, b"this is plain text pretending to be a PNG").expect("write");
    let err = load_image(&path, &cfg(8)).expect_err("fake");
    assert!(
        matches!(err, ImageError::UnsupportedFormat { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("fake.png"), "{err}");
}

#[test]
fn huge_declared_dimensions_are_refused_before_decoding() {
    // A BMP header declaring 30000 × 30000 pixels with almost no data (a decompression bomb).
    let mut bmp = Vec::new();
    bmp.extend_from_slice(b"BM");
    bmp.extend_from_slice(&1000u32.to_le_bytes()); // file size (a lie)
    bmp.extend_from_slice(&0u32.to_le_bytes());
    bmp.extend_from_slice(&54u32.to_le_bytes()); // pixel offset
    bmp.extend_from_slice(&40u32.to_le_bytes()); // BITMAPINFOHEADER
    bmp.extend_from_slice(&30_000i32.to_le_bytes());
    bmp.extend_from_slice(&30_000i32.to_le_bytes());
    bmp.extend_from_slice(&1u16.to_le_bytes()); // planes
    bmp.extend_from_slice(&24u16.to_le_bytes()); // bits
    bmp.extend_from_slice(&[0u8; 24]);
    bmp.extend_from_slice(&[0u8; 64]);
    let dir = temp_dir();
    let path = dir.path().join("bomb.bmp");
    std::fs::write(&path, &bmp).expect("write");
    let err = load_image(&path, &cfg(8)).expect_err("bomb");
    assert!(
        matches!(
            err,
            ImageError::TooManyPixels {
                width: 30_000,
                height: 30_000,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("bomb.bmp"), "{err}");
}

#[test]
fn files_over_the_byte_limit_are_refused() {
    let dir = temp_dir();
    let path = dir.path().join("big.png");
    super::common::write_png(&path, 64, 64, [1, 2, 3]);
    let c = ImageConfig {
        max_bytes: 10,
        ..cfg(8)
    };
    let err = load_image(&path, &c).expect_err("too big");
    assert!(
        matches!(err, ImageError::TooManyBytes { limit: 10, .. }),
        "{err:?}"
    );
}
