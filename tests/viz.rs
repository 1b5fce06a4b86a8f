//! Projections, neighbours and colour maps: PCA, t-SNE and kNN on data whose answer is known.

use fusionlab::viz::knn::{Metric, knn_all, nearest};
use fusionlab::viz::pca::Pca;
use fusionlab::viz::tsne::{TsneConfig, tsne};
use rand::{Rng as _, SeedableRng as _};
use rand_distr::{Distribution as _, Normal};

fn blobs(
    per: usize,
    dim: usize,
    centres: usize,
    spread: f32,
    seed: u64,
) -> (Vec<Vec<f32>>, Vec<usize>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let noise = Normal::new(0.0f32, spread).expect("normal");
    let means: Vec<Vec<f32>> = (0..centres)
        .map(|_| (0..dim).map(|_| rng.random_range(-5.0..5.0)).collect())
        .collect();
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    for (c, m) in means.iter().enumerate() {
        for _ in 0..per {
            rows.push(m.iter().map(|v| v + noise.sample(&mut rng)).collect());
            labels.push(c);
        }
    }
    (rows, labels)
}

#[test]
fn pca_finds_the_direction_of_largest_variance() {
    // Points along (1, 1, 0)/√2 with small noise: the first component is that direction and
    // explains nearly everything.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let rows: Vec<Vec<f32>> = (0..400)
        .map(|_| {
            let t: f32 = rng.random_range(-3.0..3.0);
            vec![
                t + rng.random_range(-0.05..0.05),
                t,
                rng.random_range(-0.05..0.05),
            ]
        })
        .collect();
    let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
    let pca = Pca::fit(&refs).expect("fit");
    let c = &pca.components[0];
    let s = std::f32::consts::FRAC_1_SQRT_2;
    assert!(
        (c[0] - s).abs() < 0.02 && (c[1] - s).abs() < 0.02 && c[2].abs() < 0.05,
        "{c:?}"
    );
    assert!(pca.explained[0] > 0.99, "{:?}", pca.explained);
    let dot: f32 = c.iter().zip(&pca.components[1]).map(|(a, b)| a * b).sum();
    assert!(dot.abs() < 1e-3, "components not orthogonal");
    // Projection of the mean is the origin.
    let p = pca.project(&pca.mean);
    assert!(p[0].abs() < 1e-4 && p[1].abs() < 1e-4);
    assert!(Pca::fit(&refs[..1]).is_none());
}

#[test]
fn tsne_separates_gaussian_clusters_and_kl_decreases() {
    let (rows, labels) = blobs(40, 16, 3, 0.5, 7);
    let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
    let mut kls = Vec::new();
    let layout = tsne(
        &refs,
        &TsneConfig {
            perplexity: 15.0,
            iterations: 400,
            ..TsneConfig::default()
        },
        &mut |_, _, kl| {
            kls.push(kl);
            true
        },
    )
    .expect("ok")
    .expect("not cancelled");
    // KL falls once the early exaggeration ends (from iteration 100).
    let after: Vec<f32> = kls.iter().skip(4).copied().collect();
    assert!(after.last() < after.first(), "{kls:?}");
    // Every point's nearest neighbour in the layout is of its own cluster.
    let mut same = 0;
    for i in 0..layout.len() {
        let j = (0..layout.len())
            .filter(|&j| j != i)
            .min_by(|&a, &b| {
                let d = |k: usize| {
                    (layout[i][0] - layout[k][0]).powi(2) + (layout[i][1] - layout[k][1]).powi(2)
                };
                d(a).total_cmp(&d(b))
            })
            .expect("neighbour");
        same += usize::from(labels[i] == labels[j]);
    }
    assert!(
        same as f32 / layout.len() as f32 > 0.95,
        "{same}/{}",
        layout.len()
    );
}

#[test]
fn tsne_cancels_and_rejects_bad_settings() {
    let (rows, _) = blobs(10, 4, 2, 0.5, 1);
    let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
    let cancelled = tsne(
        &refs,
        &TsneConfig {
            perplexity: 5.0,
            ..TsneConfig::default()
        },
        &mut |_, _, _| false,
    )
    .expect("ok");
    assert!(cancelled.is_none());
    let err = tsne(&refs, &TsneConfig::default(), &mut |_, _, _| true)
        .expect_err("perplexity 30 on 20 points");
    assert!(err.to_string().contains("too large"), "{err}");
    let err = tsne(&refs[..3], &TsneConfig::default(), &mut |_, _, _| true).expect_err("3 points");
    assert!(err.to_string().contains("at least 5"), "{err}");
}

/// Share of points whose nearest neighbour in the layout has their label.
fn neighbour_agreement(layout: &[[f32; 2]], labels: &[usize]) -> f32 {
    let rows: Vec<&[f32]> = layout.iter().map(|p| p.as_slice()).collect();
    let same = knn_all(&rows, 1)
        .iter()
        .enumerate()
        .filter(|(i, nb)| labels[*i] == labels[nb[0].0])
        .count();
    same as f32 / layout.len() as f32
}

fn refs(rows: &[Vec<f32>]) -> Vec<&[f32]> {
    rows.iter().map(Vec::as_slice).collect()
}

/// Run `f` on a single-thread rayon pool.
fn one_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("thread pool")
        .install(f)
}

#[test]
fn barnes_hut_tsne_separates_a_gaussian_mixture() {
    // 5 clusters × 130 points in 20-D, overlapping a little in every single coordinate.
    let (rows, labels) = blobs(130, 20, 5, 1.5, 11);
    let mut kls = Vec::new();
    let mut steps = Vec::new();
    let cfg = TsneConfig::default();
    assert_eq!(cfg.theta, 0.5, "Barnes–Hut by default");
    let layout = tsne(&refs(&rows), &cfg, &mut |iteration, points, kl| {
        assert_eq!(points.len(), 650);
        steps.push(iteration);
        kls.push(kl);
        true
    })
    .expect("ok")
    .expect("not cancelled");
    // Called every 25 iterations, the last one included.
    assert_eq!(steps, (1..=20).map(|k| k * 25).collect::<Vec<_>>());
    assert!(kls.iter().all(|kl| kl.is_finite() && *kl > 0.0), "{kls:?}");
    // After the early exaggeration (100 iterations) the KL only improves.
    let after = &kls[4..];
    assert!(after[after.len() - 1] < after[0], "{kls:?}");
    let agreement = neighbour_agreement(&layout, &labels);
    assert!(
        agreement > 0.95,
        "nearest-neighbour label agreement {agreement}"
    );
    // Deterministic for a seed, on any number of threads.
    let again = one_thread(|| tsne(&refs(&rows), &cfg, &mut |_, _, _| true))
        .expect("ok")
        .expect("not cancelled");
    assert_eq!(layout, again);
}

#[test]
fn theta_zero_is_the_exact_gradient() {
    // With ⌊3·perplexity⌋ = n − 1 neighbours the sparse P holds every pair, so Barnes–Hut with a
    // tiny opening angle follows the exact path (theta 0) closely (for a while: the optimiser's
    // sign-sensitive gains let trajectories part later on); a coarse angle strays further.
    let (rows, labels) = blobs(20, 6, 3, 1.0, 5);
    let run = |theta: f32, iterations: usize| {
        let mut kls = Vec::new();
        let cfg = TsneConfig {
            perplexity: 19.9,
            iterations,
            theta,
            ..TsneConfig::default()
        };
        let layout = tsne(&refs(&rows), &cfg, &mut |_, _, kl| {
            kls.push(kl);
            true
        })
        .expect("ok")
        .expect("not cancelled");
        (layout, kls)
    };
    // The KL reported after the 8th step (a run's last iteration always reports).
    let exact = run(0.0, 8).1[0];
    let fine = run(0.02, 8).1[0];
    let coarse = run(0.9, 8).1[0];
    assert!(
        (exact - fine).abs() < 1e-4 * exact,
        "KL exact {exact} vs θ 0.02 {fine}"
    );
    assert!(
        (exact - coarse).abs() > 10.0 * (exact - fine).abs(),
        "θ 0.9: {coarse}"
    );
    let (layout, kls) = run(0.0, 300);
    assert!(neighbour_agreement(&layout, &labels) > 0.95);
    assert!(kls[kls.len() - 1] < kls[4], "{kls:?}");
    assert_eq!(run(0.0, 300).0, layout, "deterministic");
}

#[test]
fn barnes_hut_tsne_cancels_promptly_and_explains_bad_input() {
    let (rows, _) = blobs(200, 8, 4, 0.5, 3);
    let mut calls = Vec::new();
    let started = std::time::Instant::now();
    let cancelled = tsne(
        &refs(&rows),
        &TsneConfig {
            iterations: 5000,
            ..TsneConfig::default()
        },
        &mut |iteration, _, _| {
            calls.push(iteration);
            false
        },
    )
    .expect("ok");
    assert!(cancelled.is_none());
    assert_eq!(calls, [25], "stops at the first callback");
    assert!(
        started.elapsed().as_secs_f32() < 2.0,
        "{:?}",
        started.elapsed()
    );

    let check = |cfg: TsneConfig, rows: &[&[f32]], wanted: &str| {
        let err = tsne(rows, &cfg, &mut |_, _, _| true).expect_err(wanted);
        assert!(err.to_string().contains(wanted), "{err}");
    };
    let good = refs(&rows);
    for theta in [-0.1, 1.5, f32::NAN] {
        check(
            TsneConfig {
                theta,
                ..TsneConfig::default()
            },
            &good,
            "theta",
        );
    }
    check(
        TsneConfig {
            learning_rate: 0.0,
            ..TsneConfig::default()
        },
        &good,
        "learning rate",
    );
    let mut ragged = good.clone();
    ragged[7] = &rows[7][..5];
    check(TsneConfig::default(), &ragged, "equally long");
    let broken = [f32::NAN; 8];
    let mut with_nan = good.clone();
    with_nan[3] = &broken;
    check(TsneConfig::default(), &with_nan, "NaN");
    // A step size far too large blows the layout up: the error says what to change.
    check(
        TsneConfig {
            learning_rate: f32::MAX,
            iterations: 200,
            ..TsneConfig::default()
        },
        &good,
        "lower the learning rate",
    );
    // Settings saved before theta existed still load, as Barnes–Hut.
    let old: TsneConfig = serde_json::from_str(
        r#"{"perplexity":12.0,"iterations":300,"learning_rate":150.0,"seed":4}"#,
    )
    .expect("old settings");
    assert_eq!(
        (old.perplexity, old.iterations, old.theta),
        (12.0, 300, 0.5)
    );
}

/// Brute-force reference: all other rows, sorted by (distance, index).
fn brute_force(rows: &[&[f32]], i: usize, metric: Metric) -> Vec<(usize, f32)> {
    let mut all: Vec<(usize, f32)> = (0..rows.len())
        .filter(|&j| j != i)
        .map(|j| (j, metric.distance(rows[i], rows[j])))
        .collect();
    all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    all
}

#[test]
fn knn_agrees_with_brute_force() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    // Far from the origin (the all-points search centres the data) and an odd width.
    let data: Vec<Vec<f32>> = (0..301)
        .map(|_| {
            (0..13)
                .map(|_| 100.0 + rng.random_range(-1.0..1.0))
                .collect()
        })
        .collect();
    let rows = refs(&data);
    let k = 12;
    let all = knn_all(&rows, k);
    assert_eq!(all.len(), rows.len());
    for (i, found) in all.iter().enumerate() {
        let want = brute_force(&rows, i, Metric::Euclidean);
        assert_eq!(found.len(), k);
        for (f, w) in found.iter().zip(&want) {
            // Squared distances; indices agree wherever the distances are not (near-)tied.
            assert!((f.1 - w.1 * w.1).abs() < 1e-3, "row {i}: {f:?} vs {w:?}");
            assert!(f.0 != i);
        }
        assert!(found.windows(2).all(|p| p[0].1 <= p[1].1));
        assert_eq!(found[0].0, want[0].0, "row {i}");
    }
    for metric in [Metric::Euclidean, Metric::Cosine] {
        for i in [0, 17, 300] {
            let want = brute_force(&rows, i, metric);
            let got = nearest(&rows, rows[i], k, metric, Some(i));
            assert_eq!(got, want[..k].to_vec(), "{metric:?} row {i}");
            // Without the exclusion the row itself comes first, at distance 0.
            let with_self = nearest(&rows, rows[i], k, metric, None);
            assert_eq!(with_self[0].0, i);
            assert!(with_self[0].1.abs() < 1e-4);
            assert_eq!(&with_self[1..], &got[..k - 1]);
        }
    }
    // k past the end, k = 0, one row.
    assert_eq!(
        nearest(&rows, rows[0], 1000, Metric::Cosine, Some(0)).len(),
        300
    );
    assert!(nearest(&rows, rows[0], 0, Metric::Euclidean, None).is_empty());
    assert_eq!(knn_all(&rows[..1], 5), vec![Vec::new()]);
    assert_eq!(knn_all(&rows[..3], 5)[0].len(), 2);
}

#[test]
fn cosine_handles_zero_vectors_and_metrics_name_themselves() {
    let zero = [0.0f32; 4];
    let a = [1.0f32, 2.0, 0.0, -1.0];
    let b = [2.0f32, 4.0, 0.0, -2.0];
    let c = [-1.0f32, -2.0, 0.0, 1.0];
    let rows: Vec<&[f32]> = vec![&zero, &a, &b, &c];
    let from_zero = nearest(&rows, &zero, 4, Metric::Cosine, None);
    assert!(
        from_zero.iter().all(|(_, d)| d.is_finite()),
        "{from_zero:?}"
    );
    assert!(from_zero.iter().all(|&(_, d)| d == 1.0), "{from_zero:?}");
    let from_a = nearest(&rows, &a, 4, Metric::Cosine, None);
    let d: Vec<f32> = from_a.iter().map(|&(_, d)| d).collect();
    assert_eq!(
        from_a.iter().map(|&(i, _)| i).collect::<Vec<_>>(),
        [1, 2, 0, 3]
    );
    assert!(d[0].abs() < 1e-6 && d[1].abs() < 1e-6 && d[2] == 1.0 && (d[3] - 2.0).abs() < 1e-6);
    assert_eq!(Metric::default(), Metric::Euclidean);
    assert_eq!(Metric::Euclidean.name(), "euclidean");
    assert_eq!(Metric::Cosine.name(), "cosine");
    assert_eq!(
        serde_json::to_string(&Metric::Cosine).expect("json"),
        r#""cosine""#
    );
    let back: Metric = serde_json::from_str(r#""euclidean""#).expect("json");
    assert_eq!(back, Metric::Euclidean);
    assert!((Metric::Euclidean.distance(&a, &zero) - 6f32.sqrt()).abs() < 1e-6);
}

#[test]
fn pca_spectrum_matches_known_variances() {
    // A balanced design: every sign combination of (±3, ±2, ±1), so the axis variances are
    // exactly in the ratio 9 : 4 : 1 with no covariance; then rotated, which changes nothing.
    let (c, s) = (0.6f32, 0.8f32);
    let mut rows = Vec::new();
    for k in 0..8 {
        let sign = |bit: usize| if k >> bit & 1 == 1 { 1.0 } else { -1.0 };
        let (x, y, z) = (3.0 * sign(0), 2.0 * sign(1), sign(2));
        rows.push(vec![c * x - s * y + 10.0, s * x + c * y - 5.0, z]);
    }
    let pca = Pca::fit(&refs(&rows)).expect("fit");
    let want = [9.0 / 14.0, 4.0 / 14.0, 1.0 / 14.0];
    assert_eq!(pca.spectrum.len(), 3);
    for (got, want) in pca.spectrum.iter().zip(want) {
        assert!((got - want).abs() < 1e-3, "{:?}", pca.spectrum);
    }
    assert_eq!(pca.explained, [pca.spectrum[0], pca.spectrum[1]]);
    // First direction (c, s, 0), second (−s, c, 0), signed so that the largest entry is positive.
    let first = &pca.components[0];
    assert!((first[0] - c).abs() < 1e-4 && (first[1] - s).abs() < 1e-4 && first[2].abs() < 1e-4);
    let second = &pca.components[1];
    assert!(
        (second[0] - s).abs() < 1e-4 && (second[1] + c).abs() < 1e-4,
        "{second:?}"
    );
    assert!((pca.mean[0] - 10.0).abs() < 1e-5 && (pca.mean[1] + 5.0).abs() < 1e-5);
}

#[test]
fn pca_spectrum_is_a_sorted_share_of_the_variance() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(21);
    let noise = Normal::new(0.0f32, 1.0).expect("normal");
    // 40-D with a decaying scale per dimension, mixed by a few shared factors.
    let rows: Vec<Vec<f32>> = (0..2000)
        .map(|_| {
            let f: [f32; 3] = std::array::from_fn(|_| noise.sample(&mut rng));
            (0..40)
                .map(|d| {
                    noise.sample(&mut rng) / (1.0 + d as f32) + f[d % 3] * (d % 5) as f32 * 0.3
                })
                .collect()
        })
        .collect();
    let pca = Pca::fit(&refs(&rows)).expect("fit");
    assert_eq!(pca.spectrum.len(), 10);
    assert!(
        pca.spectrum.windows(2).all(|w| w[0] >= w[1]),
        "{:?}",
        pca.spectrum
    );
    assert!(pca.spectrum.iter().all(|&v| v >= 0.0));
    let total: f32 = pca.spectrum.iter().sum();
    assert!(total <= 1.0 + 1e-5 && total > 0.5, "{total}");
    assert_eq!(pca.explained, [pca.spectrum[0], pca.spectrum[1]]);
    let [a, b] = &pca.components;
    let dot = |u: &[f32], v: &[f32]| u.iter().zip(v).map(|(x, y)| x * y).sum::<f32>();
    assert!((dot(a, a) - 1.0).abs() < 1e-4 && (dot(b, b) - 1.0).abs() < 1e-4);
    assert!(dot(a, b).abs() < 1e-4);
    // Deterministic on any number of threads, and the variance along a component is its share
    // of the total.
    assert_eq!(one_thread(|| Pca::fit(&refs(&rows))).expect("fit"), pca);
    let projected: Vec<[f32; 2]> = rows.iter().map(|r| pca.project(r)).collect();
    let var = |k: usize| {
        projected
            .iter()
            .map(|p| f64::from(p[k]).powi(2))
            .sum::<f64>()
            / 1999.0
    };
    let total_var: f64 = (0..40)
        .map(|d| {
            let m = rows.iter().map(|r| f64::from(r[d])).sum::<f64>() / 2000.0;
            rows.iter()
                .map(|r| (f64::from(r[d]) - m).powi(2))
                .sum::<f64>()
                / 1999.0
        })
        .sum();
    for k in 0..2 {
        let share = var(k) / total_var;
        assert!(
            (share - f64::from(pca.spectrum[k])).abs() < 1e-3,
            "{k}: {share}"
        );
    }
    // Bad input.
    assert!(Pca::fit(&[]).is_none());
    assert!(Pca::fit(&[&[1.0, f32::NAN][..], &[0.0, 1.0][..]]).is_none());
    assert!(Pca::fit(&[&[1.0, 2.0][..], &[0.0][..]]).is_none());
    // One dimension: one component, all the variance.
    let line = Pca::fit(&[&[1.0][..], &[3.0][..], &[2.0][..]]).expect("fit");
    assert_eq!(line.spectrum, [1.0]);
    assert_eq!(line.components, [vec![1.0], vec![0.0]]);
    assert_eq!(line.explained, [1.0, 0.0]);
}

#[test]
fn colour_maps_and_envelopes_behave() {
    assert_eq!(fusionlab::viz::viridis(0.0), [68, 1, 84]);
    assert_eq!(fusionlab::viz::viridis(1.0), [253, 231, 37]);
    assert_eq!(fusionlab::viz::viridis(f32::NAN), [68, 1, 84]);
    let (w, h, px) =
        fusionlab::viz::spectrogram_rgb(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], 2).expect("image");
    assert_eq!((w, h, px.len()), (3, 2, 18));
    // Top row is the highest bin (values 3..5), so its last pixel is the brightest.
    assert_eq!(&px[6..9], &[253, 231, 37]);
    assert!(fusionlab::viz::spectrogram_rgb(&[1.0; 5], 2).is_none());
    let env = fusionlab::viz::envelope(&[0.0, 1.0, -1.0, 0.5], 2);
    assert_eq!(env, vec![[0.0, 1.0], [-1.0, 0.5]]);
}
