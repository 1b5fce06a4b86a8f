//! Which curves the training panel plots, and the series each one draws.

use crate::data::Modality;
use crate::engine::EpochReport;

/// Which curves to plot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Curve {
    /// Train and validation loss.
    #[default]
    Loss,
    /// Train and validation accuracy (each line says which).
    Accuracy,
    /// Validation macro-F1.
    MacroF1,
    /// Validation accuracy with one modality only.
    SingleModality,
    /// Mean modality weights on validation.
    Weights,
}

impl Curve {
    /// Every curve, in the order of the buttons.
    pub(super) const ALL: [Self; 5] = [
        Self::Loss,
        Self::Accuracy,
        Self::MacroF1,
        Self::SingleModality,
        Self::Weights,
    ];
    /// The button's text (the Learn panel's texts name the buttons so).
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Loss => "Loss",
            Self::Accuracy => "Accuracy",
            Self::MacroF1 => "Macro-F1",
            Self::SingleModality => "One-modality accuracy",
            Self::Weights => "Modality weights",
        }
    }

    /// The button's hover text: what is plotted, on which split.
    pub(super) fn help(self) -> &'static str {
        match self {
            Self::Loss => "Training-split loss (dashed) and val-split loss (solid) per epoch.",
            Self::Accuracy => {
                "Training-split accuracy (dashed) and val-split accuracy (solid) per epoch."
            }
            Self::MacroF1 => "Val-split macro-F1 per epoch: the mean of the per-class F1 scores.",
            Self::SingleModality => {
                "Val-split accuracy with one modality given and the other two masked, per epoch."
            }
            Self::Weights => "Mean modality weights over the val split, per epoch.",
        }
    }
}

/// Reads one number of an epoch report (`None` where it does not apply).
type EpochValue = Box<dyn Fn(&EpochReport) -> Option<f64>>;

/// One line of a curve: its name, which epoch value it plots, and how it is styled.
pub(super) struct Series {
    pub(super) name: String,
    pub(super) value: EpochValue,
    /// Coloured by this modality (otherwise by run).
    pub(super) modality: Option<usize>,
    /// Training-set values (drawn dashed).
    pub(super) train: bool,
}

impl Curve {
    /// The lines this curve draws for one run.
    pub(super) fn series(self) -> Vec<Series> {
        let run = |name: &str, train: bool, value: fn(&EpochReport) -> f32| Series {
            name: name.to_owned(),
            value: Box::new(move |e| Some(f64::from(value(e)))),
            modality: None,
            train,
        };
        let per_modality = |suffix: &'static str, value: fn(&EpochReport, usize) -> Option<f32>| {
            Modality::ALL
                .iter()
                .map(|m| {
                    let k = m.index();
                    Series {
                        name: format!("{}{suffix}", m.name()),
                        value: Box::new(move |e| value(e, k).map(f64::from)),
                        modality: Some(k),
                        train: false,
                    }
                })
                .collect()
        };
        match self {
            Self::Loss => vec![
                run("train loss", true, |e| e.train_loss),
                run("val loss", false, |e| e.val.loss),
            ],
            Self::Accuracy => vec![
                run("train acc", true, |e| e.train_accuracy),
                run("val acc", false, |e| e.val.accuracy),
            ],
            Self::MacroF1 => vec![run("val macro-F1", false, |e| e.val.macro_f1)],
            Self::SingleModality => per_modality(" only val acc", |e, k| e.val.modality_only[k]),
            Self::Weights => per_modality(" weight (val)", |e, k| Some(e.val.mean_weights[k])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Curve;

    #[test]
    fn every_line_says_which_split_it_is_measured_on() {
        for curve in Curve::ALL {
            for series in curve.series() {
                let split = if series.train { "train" } else { "val" };
                assert!(
                    series.name.contains(split),
                    "{:?}: '{}' does not say '{split}'",
                    curve,
                    series.name
                );
            }
        }
    }
}
