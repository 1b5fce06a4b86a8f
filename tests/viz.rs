//! Projections and colour maps: PCA and t-SNE on data whose answer is known.

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
    assert!(err.contains("too large"), "{err}");
    let err = tsne(&refs[..3], &TsneConfig::default(), &mut |_, _, _| true).expect_err("3 points");
    assert!(err.contains("at least 5"), "{err}");
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
