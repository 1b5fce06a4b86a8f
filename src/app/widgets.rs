//! Small drawing helpers shared by the panels.

use egui::{Color32, Rect, Sense, Stroke, TextureHandle, Vec2};

/// Colours of the three modalities (image, text, audio) and of the fused space.
pub const MODALITY_COLOURS: [Color32; 4] = [
    Color32::from_rgb(0x4c, 0x9b, 0xe8),
    Color32::from_rgb(0xe8, 0x9a, 0x3c),
    Color32::from_rgb(0x5c, 0xc0, 0x6c),
    Color32::from_rgb(0xb0, 0x7c, 0xe0),
];

/// A distinct colour per class (Tableau 10, then repeating with a lighter tone).
pub fn class_colour(class: usize) -> Color32 {
    const T10: [(u8, u8, u8); 10] = [
        (0x4e, 0x79, 0xa7),
        (0xf2, 0x8e, 0x2b),
        (0xe1, 0x57, 0x59),
        (0x76, 0xb7, 0xb2),
        (0x59, 0xa1, 0x4f),
        (0xed, 0xc9, 0x48),
        (0xb0, 0x7a, 0xa1),
        (0xff, 0x9d, 0xa7),
        (0x9c, 0x75, 0x5f),
        (0xba, 0xb0, 0xac),
    ];
    let (r, g, b) = T10[class % 10];
    if class >= 10 {
        Color32::from_rgb(r / 2 + 100, g / 2 + 100, b / 2 + 100)
    } else {
        Color32::from_rgb(r, g, b)
    }
}

/// A horizontal bar as wide as the space left, with a text label inside; `marker` draws a thin
/// line at a second value (e.g. the value before a what-if change). Returns the response (hover
/// it for details).
pub fn value_bar(
    ui: &mut egui::Ui,
    value: f32,
    marker: Option<f32>,
    colour: Color32,
    text: &str,
) -> egui::Response {
    let width = ui.available_width();
    value_bar_sized(ui, width, value, marker, colour, text)
}

/// [`value_bar`] of a given width (at least 60 points): for bars side by side in a table, where
/// the space left is not the column's.
pub fn value_bar_sized(
    ui: &mut egui::Ui,
    width: f32,
    value: f32,
    marker: Option<f32>,
    colour: Color32,
    text: &str,
) -> egui::Response {
    let (rect, response) =
        ui.allocate_exact_size(egui::vec2(width.max(60.0), 18.0), Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 3.0, ui.visuals().extreme_bg_color);
    let v = if value.is_finite() {
        value.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mut fill = rect;
    fill.set_width(rect.width() * v);
    painter.rect_filled(fill, 3.0, colour.gamma_multiply(0.85));
    if let Some(m) = marker.filter(|m| m.is_finite()) {
        let x = rect.left() + rect.width() * m.clamp(0.0, 1.0);
        painter.line_segment(
            [egui::pos2(x, rect.top()), egui::pos2(x, rect.bottom())],
            Stroke::new(2.0, ui.visuals().strong_text_color()),
        );
    }
    painter.text(
        rect.left_center() + egui::vec2(6.0, 0.0),
        egui::Align2::LEFT_CENTER,
        text,
        egui::FontId::proportional(12.5),
        ui.visuals().strong_text_color(),
    );
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::ProgressIndicator, true, text));
    response
}

/// A plot as every panel builds it. The mouse wheel scrolls the page, not the plot; Ctrl + wheel
/// (or a pinch) zooms, dragging pans, a double click resets. Tick labels of the x axis may stand
/// 32 points apart (egui_plot's default, 60, leaves a 0–1 axis with only "0" and "1" on a
/// narrow window).
pub fn plot<'a>(id: &str) -> egui_plot::Plot<'a> {
    egui_plot::Plot::new(id)
        .allow_scroll(false)
        .custom_x_axes(vec![
            egui_plot::AxisHints::new_x().label_spacing(32.0..=48.0),
        ])
}

/// Where a picture and a region of it stand on screen: see [`overlay_layout`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Overlay {
    /// The whole picture, drawn with its aspect ratio.
    pub image: Rect,
    /// The region, e.g. the square the model saw, in the same scale.
    pub region: Rect,
}

impl Overlay {
    /// The smallest rect holding the picture and the region (what to allocate and clip to).
    pub fn bounds(&self) -> Rect {
        self.image.union(self.region)
    }
}

/// Lay out a picture of `size` pixels and `region` of it (in its pixels; it may reach past the
/// picture's edges, as padding does) in `area`: the two together scaled to fit `area` with the
/// aspect ratio kept, at its top-left corner. `None` for an empty picture or area.
pub fn overlay_layout(size: Vec2, region: Rect, area: Rect) -> Option<Overlay> {
    let picture = Rect::from_min_size(egui::Pos2::ZERO, size);
    let whole = picture.union(region);
    let ok = |v: Vec2| v.x > 0.0 && v.y > 0.0 && v.is_finite();
    if !ok(size) || !ok(whole.size()) || !ok(area.size()) {
        return None;
    }
    let scale = (area.width() / whole.width()).min(area.height() / whole.height());
    let place = |r: Rect| {
        Rect::from_min_max(
            area.min + (r.min - whole.min) * scale,
            area.min + (r.max - whole.min) * scale,
        )
    };
    Some(Overlay {
        image: place(picture),
        region: place(region),
    })
}

/// Where a stretch `span` (start, end) of something `total` long stands on an axis drawn over
/// `x` (which shows 0..`total`), cut to `x`; `None` when nothing of it is inside.
pub fn span_on_axis(span: (f32, f32), total: f32, x: egui::Rangef) -> Option<egui::Rangef> {
    if total.is_nan() || total <= 0.0 || !span.0.is_finite() || !span.1.is_finite() {
        return None;
    }
    let at = |t: f32| x.min + x.span() * t / total;
    let (a, b) = (at(span.0).max(x.min), at(span.1).min(x.max));
    (b > a).then(|| egui::Rangef::new(a, b))
}

/// Draw a texture filling `rect` (allocated by the caller).
pub fn paint_texture(ui: &egui::Ui, tex: &TextureHandle, rect: Rect) {
    ui.painter().image(
        tex.id(),
        rect,
        Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
        Color32::WHITE,
    );
}

/// Show a texture scaled to fit `max` keeping its aspect ratio, at the cursor; returns the rect
/// it was drawn in (exactly the rect allocated) and the response (hover or click it).
pub fn texture(ui: &mut egui::Ui, tex: &TextureHandle, max: Vec2) -> (Rect, egui::Response) {
    let size = tex.size_vec2();
    let scale = (max.x / size.x).min(max.y / size.y).max(0.01);
    let (rect, response) = ui.allocate_exact_size(size * scale, Sense::click());
    response.widget_info(|| egui::WidgetInfo::new(egui::Role::Image));
    paint_texture(ui, tex, rect);
    (rect, response)
}

/// An RGB image as a texture.
pub fn rgb_texture(
    ctx: &egui::Context,
    name: &str,
    width: usize,
    height: usize,
    rgb: &[u8],
    smooth: bool,
) -> Option<TextureHandle> {
    if width == 0 || height == 0 || rgb.len() != width * height * 3 {
        return None;
    }
    let options = if smooth {
        egui::TextureOptions::LINEAR
    } else {
        egui::TextureOptions::NEAREST
    };
    Some(ctx.load_texture(
        name,
        egui::ColorImage::from_rgb([width, height], rgb),
        options,
    ))
}

/// A heat colour for a weight in 0..1 (transparent to strong red-orange).
pub fn heat(weight: f32, alpha: f32) -> Color32 {
    let w = if weight.is_finite() {
        weight.clamp(0.0, 1.0)
    } else {
        0.0
    };
    Color32::from_rgba_unmultiplied(
        255,
        (140.0 * (1.0 - w)) as u8 + 40,
        20,
        (alpha * w * 255.0) as u8,
    )
}

/// Seconds as `m:ss`.
pub fn clock(seconds: f32) -> String {
    let s = if seconds.is_finite() {
        seconds.max(0.0).round() as u64
    } else {
        0
    };
    format!("{}:{:02}", s / 60, s % 60)
}

/// Seconds left at a steady rate, from when a job started and how far it is.
pub fn eta_seconds(started: std::time::Instant, done: usize, total: usize) -> f32 {
    if done == 0 || done >= total {
        return 0.0;
    }
    started.elapsed().as_secs_f32() / done as f32 * (total - done) as f32
}

/// "3/10 · 0:42 left" for a job that started at `started`.
pub fn progress_text(started: Option<std::time::Instant>, done: usize, total: usize) -> String {
    match started {
        Some(s) if done > 0 && done < total => {
            format!(
                "{done}/{total} · {} left",
                clock(eta_seconds(s, done, total))
            )
        }
        _ => format!("{done}/{total}"),
    }
}

/// A busy indicator like egui's spinner that does not ask for a repaint every frame (egui's
/// keeps the window redrawing at full frame rate while a job runs, which on a software renderer
/// took a core away from training); the app repaints every 100 ms while a job runs, which keeps
/// it turning.
pub fn quiet_spinner(ui: &mut egui::Ui) -> egui::Response {
    let size = ui.spacing().interact_size.y;
    let (rect, response) = ui.allocate_exact_size(Vec2::splat(size), Sense::hover());
    if ui.is_rect_visible(rect) {
        let radius = rect.height().min(rect.width()) * 0.5 - 2.0;
        let time = ui.input(|i| i.time);
        let start = time * std::f64::consts::TAU;
        let end = start + 240f64.to_radians() * time.sin();
        let points: Vec<egui::Pos2> = (0..=24)
            .map(|i| {
                let angle = start + (end - start) * f64::from(i) / 24.0;
                let (sin, cos) = angle.sin_cos();
                rect.center() + radius * egui::vec2(cos as f32, sin as f32)
            })
            .collect();
        let colour = ui.visuals().strong_text_color();
        ui.painter()
            .add(egui::Shape::line(points, Stroke::new(3.0, colour)));
    }
    response
}
