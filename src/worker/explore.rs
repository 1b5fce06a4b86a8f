//! Exploring a dataset with the current model: per-sample results for the browser, PCA of each
//! embedding space, and t-SNE on request.

use super::JobCtx;
use super::error::{JobError, OrCancelled as _};
use super::input::chw_to_rgb;
use super::protocol::{
    Exploration, ExploredSample, Outcome, SampleOutcome, SpaceProjection, Update,
};
use super::run::{State, dataset};
use crate::data::{DatasetSpec, LoadOptions, Sample};
use crate::engine::{self, Batcher, check_compatible};
use crate::export::EmbeddingRow;
use crate::viz::knn::{Metric, nearest};
use crate::viz::pca::Pca;
use crate::viz::tsne::{TsneConfig, tsne as run_tsne};

/// Per sample, its embedding in each space (image, text, audio, fused); `None` where absent.
pub(super) type Embeddings = Vec<[Option<Vec<f32>>; 4]>;

/// Most points t-SNE runs on (Barnes–Hut: 10 000 points × 1000 iterations take ~3.4 s on two
/// cores); larger sets are thinned evenly.
pub const TSNE_MAX_POINTS: usize = 10_000;

/// Samples evaluated between progress reports.
const CHUNK: usize = 256;

fn thumb(sample: &Sample, options: &LoadOptions) -> Option<Vec<u8>> {
    let cfg = &options.features.image;
    let size = cfg.size as usize;
    let plane = size * size;
    sample.image.as_ref().map(|chw| {
        let raw: Vec<f32> = chw
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let c = (i / plane.max(1)).min(2);
                v * cfg.std[c] + cfg.mean[c]
            })
            .collect();
        chw_to_rgb(&raw, size)
    })
}

pub(super) fn explore(
    state: &mut State,
    spec: &DatasetSpec,
    load: &LoadOptions,
    ctx: &JobCtx<'_>,
) -> Result<Outcome, JobError> {
    let mut load = load.clone();
    let mut backbones = crate::model::Backbones::default();
    if let Some(model) = &state.model {
        load.features = model.card.features.clone();
        backbones = model.model.config().backbones;
    }
    dataset(state, spec, &load, &backbones, ctx)?;
    super::release_freed_memory();
    let Some((_, _, data)) = &state.dataset else {
        return Err(JobError::Internal("the dataset vanished"));
    };
    let mut samples: Vec<ExploredSample> = data
        .samples
        .iter()
        .map(|s| ExploredSample {
            id: s.id.clone(),
            split: s.split,
            label: s.label,
            present: s.presence().0,
            text: s.text.as_ref().map(|t| t.raw.clone()),
            thumb: thumb(s, &load),
            origin: s.origin.clone(),
            outcome: None,
        })
        .collect();
    let mut exploration = Exploration {
        dataset: data.name.clone(),
        classes: data.classes.clone(),
        thumb_size: load.features.image.size as usize,
        weight_kind: None,
        samples: Vec::new(),
        projections: Vec::new(),
        note: None,
    };
    let compatible = match &state.model {
        None => Err("no model yet: train one or load one to see predictions".to_owned()),
        Some(model) => check_compatible(&model.card, data).map_err(|e| e.to_string()),
    };
    let mut embeddings: Embeddings = Vec::new();
    match (compatible, state.model.as_deref()) {
        (Ok(()), Some(model)) => {
            let batcher = Batcher {
                config: model.model.config(),
                vocab: &model.card.vocab,
                device: &state.device,
            };
            let all: Vec<&Sample> = data.samples.iter().collect();
            let what = format!("running the model over {}", data.name);
            for (c, chunk) in all.chunks(CHUNK).enumerate() {
                ctx.update(Update::Loading {
                    what: what.clone(),
                    done: c * CHUNK,
                    total: all.len(),
                });
                let cancelled = || ctx.cancelled();
                let eval = engine::evaluate(
                    &model.model,
                    &batcher,
                    chunk,
                    data.classes.len(),
                    true,
                    &cancelled,
                )
                .or_cancelled()?;
                exploration.weight_kind = Some(eval.weight_kind);
                for r in eval.samples {
                    let i = embeddings.len();
                    let confidence = r.probs.get(r.predicted).copied().unwrap_or(0.0);
                    samples[i].outcome = Some(SampleOutcome {
                        predicted: r.predicted,
                        confidence,
                        probs: r.probs,
                        weights: r.weights,
                    });
                    let [a, b, c] = r.embeddings;
                    let keep = |m: usize, v: Vec<f32>| r.present[m].then_some(v);
                    embeddings.push([keep(0, a), keep(1, b), keep(2, c), Some(r.fused)]);
                }
                super::release_freed_memory();
            }
            exploration.projections = (0..4).map(|space| project(&embeddings, space)).collect();
        }
        (Err(note), _) => exploration.note = Some(note),
        (Ok(()), None) => exploration.note = Some("no model".into()),
    }
    exploration.samples = samples;
    state.explored = Some(embeddings);
    Ok(Outcome::Explored(Box::new(exploration)))
}

fn project(embeddings: &Embeddings, space: usize) -> SpaceProjection {
    let rows: Vec<(usize, &[f32])> = embeddings
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e[space].as_deref().map(|v| (i, v)))
        .collect();
    let vectors: Vec<&[f32]> = rows.iter().map(|(_, v)| *v).collect();
    let Some(pca) = Pca::fit(&vectors) else {
        return SpaceProjection::default();
    };
    let points = rows.iter().map(|&(i, v)| (i, pca.project(v))).collect();
    SpaceProjection {
        pca: Some(pca),
        points,
    }
}

pub(super) fn tsne(
    state: &State,
    space: usize,
    config: &TsneConfig,
    ctx: &JobCtx<'_>,
) -> Result<Outcome, JobError> {
    let embeddings = state
        .explored
        .as_ref()
        .filter(|e| !e.is_empty())
        .ok_or(JobError::NotExplored)?;
    let available: Vec<usize> = embeddings
        .iter()
        .enumerate()
        .filter(|(_, e)| e.get(space).is_some_and(Option::is_some))
        .map(|(i, _)| i)
        .collect();
    let n = available.len().min(TSNE_MAX_POINTS);
    let samples: Vec<usize> = (0..n)
        .map(|k| available[k * available.len() / n.max(1)])
        .collect();
    let rows: Vec<&[f32]> = samples
        .iter()
        .filter_map(|&i| embeddings[i][space].as_deref())
        .collect();
    let total = config.iterations;
    let step = |iteration: usize, points: &[[f32; 2]], kl: f32| {
        ctx.update(Update::TsneProgress {
            iteration,
            total,
            kl,
            points: points.to_vec(),
            samples: samples.clone(),
        });
        !ctx.cancelled()
    };
    let mut last_kl = f32::NAN;
    let mut tracking = |i: usize, p: &[[f32; 2]], kl: f32| {
        last_kl = kl;
        step(i, p, kl)
    };
    let points = run_tsne(&rows, config, &mut tracking).or_cancelled()?;
    Ok(Outcome::Tsne {
        space,
        points,
        samples,
        kl: last_kl,
    })
}

/// Write the TensorBoard pair and the coordinates of one space of the last exploration.
pub(super) fn export(
    state: &State,
    space: usize,
    dir: &std::path::Path,
    points: &[(usize, [f32; 2], String)],
) -> Result<(), JobError> {
    let (Some(embeddings), Some((_, _, data))) = (&state.explored, &state.dataset) else {
        return Err(JobError::NotExplored);
    };
    let rows: Vec<EmbeddingRow<'_>> = points
        .iter()
        .filter_map(|(i, xy, predicted)| {
            let sample = data.samples.get(*i)?;
            Some(EmbeddingRow {
                id: &sample.id,
                label: data.classes.get(sample.label).map_or("", String::as_str),
                predicted,
                split: sample.split.name(),
                vector: embeddings.get(*i)?.get(space)?.as_deref()?,
                xy: *xy,
            })
        })
        .collect();
    crate::export::tensorboard(dir, &rows)?;
    crate::export::coordinates_csv(&dir.join("coordinates.csv"), &rows)?;
    Ok(())
}

/// The `k` samples nearest to `sample` in `space` (itself left out), nearest first.
pub(super) fn neighbours(
    state: &State,
    space: usize,
    sample: usize,
    k: usize,
    metric: Metric,
) -> Result<Vec<(usize, f32)>, JobError> {
    let embeddings = state.explored.as_ref().ok_or(JobError::NotExplored)?;
    let rows: Vec<(usize, &[f32])> = embeddings
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.get(space)?.as_deref().map(|v| (i, v)))
        .collect();
    let Some(at) = rows.iter().position(|(i, _)| *i == sample) else {
        return Err(JobError::NoEmbedding {
            sample,
            space: super::SPACES.get(space).copied().unwrap_or("such"),
        });
    };
    let vectors: Vec<&[f32]> = rows.iter().map(|(_, v)| *v).collect();
    Ok(nearest(&vectors, vectors[at], k, metric, Some(at))
        .into_iter()
        .map(|(j, d)| (rows[j].0, d))
        .collect())
}
