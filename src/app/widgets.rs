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

/// A horizontal bar with a text label inside; `marker` draws a thin line at a second value
/// (e.g. the value before a what-if change). Returns the response (hover it for details).
pub fn value_bar(
    ui: &mut egui::Ui,
    value: f32,
    marker: Option<f32>,
    colour: Color32,
    text: &str,
) -> egui::Response {
    let width = ui.available_width().max(60.0);
    let (rect, response) = ui.allocate_exact_size(egui::vec2(width, 18.0), Sense::hover());
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

/// Show a texture scaled to fit `max` keeping its aspect ratio; returns the drawn rect.
pub fn texture(ui: &mut egui::Ui, tex: &TextureHandle, max: Vec2) -> (Rect, egui::Response) {
    let size = tex.size_vec2();
    let scale = (max.x / size.x).min(max.y / size.y).max(0.01);
    let shown = size * scale;
    let response = ui.add(
        egui::Image::from_texture(egui::load::SizedTexture::new(tex.id(), shown))
            .sense(Sense::click()),
    );
    // The widget may be laid out wider than the picture; the picture sits at its centre.
    (
        egui::Rect::from_center_size(response.rect.center(), shown),
        response,
    )
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
