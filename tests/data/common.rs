//! Helpers shared by the data tests.

use std::path::{Path, PathBuf};

/// Nearest-centroid classifier: fit on `train`, return accuracy on `test`.
pub fn nearest_centroid_accuracy(train: &[(Vec<f32>, usize)], test: &[(Vec<f32>, usize)]) -> f32 {
    let classes = train.iter().map(|(_, y)| *y + 1).max().unwrap_or(0);
    let dim = train.first().map_or(0, |(x, _)| x.len());
    let mut sums = vec![vec![0.0f64; dim]; classes];
    let mut counts = vec![0usize; classes];
    for (x, y) in train {
        counts[*y] += 1;
        for (s, v) in sums[*y].iter_mut().zip(x) {
            *s += f64::from(*v);
        }
    }
    for (s, n) in sums.iter_mut().zip(&counts) {
        for v in s.iter_mut() {
            *v /= (*n).max(1) as f64;
        }
    }
    let correct = test
        .iter()
        .filter(|(x, y)| {
            let best = (0..classes)
                .filter(|&c| counts[c] > 0)
                .min_by(|&a, &b| distance(x, &sums[a]).total_cmp(&distance(x, &sums[b])));
            best == Some(*y)
        })
        .count();
    correct as f32 / test.len().max(1) as f32
}

fn distance(x: &[f32], c: &[f64]) -> f64 {
    x.iter().zip(c).map(|(a, b)| (f64::from(*a) - b).powi(2)).sum()
}

/// Standardise features (per dimension, from the training rows) and scale the block so its total
/// variance is 1, so blocks of different sizes weigh the same when concatenated.
pub fn standardise(train: &mut [Vec<f32>], test: &mut [Vec<f32>]) {
    let dim = train.first().map_or(0, Vec::len);
    let n = train.len().max(1) as f32;
    for d in 0..dim {
        let mean = train.iter().map(|x| x[d]).sum::<f32>() / n;
        let var = train.iter().map(|x| (x[d] - mean).powi(2)).sum::<f32>() / n;
        let scale = 1.0 / ((var + 1e-6).sqrt() * (dim as f32).sqrt());
        for x in train.iter_mut().chain(test.iter_mut()) {
            x[d] = (x[d] - mean) * scale;
        }
    }
}

/// A fresh temporary folder.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Write a 16-bit mono WAV with a sine tone.
pub fn write_tone(path: &Path, rate: u32, seconds: f32, hz: f32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    let n = (rate as f32 * seconds) as usize;
    for i in 0..n {
        let s = (std::f32::consts::TAU * hz * i as f32 / rate as f32).sin() * 0.5;
        w.write_sample((s * 32767.0) as i16).expect("write");
    }
    w.finalize().expect("finalize");
}

/// Write a small RGB PNG.
pub fn write_png(path: &Path, w: u32, h: u32, rgb: [u8; 3]) {
    image::RgbImage::from_pixel(w, h, image::Rgb(rgb)).save(path).expect("save png");
}

/// The shared real data, if this machine has it.
pub fn shared_data(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data").join(name);
    if p.is_dir() {
        Some(p)
    } else {
        println!("skipped: {} is absent (real data lives in ../shared/data)", p.display());
        None
    }
}
