//! Text output of the model commands: epoch lines, metric tables, confusion matrices,
//! predictions and the method comparison.

use std::fmt::Write as _;

use crate::data::Modality;
use crate::engine::{EpochReport, Evaluation, Metrics, Prediction, StopReason};
use crate::model::FusionKind;
use crate::worker::TrainingSummary;

/// One line per epoch, e.g. `epoch  3/15  train loss 0.512 acc 0.830 | val loss 0.401 …`.
pub fn epoch_line(r: &EpochReport) -> String {
    let w = r.val.mean_weights;
    format!(
        "epoch {:>2}/{}  train loss {:.3} acc {:.3} | val loss {:.3} acc {:.3} F1 {:.3} | weights image {:.2} text {:.2} audio {:.2} | {:.1}s{}",
        r.epoch,
        r.epochs,
        r.train_loss,
        r.train_accuracy,
        r.val.loss,
        r.val.accuracy,
        r.val.macro_f1,
        w[0],
        w[1],
        w[2],
        r.seconds,
        if r.best { "  *" } else { "" }
    )
}

pub(super) fn stop_text(stop: &StopReason) -> String {
    match stop {
        StopReason::Completed => "all epochs ran".into(),
        StopReason::EarlyStopped => "stopped early: validation loss stopped improving".into(),
        StopReason::Cancelled => "cancelled".into(),
        StopReason::NonFinite { epoch, step, what } => {
            format!("{what} at epoch {epoch}, step {step}")
        }
    }
}

pub(super) fn pct(v: Option<f32>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.3}"))
}

pub(super) fn metrics_line(m: &Metrics, kind: &str) -> String {
    format!(
        "acc {:.3}  macro-F1 {:.3}  loss {:.3} | only image {} text {} audio {} | weights ({kind}) image {:.2} text {:.2} audio {:.2}",
        m.accuracy,
        m.macro_f1,
        m.loss,
        pct(m.modality_only[0]),
        pct(m.modality_only[1]),
        pct(m.modality_only[2]),
        m.mean_weights[0],
        m.mean_weights[1],
        m.mean_weights[2]
    )
}

/// Metrics, per-class table and confusion matrix as text.
pub fn render_evaluation(e: &Evaluation, classes: &[String]) -> String {
    let m = &e.metrics;
    let mut out = String::new();
    let _ = writeln!(out, "samples   {}", m.samples);
    let _ = writeln!(out, "{}", metrics_line(m, e.weight_kind.name()));
    let width = super::name_width(classes);
    let _ = writeln!(
        out,
        "\n{:<width$}  precision  recall     F1  support",
        "class"
    );
    for (c, name) in classes.iter().enumerate() {
        if let Some(cm) = m.per_class.get(c) {
            let _ = writeln!(
                out,
                "{name:<width$}  {:>9.3}  {:>6.3}  {:>5.3}  {:>7}",
                cm.precision, cm.recall, cm.f1, cm.support
            );
        }
    }
    let _ = writeln!(out, "\nconfusion (rows: true class, columns: predicted)");
    let cell = m
        .confusion
        .iter()
        .flatten()
        .map(|v| v.to_string().len())
        .max()
        .unwrap_or(1)
        .max(3);
    let _ = write!(out, "{:<width$} ", "");
    for name in classes {
        let _ = write!(out, " {:>cell$}", short(name, cell));
    }
    let _ = writeln!(out);
    for (c, row) in m.confusion.iter().enumerate() {
        let _ = write!(
            out,
            "{:<width$} ",
            classes.get(c).map_or("?", String::as_str)
        );
        for v in row {
            let _ = write!(out, " {v:>cell$}");
        }
        let _ = writeln!(out);
    }
    out
}

fn short(name: &str, n: usize) -> String {
    name.chars().take(n).collect()
}

/// A prediction as text: probabilities, modality weights, top words and frames.
pub fn render_prediction(p: &Prediction) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "prediction  {} ({:.1}%)",
        p.classes.get(p.predicted).map_or("?", String::as_str),
        100.0 * p.probs.get(p.predicted).copied().unwrap_or(0.0)
    );
    let mut order: Vec<usize> = (0..p.probs.len()).collect();
    order.sort_by(|&a, &b| p.probs[b].total_cmp(&p.probs[a]));
    let _ = writeln!(out, "\nclass probabilities");
    for &c in order.iter().take(10) {
        let bar = "█".repeat((p.probs[c] * 30.0).round() as usize);
        let _ = writeln!(
            out,
            "  {:<12} {:>6.1}%  {bar}",
            p.classes[c],
            100.0 * p.probs[c]
        );
    }
    let _ = writeln!(out, "\nmodality weights ({})", p.weight_kind.name());
    for m in Modality::ALL {
        let i = m.index();
        let w = if p.present[i] {
            format!(
                "{:>6.1}%  {}",
                100.0 * p.weights[i],
                "█".repeat((p.weights[i] * 30.0).round() as usize)
            )
        } else {
            "   not given".to_owned()
        };
        let _ = writeln!(out, "  {:<6} {w}", m.name());
    }
    if p.present[1] && !p.words.is_empty() {
        let mut words: Vec<(usize, f32)> = p.attention[1].iter().copied().enumerate().collect();
        words.sort_by(|a, b| b.1.total_cmp(&a.1));
        let top: Vec<String> = words
            .iter()
            .take(5)
            .filter_map(|&(i, w)| p.words.get(i).map(|word| format!("{word} ({w:.2})")))
            .collect();
        let _ = writeln!(out, "\ntop words   {}", top.join(", "));
    }
    if p.present[2] {
        let mut frames: Vec<(usize, f32)> = p.attention[2].iter().copied().enumerate().collect();
        frames.sort_by(|a, b| b.1.total_cmp(&a.1));
        let top: Vec<String> = frames
            .iter()
            .take(5)
            .map(|&(i, w)| {
                let (start, end) = p.frame_span_ms(i);
                format!("{start:.0}–{end:.0} ms ({w:.2})")
            })
            .collect();
        let _ = writeln!(out, "top frames  {}", top.join(", "));
    }
    if p.present[0] {
        let g = p.image_grid.max(1);
        if let Some((i, w)) = p.attention[0]
            .iter()
            .copied()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
        {
            let _ = writeln!(
                out,
                "image focus row {} column {} of {g}×{g} ({w:.2})",
                i / g + 1,
                i % g + 1
            );
        }
    }
    out
}

pub(super) fn render_comparison(dataset: &str, rows: &[(FusionKind, TrainingSummary)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "dataset {dataset}");
    let _ = writeln!(
        out,
        "{:<11} {:>7} {:>8} {:>8} | {:>6} {:>6} {:>6} | {:<8} {:>5} {:>5} {:>5} | {:>6} {:>6}",
        "fusion",
        "val acc",
        "test acc",
        "test F1",
        "img",
        "txt",
        "aud",
        "weights",
        "img",
        "txt",
        "aud",
        "epochs",
        "secs"
    );
    for (fusion, s) in rows {
        let (val, test) = (
            s.val.as_ref().map(|e| &e.metrics),
            s.test.as_ref().map(|e| &e.metrics),
        );
        let shown = test.or(val);
        let only = shown.map_or([None; 3], |m| m.modality_only);
        let w = shown.map_or([0.0; 3], |m| m.mean_weights);
        let _ = writeln!(
            out,
            "{:<11} {:>7} {:>8} {:>8} | {:>6} {:>6} {:>6} | {:<8} {:>5.2} {:>5.2} {:>5.2} | {:>6} {:>6.1}",
            fusion.name(),
            pct(val.map(|m| m.accuracy)),
            pct(test.map(|m| m.accuracy)),
            pct(test.map(|m| m.macro_f1)),
            pct(only[0]),
            pct(only[1]),
            pct(only[2]),
            fusion.weight_kind().name(),
            w[0],
            w[1],
            w[2],
            s.history.len(),
            s.seconds
        );
    }
    let _ = writeln!(
        out,
        "img/txt/aud under the accuracy columns: accuracy with only that modality given (test split when there is one)."
    );
    out
}
