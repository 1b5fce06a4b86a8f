//! Image decode + preprocess: any bytes give an image tensor of the configured shape or an error.
#![no_main]

use fusionlab::data::image::{ImageConfig, decode_image_bytes, preprocess};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let cfg = ImageConfig::default();
    if let Ok(image) = decode_image_bytes(data, Path::new("fuzz.png"), &cfg) {
        let pixels = preprocess(&image, &cfg);
        assert_eq!(pixels.len(), cfg.shape().iter().product::<usize>());
        assert!(pixels.iter().all(|v| v.is_finite()));
    }
});
