//! Numbers for pictures, free of egui and candle: 2-D projections of embeddings (PCA, t-SNE) and
//! colour maps. The worker computes projections; the app only draws them.

mod affinity;
pub mod knn;
pub mod pca;
mod quadtree;
pub mod tsne;

/// A perceptual colour map (viridis, sampled at 9 stops and linearly interpolated) for heatmaps:
/// `t` in 0..1 → RGB.
pub fn viridis(t: f32) -> [u8; 3] {
    const STOPS: [[f32; 3]; 9] = [
        [68.0, 1.0, 84.0],
        [71.0, 44.0, 122.0],
        [59.0, 81.0, 139.0],
        [44.0, 113.0, 142.0],
        [33.0, 144.0, 141.0],
        [39.0, 173.0, 129.0],
        [92.0, 200.0, 99.0],
        [170.0, 220.0, 50.0],
        [253.0, 231.0, 37.0],
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (STOPS.len() - 1) as f32;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f32;
    std::array::from_fn(|c| (STOPS[i][c] * (1.0 - f) + STOPS[i + 1][c] * f).round() as u8)
}

/// A log-mel spectrogram (mel-major, `bins × frames`) as an RGB image, low frequencies at the
/// bottom, scaled to its own min..max: `(width = frames, height = bins, pixels)`.
pub fn spectrogram_rgb(mel: &[f32], bins: usize) -> Option<(usize, usize, Vec<u8>)> {
    if bins == 0 || mel.is_empty() || !mel.len().is_multiple_of(bins) {
        return None;
    }
    let frames = mel.len() / bins;
    let (lo, hi) = mel
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let span = (hi - lo).max(1e-6);
    let mut px = Vec::with_capacity(frames * bins * 3);
    for row in 0..bins {
        let bin = bins - 1 - row;
        for f in 0..frames {
            px.extend_from_slice(&viridis((mel[bin * frames + f] - lo) / span));
        }
    }
    Some((frames, bins, px))
}

/// Min/max envelope of a waveform in `columns` buckets, for drawing it at any width.
pub fn envelope(samples: &[f32], columns: usize) -> Vec<[f32; 2]> {
    if samples.is_empty() || columns == 0 {
        return Vec::new();
    }
    (0..columns)
        .map(|c| {
            let a = c * samples.len() / columns;
            let b = ((c + 1) * samples.len() / columns)
                .max(a + 1)
                .min(samples.len());
            samples[a..b]
                .iter()
                .fold([f32::INFINITY, f32::NEG_INFINITY], |[lo, hi], &s| {
                    [lo.min(s), hi.max(s)]
                })
        })
        .collect()
}
