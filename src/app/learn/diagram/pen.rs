//! The diagrams' drawing primitives: labels, boxes, arrows, operator nodes, bars and the cube,
//! bound to one painter and the current theme.

use egui::{Align2, Color32, FontId, Painter, Pos2, Rect, Shape, Stroke, pos2, vec2};

use super::MODALITY;

/// Drawing helpers bound to one painter and the current theme.
pub(super) struct Pen<'a> {
    pub(super) painter: &'a Painter,
    pub(super) text: Color32,
    pub(super) line: Stroke,
    pub(super) fill: Color32,
}

impl Pen<'_> {
    fn font(size: f32) -> FontId {
        FontId::proportional(size)
    }

    /// Text centred at `pos`, or anchored as given.
    pub(super) fn label(&self, pos: Pos2, anchor: Align2, text: &str, size: f32, colour: Color32) {
        self.painter
            .text(pos, anchor, text, Self::font(size), colour);
    }

    /// A small caption in the text colour.
    pub(super) fn caption(&self, pos: Pos2, anchor: Align2, text: &str) {
        self.label(pos, anchor, text, 11.0, self.text);
    }

    /// A rounded box with a centred label; tinted with `colour` when given.
    pub(super) fn boxed(&self, rect: Rect, text: &str, colour: Option<Color32>) {
        let (fill, stroke) = match colour {
            Some(c) => (c.gamma_multiply(0.3), Stroke::new(1.5, c)),
            None => (self.fill, self.line),
        };
        self.painter.rect_filled(rect, 4.0, fill);
        self.painter
            .rect_stroke(rect, 4.0, stroke, egui::StrokeKind::Inside);
        self.label(rect.center(), Align2::CENTER_CENTER, text, 13.0, self.text);
    }

    /// A box with a small second line under its label.
    pub(super) fn boxed2(&self, rect: Rect, text: &str, sub: &str) {
        self.boxed(rect, "", None);
        self.label(
            rect.center() - vec2(0.0, 7.0),
            Align2::CENTER_CENTER,
            text,
            13.0,
            self.text,
        );
        self.caption(rect.center() + vec2(0.0, 8.0), Align2::CENTER_CENTER, sub);
    }

    /// A straight line, in the line colour unless `colour` is given.
    pub(super) fn line(&self, a: Pos2, b: Pos2, colour: Option<Color32>) {
        let stroke = colour.map_or(self.line, |c| Stroke::new(1.5, c));
        self.painter.line_segment([a, b], stroke);
    }

    /// A straight arrow from `a` to `b` with a filled triangular head at `b`.
    pub(super) fn arrow(&self, a: Pos2, b: Pos2, colour: Option<Color32>) {
        let stroke = colour.map_or(self.line, |c| Stroke::new(1.5, c));
        let d = b - a;
        let len = d.length();
        if len < 1.0 {
            return;
        }
        let dir = d / len;
        let normal = vec2(-dir.y, dir.x);
        let head = 7.0_f32.min(len * 0.5);
        let base = b - dir * head;
        self.painter.line_segment([a, base], stroke);
        self.painter.add(Shape::convex_polygon(
            vec![b, base + normal * 3.5, base - normal * 3.5],
            stroke.color,
            Stroke::NONE,
        ));
    }

    /// A circle node; `kind` picks the symbol drawn inside with lines (no glyphs needed).
    pub(super) fn node(&self, centre: Pos2, radius: f32, kind: Node) {
        self.painter.circle_filled(centre, radius, self.fill);
        self.painter.circle_stroke(centre, radius, self.line);
        let s = radius * 0.62;
        match kind {
            Node::Cross => {
                let k = s * std::f32::consts::FRAC_1_SQRT_2 * 1.15;
                self.line(centre + vec2(-k, -k), centre + vec2(k, k), None);
                self.line(centre + vec2(-k, k), centre + vec2(k, -k), None);
            }
            Node::Dot => {
                self.painter
                    .circle_filled(centre, (radius * 0.28).max(1.8), self.text);
            }
            Node::Plus => {
                self.line(centre + vec2(-s, 0.0), centre + vec2(s, 0.0), None);
                self.line(centre + vec2(0.0, -s), centre + vec2(0.0, s), None);
            }
            Node::Sigma => {
                self.label(centre, Align2::CENTER_CENTER, "Σ", radius * 1.3, self.text);
            }
        }
    }

    /// A small bar chart (class probabilities) with its lower-left corner at `origin`.
    pub(super) fn bars(&self, origin: Pos2, heights: &[f32], colour: Color32) {
        for (i, h) in heights.iter().enumerate() {
            let x = origin.x + i as f32 * 7.0;
            let rect = Rect::from_min_max(pos2(x, origin.y - 22.0 * h), pos2(x + 5.0, origin.y));
            self.painter.rect_filled(rect, 0.0, colour);
        }
        self.line(
            pos2(origin.x - 2.0, origin.y),
            pos2(origin.x + heights.len() as f32 * 7.0, origin.y),
            None,
        );
    }

    /// A small cube icon (the 3-way tensor) centred at `c`.
    pub(super) fn cube(&self, c: Pos2, size: f32) {
        let o = size * 0.35;
        let front = Rect::from_center_size(c + vec2(-o / 2.0, o / 2.0), vec2(size, size));
        let back = front.translate(vec2(o, -o));
        let tint = MODALITY[0].gamma_multiply(0.25);
        self.painter.rect_filled(front, 0.0, tint);
        for r in [back, front] {
            self.painter
                .rect_stroke(r, 0.0, self.line, egui::StrokeKind::Middle);
        }
        for (a, b) in [
            (front.left_top(), back.left_top()),
            (front.right_top(), back.right_top()),
            (front.right_bottom(), back.right_bottom()),
        ] {
            self.line(a, b, None);
        }
        // Grid lines on the front face suggest the 9 x 9 cells.
        for i in 1..3 {
            let t = i as f32 / 3.0;
            let x = front.left() + t * front.width();
            let y = front.top() + t * front.height();
            let thin = Stroke::new(0.5, self.line.color);
            self.painter
                .line_segment([pos2(x, front.top()), pos2(x, front.bottom())], thin);
            self.painter
                .line_segment([pos2(front.left(), y), pos2(front.right(), y)], thin);
        }
    }
}

/// Symbols inside circle nodes.
#[derive(Clone, Copy)]
pub(super) enum Node {
    /// Outer product (circled cross).
    Cross,
    /// Element-wise product (circled dot).
    Dot,
    /// Sum.
    Plus,
    /// Sum written as a capital sigma.
    Sigma,
}
