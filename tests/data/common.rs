//! Helpers shared by the data tests.

use std::path::{Path, PathBuf};

/// Log class posteriors of a k-nearest-neighbour classifier (smoothed votes) for each test row.
pub fn knn_log_posteriors(
    train: &[(Vec<f32>, usize)],
    test: &[Vec<f32>],
    k: usize,
    classes: usize,
) -> Vec<Vec<f64>> {
    test.iter()
        .map(|x| {
            let mut d: Vec<(f32, usize)> = train
                .iter()
                .map(|(t, label)| {
                    (
                        x.iter().zip(t).map(|(a, b)| (a - b) * (a - b)).sum(),
                        *label,
                    )
                })
                .collect();
            let k = k.clamp(1, d.len().max(1));
            d.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
            let mut votes = vec![0.5f64; classes];
            for (_, label) in &d[..k] {
                votes[*label] += 1.0;
            }
            let total: f64 = votes.iter().sum();
            votes.iter().map(|v| (v / total).ln()).collect()
        })
        .collect()
}

/// Log class posteriors of multinomial naive Bayes on word counts (Laplace smoothing).
pub fn naive_bayes_log_posteriors(
    train: &[(Vec<f32>, usize)],
    test: &[Vec<f32>],
    classes: usize,
) -> Vec<Vec<f64>> {
    let dim = train.first().map_or(0, |(x, _)| x.len());
    let mut counts = vec![vec![1.0f64; dim]; classes];
    let mut priors = vec![1.0f64; classes];
    for (x, y) in train {
        priors[*y] += 1.0;
        for (c, v) in counts[*y].iter_mut().zip(x) {
            *c += f64::from(*v);
        }
    }
    let log_p: Vec<Vec<f64>> = counts
        .iter()
        .map(|c| {
            let total: f64 = c.iter().sum();
            c.iter().map(|v| (v / total).ln()).collect()
        })
        .collect();
    test.iter()
        .map(|x| {
            let scores: Vec<f64> = (0..classes)
                .map(|k| {
                    priors[k].ln()
                        + x.iter()
                            .zip(&log_p[k])
                            .map(|(n, l)| f64::from(*n) * l)
                            .sum::<f64>()
                })
                .collect();
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let norm = max + scores.iter().map(|s| (s - max).exp()).sum::<f64>().ln();
            scores.iter().map(|s| s - norm).collect()
        })
        .collect()
}

/// Fraction of rows whose highest score is the true label.
pub fn accuracy_of(scores: &[Vec<f64>], labels: &[usize]) -> f32 {
    let correct = scores
        .iter()
        .zip(labels)
        .filter(|(s, y)| (0..s.len()).max_by(|&a, &b| s[a].total_cmp(&s[b])) == Some(**y))
        .count();
    correct as f32 / labels.len().max(1) as f32
}

/// Centre features (per dimension, from the training rows) and scale the whole block so its
/// total variance is 1, so blocks of different sizes weigh the same when concatenated.
pub fn standardise(train: &mut [Vec<f32>], test: &mut [Vec<f32>]) {
    let dim = train.first().map_or(0, Vec::len);
    let n = train.len().max(1) as f32;
    let means: Vec<f32> = (0..dim)
        .map(|d| train.iter().map(|x| x[d]).sum::<f32>() / n)
        .collect();
    let total_var: f32 = (0..dim)
        .map(|d| train.iter().map(|x| (x[d] - means[d]).powi(2)).sum::<f32>() / n)
        .sum();
    let scale = 1.0 / (total_var + 1e-6).sqrt();
    for x in train.iter_mut().chain(test.iter_mut()) {
        for (v, m) in x.iter_mut().zip(&means) {
            *v = (*v - m) * scale;
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
    image::RgbImage::from_pixel(w, h, image::Rgb(rgb))
        .save(path)
        .expect("save png");
}

/// The shared real data, if this machine has it; otherwise `test` is reported as skipped.
pub fn shared_data(test: &str, name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(name);
    if p.is_dir() {
        Some(p)
    } else {
        let reason = format!(
            "{} is absent (real data lives in ../shared/data)",
            p.display()
        );
        crate::skip::skip(test, &reason);
        None
    }
}
