//! The Learn panel's diagrams: the three inputs, their encoders, and where each fusion method
//! joins them, drawn with the egui painter (circled operators included, which the fonts lack).
//! This file lays out the parts every diagram shares; `pen` holds the drawing primitives and
//! `methods` each method's joining step.

mod methods;
mod pen;

use egui::{Align2, Color32, Pos2, Rect, Sense, Stroke, pos2, vec2};

use crate::app::widgets::MODALITY_COLOURS;
use crate::model::FusionKind;
use pen::Pen;

/// Colours of the modalities (image, text, audio), as in the rest of the app.
const MODALITY: [Color32; 3] = [
    MODALITY_COLOURS[0],
    MODALITY_COLOURS[1],
    MODALITY_COLOURS[2],
];
const INPUTS: [&str; 3] = ["image", "text", "audio"];
const ENCODERS: [&str; 3] = ["CNN", "GRU", "CNN"];
const SUFFIX: [&str; 3] = ["I", "T", "A"];
const HEIGHT: f32 = 170.0;

/// Where the shared parts of a diagram sit.
struct Layout {
    /// Centre heights of the image, text and audio rows.
    rows: [f32; 3],
    /// Where the encoders' outputs leave (x).
    z_start: f32,
    /// The region in which the method joins the modalities (x range).
    join: (f32, f32),
    /// The classes box.
    classes: Rect,
}

impl Layout {
    /// x at fraction `f` of the join region.
    fn x(&self, f: f32) -> f32 {
        self.join.0 + f * (self.join.1 - self.join.0)
    }

    /// The middle row's height.
    fn mid(&self) -> f32 {
        self.rows[1]
    }

    /// A box from fraction `from` to `to` of the join region, at most `max` wide (centred),
    /// `height` high and centred on `y`.
    fn span(&self, from: f32, to: f32, max: f32, y: f32, height: f32) -> Rect {
        let (a, b) = (self.x(from), self.x(to));
        let centre = (a + b) / 2.0;
        let half = ((b - a) / 2.0).min(max / 2.0);
        Rect::from_min_max(
            pos2(centre - half, y - height / 2.0),
            pos2(centre + half, y + height / 2.0),
        )
    }

    /// Where an arrow into the classes box ends.
    fn classes_in(&self) -> Pos2 {
        pos2(self.classes.left(), self.classes.center().y)
    }
}

/// A schematic of the method: inputs, encoders, the joining step and the classifier.
pub(super) fn diagram(ui: &mut egui::Ui, fusion: FusionKind) {
    let width = ui.available_width().max(600.0);
    let (response, painter) = ui.allocate_painter(vec2(width, HEIGHT), Sense::hover());
    // Very wide panels: keep the drawing compact instead of stretching every arrow.
    let r = Rect::from_min_size(response.rect.min, vec2(width.min(1150.0), HEIGHT));
    let visuals = ui.visuals();
    let pen = Pen {
        painter: &painter,
        text: visuals.text_color(),
        line: Stroke::new(1.5, visuals.text_color().gamma_multiply(0.8)),
        fill: visuals.extreme_bg_color,
    };
    let rows = [r.top() + 28.0, r.top() + 85.0, r.top() + 142.0];
    let classes = Rect::from_center_size(pos2(r.right() - 40.0, rows[1]), vec2(70.0, 64.0));
    let layout = Layout {
        rows,
        z_start: r.left() + 140.0,
        join: (r.left() + 165.0, classes.left() - 22.0),
        classes,
    };

    // Inputs and encoders.
    for m in 0..3 {
        let y = rows[m];
        let input = Rect::from_min_max(
            pos2(r.left() + 2.0, y - 14.0),
            pos2(r.left() + 64.0, y + 14.0),
        );
        pen.boxed(input, INPUTS[m], Some(MODALITY[m]));
        let encoder = Rect::from_min_max(
            pos2(r.left() + 86.0, y - 14.0),
            pos2(r.left() + 140.0, y + 14.0),
        );
        pen.arrow(pos2(input.right(), y), pos2(encoder.left(), y), None);
        pen.boxed(encoder, ENCODERS[m], None);
        if fusion != FusionKind::CrossModal {
            pen.label(
                pos2(layout.z_start + 5.0, y - 3.0),
                Align2::LEFT_BOTTOM,
                &format!("z_{}", SUFFIX[m]),
                12.0,
                pen.text,
            );
        }
    }

    // Classes.
    pen.boxed(classes, "", None);
    pen.label(
        pos2(classes.center().x, classes.top() + 13.0),
        Align2::CENTER_CENTER,
        "classes",
        13.0,
        pen.text,
    );
    pen.bars(
        pos2(classes.center().x - 13.0, classes.bottom() - 8.0),
        &[0.25, 0.9, 0.15, 0.35],
        pen.line.color,
    );

    match fusion {
        FusionKind::Early => methods::early(&pen, &layout),
        FusionKind::Late => methods::late(&pen, &layout),
        FusionKind::Gated => methods::gated(&pen, &layout),
        FusionKind::Attention => methods::attention(&pen, &layout),
        FusionKind::Tensor => methods::tensor(&pen, &layout),
        FusionKind::LowRank => methods::low_rank(&pen, &layout),
        FusionKind::CrossModal => methods::cross_modal(&pen, &layout),
    }
}

/// The last box before the classes (from `from` to `to` of the join region, on the middle row),
/// with its arrow into the classes box.
fn head_box(pen: &Pen<'_>, l: &Layout, from: f32, to: f32, text: &str, sub: &str) -> Rect {
    let rect = l.span(from, to, 140.0, l.mid(), 40.0);
    if sub.is_empty() {
        pen.boxed(rect, text, None);
    } else {
        pen.boxed2(rect, text, sub);
    }
    pen.arrow(pos2(rect.right(), l.mid()), l.classes_in(), None);
    rect
}
