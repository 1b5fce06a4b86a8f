//! Manifest / metadata CSV: any table loads as a dataset or fails with an error, never a panic.
//! The scratch folder holds a real `a.png` and `a.wav` so rows can reference working files.
#![no_main]

#[path = "scratch.rs"]
mod scratch;

use fusionlab::data::{LoadOptions, Quiet, folder};
use libfuzzer_sys::fuzz_target;
use std::sync::Once;

fn media() {
    static MEDIA: Once = Once::new();
    MEDIA.call_once(|| {
        let dir = scratch::dir();
        let img = image::GrayImage::from_fn(28, 28, |x, y| image::Luma([(x * 9 + y) as u8]));
        img.save(dir.join("a.png")).expect("write a.png");
        let wave: Vec<f32> = (0..4000).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
        fusionlab::audio::write_wav(&dir.join("a.wav"), &wave, 8000).expect("write a.wav");
        std::fs::create_dir_all(dir.join("cat")).expect("class folder");
        std::fs::copy(dir.join("a.png"), dir.join("cat/b.png")).expect("copy b.png");
    });
}

fuzz_target!(|data: &[u8]| {
    media();
    let path = scratch::dir().join("manifest.csv");
    std::fs::write(&path, data).expect("write the fuzz input");
    let options = LoadOptions::default();
    if let Ok(dataset) = folder::load(&path, &options, &Quiet) {
        assert!(!dataset.classes.is_empty());
    }
});
