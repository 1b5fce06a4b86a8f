//! Each fusion method's joining step, drawn between the encoders' outputs and the classes box.

use egui::{Align2, Color32, Pos2, Rect, Stroke, pos2, vec2};

use super::pen::{Node, Pen};
use super::{Layout, MODALITY, SUFFIX, head_box};

/// Early fusion: one long vector, then an MLP.
pub(super) fn early(pen: &Pen<'_>, l: &Layout) {
    let x = l.x(0.3);
    let bounds = [
        l.rows[0] - 20.0,
        (l.rows[0] + l.rows[1]) / 2.0,
        (l.rows[1] + l.rows[2]) / 2.0,
        l.rows[2] + 10.0,
        l.rows[2] + 22.0,
    ];
    for m in 0..3 {
        let stripe = Rect::from_min_max(pos2(x - 9.0, bounds[m]), pos2(x + 9.0, bounds[m + 1]));
        pen.painter
            .rect_filled(stripe, 0.0, MODALITY[m].gamma_multiply(0.6));
        pen.arrow(pos2(l.z_start, l.rows[m]), pos2(x - 9.0, l.rows[m]), None);
    }
    let flags = Rect::from_min_max(pos2(x - 9.0, bounds[3]), pos2(x + 9.0, bounds[4]));
    pen.painter.rect_filled(flags, 0.0, Color32::GRAY);
    let whole = Rect::from_min_max(pos2(x - 9.0, bounds[0]), pos2(x + 9.0, bounds[4]));
    pen.painter
        .rect_stroke(whole, 0.0, pen.line, egui::StrokeKind::Middle);
    pen.caption(
        pos2(x - 13.0, flags.center().y),
        Align2::RIGHT_CENTER,
        "flags",
    );
    pen.label(
        pos2(x + 14.0, l.mid() - 6.0),
        Align2::LEFT_BOTTOM,
        "concat",
        13.0,
        pen.text,
    );
    let mlp = head_box(pen, l, 0.55, 0.8, "MLP", "hidden + ReLU");
    pen.arrow(pos2(x + 9.0, l.mid()), pos2(mlp.left(), l.mid()), None);
}

/// Late fusion: a classifier per modality, then a weighted sum of their probabilities.
pub(super) fn late(pen: &Pen<'_>, l: &Layout) {
    let sum = l.span(0.64, 0.88, 130.0, l.mid(), 40.0);
    let shapes: [[f32; 4]; 3] = [
        [0.2, 0.8, 0.3, 0.2],
        [0.3, 0.6, 0.5, 0.2],
        [0.15, 0.9, 0.2, 0.3],
    ];
    for m in 0..3 {
        let y = l.rows[m];
        let clf = l.span(0.05, 0.27, 120.0, y, 24.0);
        pen.arrow(pos2(l.z_start, y), pos2(clf.left(), y), None);
        pen.boxed(clf, "classifier", Some(MODALITY[m]));
        let bars_x = l.x(0.36);
        pen.arrow(pos2(clf.right(), y), pos2(bars_x - 6.0, y), None);
        pen.bars(pos2(bars_x, y + 10.0), &shapes[m], MODALITY[m]);
        pen.caption(
            pos2(bars_x + 14.0, y + 12.0),
            Align2::CENTER_TOP,
            &format!("p_{}", SUFFIX[m]),
        );
        let from = pos2(bars_x + 32.0, y);
        let to = pos2(sum.left(), l.mid() + (m as f32 - 1.0) * 12.0);
        pen.arrow(from, to, Some(MODALITY[m]));
        let label_at = from + (to - from) * 0.45;
        pen.label(
            label_at + vec2(0.0, -4.0),
            Align2::CENTER_BOTTOM,
            &format!("w_{}", SUFFIX[m]),
            12.0,
            pen.text,
        );
    }
    pen.boxed(sum, "weighted sum", None);
    pen.arrow(pos2(sum.right(), l.mid()), l.classes_in(), None);
}

/// Gated fusion: tanh features per modality, each multiplied by its gate, then summed.
pub(super) fn gated(pen: &Pen<'_>, l: &Layout) {
    let sum = pos2(l.x(0.64), l.mid());
    for m in 0..3 {
        let y = l.rows[m];
        let tanh = l.span(0.04, 0.2, 100.0, y, 24.0);
        pen.arrow(pos2(l.z_start, y), pos2(tanh.left(), y), None);
        pen.boxed(tanh, "tanh", Some(MODALITY[m]));
        let times = pos2(l.x(0.44), y);
        pen.arrow(pos2(tanh.right(), y), times - vec2(10.0, 0.0), None);
        pen.label(
            pos2(tanh.right() + 16.0, y - 3.0),
            Align2::CENTER_BOTTOM,
            &format!("h_{}", SUFFIX[m]),
            12.0,
            pen.text,
        );
        // This modality's gate, coming in from the upper left.
        let gate = Rect::from_center_size(times + vec2(-40.0, -20.0), vec2(28.0, 15.0));
        pen.painter
            .rect_filled(gate, 3.0, MODALITY[m].gamma_multiply(0.3));
        pen.painter.rect_stroke(
            gate,
            3.0,
            Stroke::new(1.0, MODALITY[m]),
            egui::StrokeKind::Inside,
        );
        pen.caption(
            gate.center(),
            Align2::CENTER_CENTER,
            &format!("g_{}", SUFFIX[m]),
        );
        pen.arrow(
            pos2(gate.right() - 2.0, gate.bottom()),
            times + vec2(-6.5, -6.5),
            None,
        );
        pen.node(times, 9.0, Node::Dot);
        let dir = (sum - times).normalized();
        pen.arrow(times + dir * 9.0, sum - dir * 14.0, Some(MODALITY[m]));
    }
    pen.caption(
        pos2(l.x(0.44) - 26.0, l.rows[2] + 13.0),
        Align2::CENTER_TOP,
        "gates g: softmax over modalities, from all three z",
    );
    pen.node(sum, 14.0, Node::Sigma);
    let lin = head_box(pen, l, 0.76, 0.92, "linear", "");
    pen.arrow(sum + vec2(14.0, 0.0), pos2(lin.left(), l.mid()), None);
    pen.label(
        sum + vec2(20.0, -4.0),
        Align2::LEFT_BOTTOM,
        "h",
        12.0,
        pen.text,
    );
}

/// Attention fusion: a weight per modality on each arrow into a weighted average.
pub(super) fn attention(pen: &Pen<'_>, l: &Layout) {
    let sum = pos2(l.x(0.45), l.mid());
    for m in 0..3 {
        let y = l.rows[m];
        let bend = pos2(l.x(0.22), y);
        pen.line(pos2(l.z_start, y), bend, Some(MODALITY[m]));
        let dir = (sum - bend).normalized();
        pen.arrow(bend, sum - dir * 15.0, Some(MODALITY[m]));
        // The weight, as a pill on the arrow.
        let pill = Rect::from_center_size(pos2(l.x(0.11), y), vec2(34.0, 18.0));
        pen.painter.rect_filled(pill, 9.0, MODALITY[m]);
        pen.label(
            pill.center(),
            Align2::CENTER_CENTER,
            &format!("α_{}", SUFFIX[m]),
            12.0,
            Color32::BLACK,
        );
    }
    pen.node(sum, 15.0, Node::Sigma);
    pen.caption(
        sum + vec2(0.0, 19.0),
        Align2::CENTER_TOP,
        "weighted average",
    );
    pen.caption(
        pos2(l.x(0.11), l.rows[2] + 13.0),
        Align2::CENTER_TOP,
        "α: softmax over present modalities",
    );
    let mlp = head_box(pen, l, 0.62, 0.86, "MLP", "hidden + ReLU");
    pen.arrow(sum + vec2(15.0, 0.0), pos2(mlp.left(), l.mid()), None);
}

/// Tensor fusion: squeeze, append 1, outer product (a cube), then an MLP.
pub(super) fn tensor(pen: &Pen<'_>, l: &Layout) {
    let outer = pos2(l.x(0.42), l.mid());
    for (&y, &colour) in l.rows.iter().zip(&MODALITY) {
        let proj = l.span(0.04, 0.18, 90.0, y, 24.0);
        pen.arrow(pos2(l.z_start, y), pos2(proj.left(), y), None);
        pen.boxed(proj, "d = 8", Some(colour));
        let bend = pos2(l.x(0.27), y);
        pen.line(pos2(proj.right(), y), bend, Some(colour));
        pen.caption(
            pos2((proj.right() + bend.x) / 2.0, y - 3.0),
            Align2::CENTER_BOTTOM,
            "[t; 1]",
        );
        let dir = (outer - bend).normalized();
        pen.arrow(bend, outer - dir * 15.0, Some(colour));
    }
    pen.node(outer, 15.0, Node::Cross);
    pen.caption(outer + vec2(0.0, 19.0), Align2::CENTER_TOP, "outer product");
    let cube = pos2(l.x(0.56), l.mid());
    pen.arrow(outer + vec2(15.0, 0.0), cube - vec2(24.0, 0.0), None);
    pen.cube(cube, 30.0);
    pen.caption(
        cube + vec2(0.0, 27.0),
        Align2::CENTER_TOP,
        "9 × 9 × 9 = 729",
    );
    let mlp = head_box(pen, l, 0.7, 0.9, "MLP", "hidden + ReLU");
    pen.arrow(cube + vec2(22.0, 0.0), pos2(mlp.left(), l.mid()), None);
}

/// Low-rank fusion: r element-wise products of per-modality maps, summed.
pub(super) fn low_rank(pen: &Pen<'_>, l: &Layout) {
    const RANK: usize = 4;
    let products: Vec<Pos2> = (0..RANK)
        .map(|i| pos2(l.x(0.46), l.mid() + (i as f32 - 1.5) * 30.0))
        .collect();
    for (&y, &colour) in l.rows.iter().zip(&MODALITY) {
        let maps = l.span(0.05, 0.22, 100.0, y, 24.0);
        pen.arrow(pos2(l.z_start, y), pos2(maps.left(), y), None);
        pen.boxed(maps, "r maps", Some(colour));
        pen.caption(pos2(l.z_start + 5.0, y + 3.0), Align2::LEFT_TOP, "[z; 1]");
        let thin = Stroke::new(1.0, colour);
        for p in &products {
            let dir = (*p - pos2(maps.right(), y)).normalized();
            pen.painter
                .line_segment([pos2(maps.right(), y), *p - dir * 8.0], thin);
        }
    }
    let sum = pos2(l.x(0.62), l.mid());
    for p in &products {
        pen.node(*p, 8.0, Node::Dot);
        let dir = (sum - *p).normalized();
        pen.arrow(*p + dir * 8.0, sum - dir * 13.0, None);
    }
    pen.caption(
        products[0] + vec2(0.0, -10.0),
        Align2::CENTER_BOTTOM,
        "r = 4 products",
    );
    pen.node(sum, 13.0, Node::Plus);
    pen.caption(sum + vec2(0.0, 16.0), Align2::CENTER_TOP, "+ b");
    let head = head_box(pen, l, 0.72, 0.92, "ReLU", "then linear");
    pen.arrow(sum + vec2(13.0, 0.0), pos2(head.left(), l.mid()), None);
}

/// Cross-modal transformer: token rows and a [CLS] token into one transformer.
pub(super) fn cross_modal(pen: &Pen<'_>, l: &Layout) {
    let block = Rect::from_min_max(
        pos2(l.x(0.36), l.rows[0] - 22.0),
        pos2(l.x(0.58), l.rows[2] + 22.0),
    );
    let names = ["positions", "words", "frames"];
    let first = l.x(0.04);
    let last = first + 5.0 * 13.0;
    let cls_y = l.rows[0] + 25.0;
    let mut ys = vec![(cls_y, pen.text)];
    for m in 0..3 {
        let y = l.rows[m];
        pen.arrow(pos2(l.z_start, y), pos2(first - 4.0, y), None);
        for i in 0..5 {
            let x = first + i as f32 * 13.0;
            let token = Rect::from_min_size(pos2(x, y - 5.0), vec2(10.0, 10.0));
            pen.painter.rect_filled(token, 1.0, MODALITY[m]);
        }
        pen.caption(pos2(first, y - 8.0), Align2::LEFT_BOTTOM, names[m]);
        pen.arrow(
            pos2(last + 2.0, y),
            pos2(block.left(), y),
            Some(MODALITY[m]),
        );
        ys.push((y, MODALITY[m]));
    }
    // The [CLS] token, just under the image row.
    let cls = Rect::from_min_size(pos2(first, cls_y - 5.0), vec2(10.0, 10.0));
    pen.painter.rect_filled(cls, 1.0, pen.text);
    pen.caption(pos2(cls.right() + 4.0, cls_y), Align2::LEFT_CENTER, "[CLS]");
    pen.arrow(pos2(last + 2.0, cls_y), pos2(block.left(), cls_y), None);

    // The block, with faint all-to-all attention lines between its input and output tokens.
    pen.boxed(block, "", None);
    let (left, right) = (block.left() + 14.0, block.right() - 14.0);
    for &(a, _) in &ys {
        for &(b, colour) in &ys {
            pen.painter.line_segment(
                [pos2(left, a), pos2(right, b)],
                Stroke::new(0.8, colour.gamma_multiply(0.45)),
            );
        }
    }
    for &(y, colour) in &ys {
        pen.painter.circle_filled(pos2(left, y), 3.0, colour);
        pen.painter.circle_filled(pos2(right, y), 3.0, colour);
    }
    pen.label(
        pos2(block.center().x, block.top() + 3.0),
        Align2::CENTER_TOP,
        "transformer",
        13.0,
        pen.text,
    );
    pen.caption(
        pos2(block.center().x, block.bottom() - 3.0),
        Align2::CENTER_BOTTOM,
        "all attend to all",
    );

    let out = pos2(l.x(0.65), cls_y);
    pen.arrow(pos2(block.right(), cls_y), out - vec2(6.0, 0.0), None);
    let out_token = Rect::from_center_size(out, vec2(10.0, 10.0));
    pen.painter.rect_filled(out_token, 1.0, pen.text);
    pen.caption(out + vec2(0.0, -8.0), Align2::CENTER_BOTTOM, "[CLS]");
    let lin = head_box(pen, l, 0.74, 0.92, "linear", "");
    pen.arrow(out + vec2(6.0, 5.0), pos2(lin.left(), l.mid() - 6.0), None);
}
