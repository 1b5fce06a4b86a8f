//! Analysis jobs: comparing fusion methods, robustness curves and modality contributions.

use std::sync::Arc;

use super::JobCtx;
use super::error::{JobError, OrCancelled as _};
use super::protocol::{Outcome, Update};
use super::run::{State, on_split, prepare, train};
use crate::data::{DatasetSpec, LoadOptions, Sample, Split};
use crate::engine::contribution::contributions as contribution_rows;
use crate::engine::extract::{ExtractOptions, Extractor};
use crate::engine::robustness::{
    Corrupter, RobustnessConfig, RobustnessReport, fill_effective, robustness as measure,
};
use crate::engine::{Batcher, TrainConfig, check_compatible};
use crate::model::FusionKind;
use crate::model::checkpoint::LoadedModel;

/// Train each method in turn; one failing does not stop the others, a stop ends the comparison
/// with what was trained so far (the best of those becomes current).
pub(super) fn compare(
    state: &mut State,
    spec: &DatasetSpec,
    load: &LoadOptions,
    config: &TrainConfig,
    fusions: &[FusionKind],
    ctx: &JobCtx<'_>,
) -> Result<Outcome, JobError> {
    if fusions.is_empty() {
        return Err(JobError::NoMethods);
    }
    state.compared.clear();
    let mut best: Option<(f32, Arc<LoadedModel>)> = None;
    let mut trained = Vec::new();
    for (index, &fusion) in fusions.iter().enumerate() {
        if ctx.cancelled() {
            break;
        }
        ctx.update(Update::CompareStep {
            index,
            total: fusions.len(),
            fusion,
        });
        let config = TrainConfig {
            fusion,
            ..config.clone()
        };
        match train(state, spec, load, &config, ctx) {
            Ok(summary) => {
                let stopped = matches!(summary.stop, crate::engine::StopReason::Cancelled);
                ctx.update(Update::MethodTrained(Box::new(summary.clone())));
                if stopped {
                    break;
                }
                let accuracy = summary.val.as_ref().map_or(0.0, |e| e.metrics.accuracy);
                if let Some(model) = state.model.clone() {
                    if best.as_ref().is_none_or(|(a, _)| accuracy > *a) {
                        best = Some((accuracy, model.clone()));
                    }
                    state.compared.push(model);
                    trained.push(fusion);
                }
            }
            Err(JobError::Cancelled) => break,
            // One method failing (e.g. it diverged) does not stop the others.
            Err(e) => ctx.update(Update::MethodFailed {
                fusion,
                message: e.to_string(),
            }),
        }
    }
    let card = best.map(|(_, model)| {
        let card = Box::new(model.card.clone());
        state.set_model_arc(model, ctx);
        card
    });
    Ok(Outcome::Compared {
        trained,
        best: card.as_ref().map(|c| c.model.fusion),
        card,
    })
}

pub(super) fn robustness(
    state: &mut State,
    spec: &DatasetSpec,
    load: &LoadOptions,
    config: &RobustnessConfig,
    compared: bool,
    ctx: &JobCtx<'_>,
) -> Result<Outcome, JobError> {
    config.validate()?;
    let (split, indices) = prepare(state, spec, load, None, ctx)?;
    let models: Vec<Arc<LoadedModel>> = if compared && !state.compared.is_empty() {
        state.compared.clone()
    } else {
        state.model.iter().cloned().collect()
    };
    let Some((_, _, data)) = &state.dataset else {
        return Err(JobError::Internal("the dataset vanished"));
    };
    let samples: Vec<&Sample> = indices.iter().map(|&i| &data.samples[i]).collect();
    let corrupter = Corrupter::new(&data.features, &data.vocab, config.seed);
    // Backbone modalities are damaged in their original inputs and run through the backbone again.
    let mut extractor = Extractor::new(ExtractOptions::default(), state.device.clone());
    let mut reports = Vec::with_capacity(models.len());
    for (k, model) in models.iter().enumerate() {
        check_compatible(&model.card, data)?;
        let fusion = model.card.model.fusion;
        let name = if model.card.name.is_empty() {
            fusion.name().to_owned()
        } else {
            model.card.name.clone()
        };
        let batcher = Batcher {
            config: model.model.config(),
            vocab: &model.card.vocab,
            device: &state.device,
        };
        let what = if models.len() > 1 {
            format!("robustness of {name} ({} of {})", k + 1, models.len())
        } else {
            format!("robustness of {name}")
        };
        let mut progress = |done: usize, total: usize| {
            ctx.update(Update::Loading {
                what: what.clone(),
                done,
                total,
            });
            !ctx.cancelled()
        };
        let (clean_accuracy, curves) = measure(
            &model.model,
            &batcher,
            &corrupter,
            &mut extractor,
            &samples,
            config,
            &mut progress,
        )
        .or_cancelled()?;
        reports.push(RobustnessReport {
            model: name,
            fusion,
            samples: samples.len(),
            clean_accuracy,
            curves,
        });
        super::release_freed_memory();
    }
    fill_effective(&mut reports);
    Ok(Outcome::Robustness {
        dataset: data.name.clone(),
        split,
        reports,
    })
}

pub(super) fn contributions(
    state: &mut State,
    spec: &DatasetSpec,
    load: &LoadOptions,
    split: Option<Split>,
    ctx: &JobCtx<'_>,
) -> Result<Outcome, JobError> {
    on_split(state, spec, load, split, ctx, |job| {
        let rows = contribution_rows(
            &job.model.model,
            &job.batcher,
            &job.samples,
            job.data.classes.len(),
            job.cancelled,
        )
        .or_cancelled()?;
        Ok(Outcome::Contributions {
            dataset: job.data.name.clone(),
            split: job.split,
            fusion: job.model.card.model.fusion,
            rows,
        })
    })
}
