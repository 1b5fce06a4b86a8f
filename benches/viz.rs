//! Projection benchmarks (`src/viz`), 10 samples each:
//!
//! * `viz/tsne_bh_10k_x64`: Barnes–Hut t-SNE (theta 0.5, perplexity 30, 1000 iterations, input
//!   kNN and P included) of a deterministic 10-cluster Gaussian mixture, 10 000 × 64.
//! * `viz/knn_all_10k_x64`: `knn_all` on that input with k = 90 (what t-SNE asks for at
//!   perplexity 30).
//! * `viz/pca_100k_x128`: `Pca::fit` on 100 000 × 128 (anisotropic noise plus a few factors).
//!
//! The t-SNE input is written to `target/bench/tsne_10k_x64.f32` (raw little-endian f32,
//! row-major) and the median t-SNE seconds to `target/bench/viz_tsne_seconds.txt`, for
//! `benches/reference/tsne_sklearn.py`, which runs scikit-learn's Barnes–Hut t-SNE on the same
//! data and prints the ratio.

use std::time::{Duration, Instant};

#[path = "common/timings.rs"]
mod timings;
use timings::{Timings, output_dir};

use criterion::{Criterion, SamplingMode};
use fusionlab::viz::knn::knn_all;
use fusionlab::viz::pca::Pca;
use fusionlab::viz::tsne::{TsneConfig, tsne};
use rand::{Rng as _, SeedableRng as _};
use rand_distr::{Distribution as _, Normal};

/// The same allocator as the `fusionlab` binary (src/main.rs), so the numbers are the app's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SAMPLES: usize = 10;
const TSNE_ROWS: usize = 10_000;
const TSNE_DIM: usize = 64;
const CLUSTERS: usize = 10;
const PCA_ROWS: usize = 100_000;
const PCA_DIM: usize = 128;

/// 10 000 × 64: ten Gaussian clusters (centres uniform in ±1 per coordinate, σ = 0.5), the point
/// `i` in cluster `i % 10`. Row-major.
fn mixture() -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let centres: Vec<Vec<f32>> = (0..CLUSTERS)
        .map(|_| (0..TSNE_DIM).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let noise = Normal::new(0.0f32, 0.5).expect("σ is positive");
    (0..TSNE_ROWS)
        .flat_map(|i| {
            centres[i % CLUSTERS]
                .iter()
                .map(|c| c + noise.sample(&mut rng))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// 100 000 × 128: per-column scales falling from 3 to 0.1, plus three shared factors.
fn pca_data() -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let noise = Normal::new(0.0f32, 1.0).expect("σ is positive");
    let mut data = Vec::with_capacity(PCA_ROWS * PCA_DIM);
    for _ in 0..PCA_ROWS {
        let factors: [f32; 3] = std::array::from_fn(|_| noise.sample(&mut rng));
        for d in 0..PCA_DIM {
            let scale = 3.0 - 2.9 * d as f32 / (PCA_DIM - 1) as f32;
            data.push(scale * noise.sample(&mut rng) + factors[d % 3] * (d % 7) as f32 * 0.2);
        }
    }
    data
}

/// Share of points whose nearest neighbour in the 2-D layout is from their own cluster.
fn same_cluster(layout: &[[f32; 2]]) -> f64 {
    let rows: Vec<&[f32]> = layout.iter().map(|p| p.as_slice()).collect();
    let same = knn_all(&rows, 1)
        .iter()
        .enumerate()
        .filter(|(i, nb)| {
            nb.first()
                .is_some_and(|&(j, _)| j % CLUSTERS == i % CLUSTERS)
        })
        .count();
    same as f64 / layout.len().max(1) as f64
}

/// Write `data` as raw little-endian f32.
fn write_f32(path: &std::path::Path, data: &[f32]) -> std::io::Result<()> {
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes)
}

fn main() {
    fusionlab::model::device::pin_thread_count();
    let mut c = Criterion::default().configure_from_args();
    // `cargo test --benches` / `--test` runs each routine once: nothing worth writing down.
    let quick = std::env::args().any(|a| a == "--test" || a == "--list");
    let dir = output_dir();
    let input = mixture();
    let rows: Vec<&[f32]> = input.chunks_exact(TSNE_DIM).collect();
    if !quick {
        let path = dir.join("tsne_10k_x64.f32");
        match std::fs::create_dir_all(&dir).and_then(|()| write_f32(&path, &input)) {
            Ok(()) => println!("wrote {} ({TSNE_ROWS} × {TSNE_DIM})", path.display()),
            Err(e) => eprintln!("could not write {}: {e}", path.display()),
        }
    }
    let cfg = TsneConfig {
        perplexity: 30.0,
        iterations: 1000,
        theta: 0.5,
        ..TsneConfig::default()
    };
    let mut tsne_t = Timings::default();
    let mut last_kl = f32::NAN;
    let mut last_layout = Vec::new();
    let mut group = c.benchmark_group("viz");
    group
        .sample_size(SAMPLES)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(40));
    group.bench_function("tsne_bh_10k_x64", |b| {
        b.iter_custom(|iters| {
            tsne_t.record(iters, || {
                let t = Instant::now();
                let layout = tsne(&rows, &cfg, &mut |_, _, kl| {
                    last_kl = kl;
                    true
                });
                let elapsed = t.elapsed();
                match layout {
                    Ok(Some(layout)) => last_layout = std::hint::black_box(layout),
                    other => panic!("t-SNE did not finish: {other:?}"),
                }
                elapsed
            })
        });
    });
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("knn_all_10k_x64", |b| {
        b.iter(|| knn_all(std::hint::black_box(&rows), 90));
    });
    let pca_input = pca_data();
    let pca_rows: Vec<&[f32]> = pca_input.chunks_exact(PCA_DIM).collect();
    group.bench_function("pca_100k_x128", |b| {
        b.iter(|| Pca::fit(std::hint::black_box(&pca_rows)));
    });
    group.finish();
    c.final_summary();
    if quick {
        return;
    }
    match tsne_t.median(SAMPLES).map(|(m, _)| m) {
        Some(seconds) => {
            println!(
                "summary: t-SNE {TSNE_ROWS}×{TSNE_DIM} (Barnes–Hut θ 0.5, perplexity 30, 1000 \
                 iterations) {seconds:.2} s, final KL {last_kl:.3}, nearest neighbour in the \
                 layout from the same cluster for {:.1} % of points, {} threads",
                100.0 * same_cluster(&last_layout),
                rayon::current_num_threads()
            );
            let path = dir.join("viz_tsne_seconds.txt");
            match std::fs::write(&path, format!("{seconds:.4}\n")) {
                Ok(()) => println!("wrote {}", path.display()),
                Err(e) => eprintln!("could not write {}: {e}", path.display()),
            }
        }
        None => {
            println!("t-SNE was not measured (filtered out?); viz_tsne_seconds.txt left as it was")
        }
    }
}
