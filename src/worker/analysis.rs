//! Analysis jobs: comparing fusion methods, robustness curves and modality contributions.

use std::sync::Arc;

use super::protocol::Event;
use super::run::{State, on_split, prepare, train};
use super::{CancelToken, EventSender};
use crate::data::{DatasetSpec, LoadOptions, Sample, Split};
use crate::engine::contribution::contributions as contribution_rows;
use crate::engine::robustness::{
    Corrupter, RobustnessConfig, RobustnessReport, fill_effective, robustness as measure,
};
use crate::engine::{Batcher, TrainConfig, check_compatible};
use crate::model::FusionKind;
use crate::model::checkpoint::LoadedModel;

pub(super) fn compare(
    state: &mut State,
    spec: &DatasetSpec,
    load: &LoadOptions,
    config: &TrainConfig,
    fusions: &[FusionKind],
    events: &EventSender,
    cancel: &CancelToken,
) -> Result<(), String> {
    if fusions.is_empty() {
        return Err("choose at least one fusion method to compare".into());
    }
    state.compared.clear();
    let mut best: Option<(f32, Arc<LoadedModel>)> = None;
    let mut trained = Vec::new();
    for (index, &fusion) in fusions.iter().enumerate() {
        if cancel.is_cancelled() {
            break;
        }
        events.send(Event::CompareStep {
            index,
            total: fusions.len(),
            fusion,
        });
        let config = TrainConfig {
            fusion,
            ..config.clone()
        };
        match train(state, spec, load, &config, events, cancel) {
            Ok(Some(summary)) if !matches!(summary.stop, crate::engine::StopReason::Cancelled) => {
                let accuracy = summary.val.as_ref().map_or(0.0, |e| e.metrics.accuracy);
                if let Some(model) = state.model.clone() {
                    if best.as_ref().is_none_or(|(a, _)| accuracy > *a) {
                        best = Some((accuracy, model.clone()));
                    }
                    state.compared.push(model);
                    trained.push(fusion);
                }
            }
            Ok(_) => break,
            // One method failing (e.g. it diverged) does not stop the others.
            Err(message) => events.send(Event::Failed {
                context: format!("Comparing: training {fusion}"),
                message,
            }),
        }
    }
    let card = best.map(|(_, model)| {
        let card = Box::new(model.card.clone());
        state.set_model_arc(model);
        card
    });
    events.send(Event::Compared {
        trained,
        best: card.as_ref().map(|c| c.model.fusion),
        card,
    });
    Ok(())
}

pub(super) fn robustness(
    state: &mut State,
    request_id: u64,
    spec: &DatasetSpec,
    load: &LoadOptions,
    config: &RobustnessConfig,
    compared: bool,
    (events, cancel): (&EventSender, &CancelToken),
) -> Result<(), String> {
    config.validate().map_err(|e| e.to_string())?;
    let Some((split, indices)) = prepare(state, spec, load, None, events, cancel)? else {
        return Ok(());
    };
    let models: Vec<Arc<LoadedModel>> = if compared && !state.compared.is_empty() {
        state.compared.clone()
    } else {
        state.model.iter().cloned().collect()
    };
    let Some((_, _, data)) = &state.dataset else {
        return Err("internal: the dataset vanished".into());
    };
    let samples: Vec<&Sample> = indices.iter().map(|&i| &data.samples[i]).collect();
    let corrupter = Corrupter::new(&data.features, &data.vocab, config.seed);
    let mut reports = Vec::with_capacity(models.len());
    for (k, model) in models.iter().enumerate() {
        check_compatible(&model.card, data).map_err(|e| e.to_string())?;
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
            events.send(Event::Loading {
                what: what.clone(),
                done,
                total,
            });
            !cancel.is_cancelled()
        };
        let outcome = measure(
            &model.model,
            &batcher,
            &corrupter,
            &samples,
            data.classes.len(),
            config,
            &mut progress,
        )
        .map_err(|e| e.to_string())?;
        let Some((clean_accuracy, curves)) = outcome else {
            events.send(Event::Cancelled {
                what: "the robustness run".into(),
            });
            return Ok(());
        };
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
    events.send(Event::Robustness {
        request_id,
        dataset: data.name.clone(),
        split,
        reports,
    });
    Ok(())
}

pub(super) fn contributions(
    state: &mut State,
    request_id: u64,
    spec: &DatasetSpec,
    load: &LoadOptions,
    split: Option<Split>,
    io: (&EventSender, &CancelToken),
) -> Result<(), String> {
    on_split(
        state,
        spec,
        load,
        split,
        io,
        "explaining the dataset",
        |job| {
            Ok(contribution_rows(
                &job.model.model,
                &job.batcher,
                &job.samples,
                job.data.classes.len(),
                job.cancelled,
            )?
            .map(|rows| Event::Contributions {
                request_id,
                dataset: job.data.name.clone(),
                split: job.split,
                fusion: job.model.card.model.fusion,
                rows,
            }))
        },
    )
}
