//! "Where the model looked": the picture with the image encoder's attention over the square the
//! model saw, the words shaded by attention, and the spectrogram with a bar per attended frame
//! standing under the stretch of the clip it covers. What was drawn is kept in
//! [`AttentionGeometry`] so tests can check that the heat lines up with the picture.

use egui::{Color32, Rangef, Rect, RichText, Vec2};

use super::PredictView;
use crate::app::Inputs;
use crate::app::widgets::{self, MODALITY_COLOURS, Overlay, heat, overlay_layout, span_on_axis};
use crate::data::image::Fit;
use crate::engine::Prediction;
use crate::model::Backbone;
use crate::model::checkpoint::ModelCard;

/// Where the attention views drew, in screen points, on the last frame they were shown.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttentionGeometry {
    /// The picture and its heatmap (`None`: no picture shown).
    pub image: Option<ImageGeometry>,
    /// The spectrogram and its frame bars (`None`: no sound shown).
    pub audio: Option<AudioGeometry>,
}

/// The picture and the square the model saw of it.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageGeometry {
    /// The picture's size in pixels.
    pub pixels: Vec2,
    /// The square the model saw, in the picture's pixels (see [`seen_square`]).
    pub seen: Rect,
    /// Where the picture (`image`) and the heatmap (`region`, the seen square) were drawn.
    pub drawn: Overlay,
    /// Cells per side of the heatmap (0: no attention grid to draw).
    pub grid: usize,
}

/// The spectrogram and where each frame of the audio attention was drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct AudioGeometry {
    /// Where the spectrogram was drawn.
    pub spectrogram: Rect,
    /// Per attention frame, its bar's x range (`None`: the frame lies outside the clip).
    pub bars: Vec<Option<Rangef>>,
}

/// The square of a `width` × `height` picture that a model sees, in the picture's pixels, as its
/// preprocessing makes it (`backbone`: the model's image backbone, `fit`: its own encoder's
/// [`crate::data::image::ImageConfig::fit`]): the model's own encoder scales the short side to fit
/// and cuts the centre ([`Fit::CenterCrop`]) or pads the short side ([`Fit::Pad`], the square
/// then reaches past the picture); EfficientNet-Lite0 takes the centre square of 224/256 of the
/// short side (a 224 × 224 picture whole): [`crate::model::pretrained::efficientnet::crop_box`].
pub fn seen_square(width: u32, height: u32, backbone: Option<Backbone>, fit: Fit) -> Rect {
    let (w, h) = (width as f32, height as f32);
    let centred =
        |side: f32| Rect::from_center_size(egui::pos2(w / 2.0, h / 2.0), Vec2::splat(side));
    match backbone {
        Some(Backbone::EfficientNetLite0) => {
            let (x, y, side) = crate::model::pretrained::efficientnet::crop_box(width, height);
            Rect::from_min_size(egui::pos2(x as f32, y as f32), Vec2::splat(side as f32))
        }
        _ => match fit {
            Fit::CenterCrop => centred(w.min(h)),
            Fit::Pad => centred(w.max(h)),
        },
    }
}

/// The picture with the attention grid over the square the model saw.
pub(super) fn image_attention_ui(
    ui: &mut egui::Ui,
    inputs: &mut Inputs,
    p: &Prediction,
    card: Option<&ModelCard>,
) -> Option<ImageGeometry> {
    ui.label(RichText::new("image").color(MODALITY_COLOURS[0]));
    let ctx = ui.ctx().clone();
    let (Some(tex), Some(img), Some(card), true) = (
        inputs.image_texture(&ctx),
        inputs.image.as_ref(),
        card,
        p.present[0],
    ) else {
        ui.weak("no image used");
        return None;
    };
    let pixels = egui::vec2(img.width as f32, img.height as f32);
    let seen = seen_square(
        img.width,
        img.height,
        card.model.backbones.image,
        card.features.image.fit,
    );
    let max = egui::vec2(ui.available_width().min(200.0), 200.0);
    let size = overlay_layout(pixels, seen, Rect::from_min_size(egui::Pos2::ZERO, max))?
        .bounds()
        .size();
    let (rect, response) = ui.allocate_exact_size(size, egui::Sense::hover());
    let drawn = overlay_layout(pixels, seen, rect)?;
    widgets::paint_texture(ui, &tex, drawn.image);
    let att = &p.attention[0];
    let grid = p.image_grid;
    let grid = if grid > 0 && att.len() == grid * grid {
        grid
    } else {
        0
    };
    if grid > 0 {
        let top = att.iter().copied().fold(1e-9f32, f32::max);
        let cell = drawn.region.size() / grid as f32;
        let painter = ui.painter_at(drawn.bounds());
        for (k, &a) in att.iter().enumerate() {
            let (r, c) = (k / grid, k % grid);
            let min = drawn.region.min + egui::vec2(c as f32 * cell.x, r as f32 * cell.y);
            painter.rect_filled(Rect::from_min_size(min, cell), 0.0, heat(a / top, 0.6));
        }
    }
    response.on_hover_text(
        "Brighter cells: where the image encoder's attention pooling looked, over the square of \
         the picture the model saw.",
    );
    Some(ImageGeometry {
        pixels,
        seen,
        drawn,
        grid,
    })
}

/// The words shaded by the text encoder's attention.
pub(super) fn text_attention_ui(ui: &mut egui::Ui, p: &Prediction) {
    ui.label(RichText::new("text").color(MODALITY_COLOURS[1]));
    if !p.present[1] || p.words.is_empty() {
        ui.weak("no text used");
        return;
    }
    let att = &p.attention[1];
    let max = att.iter().copied().fold(1e-9f32, f32::max);
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 3.0;
        for (k, word) in p.words.iter().enumerate() {
            let a = att.get(k).copied().unwrap_or(0.0);
            let bg = heat(a / max, 0.85);
            let text = RichText::new(word)
                .background_color(bg)
                .color(if a / max > 0.5 {
                    Color32::BLACK
                } else {
                    ui.visuals().text_color()
                });
            ui.label(text)
                .on_hover_text(format!("attention {:.1}%", a * 100.0));
        }
    });
    ui.small("Words shaded by the text encoder's attention ([UNK] = not in the vocabulary).");
}

/// Each attention frame's x range under a spectrogram drawn over `x` that shows `p`'s clip.
pub fn frame_bars(p: &Prediction, x: Rangef) -> Vec<Option<Rangef>> {
    let frames = p.attention[2].len();
    // The spectrogram shows `spectrogram_ms` of the clip; frames of a backbone may lie partly in
    // the silence around it and are cut at the edges.
    let total = if p.spectrogram_ms > 0.0 {
        p.spectrogram_ms
    } else {
        frames as f32 * p.frame_ms
    };
    (0..frames)
        .map(|k| span_on_axis(p.frame_span_ms(k), total, x))
        .collect()
}

impl PredictView {
    /// The spectrogram with a bar per attention frame under it.
    pub(super) fn audio_attention_ui(
        &mut self,
        ui: &mut egui::Ui,
        p: &Prediction,
    ) -> Option<AudioGeometry> {
        ui.label(RichText::new("audio").color(MODALITY_COLOURS[2]));
        if !p.present[2] {
            ui.weak("no sound used");
            return None;
        }
        let Some(tex) = self.spectrogram_texture(ui.ctx()) else {
            ui.weak("no spectrogram");
            return None;
        };
        let (rect, response) = widgets::texture(ui, &tex, egui::vec2(ui.available_width(), 110.0));
        response.on_hover_text(
            "Log-mel spectrogram (low pitches at the bottom) and, below it, how much the audio \
             encoder attended to each time frame.",
        );
        let att = &p.attention[2];
        let bars = frame_bars(p, rect.x_range());
        if !att.is_empty() {
            let top = att.iter().copied().fold(1e-9f32, f32::max);
            let (bar_rect, _) =
                ui.allocate_exact_size(egui::vec2(rect.width(), 26.0), egui::Sense::hover());
            // The bars stand under the spectrogram's own x range, wherever the layout put it.
            let strip = Rect::from_x_y_ranges(rect.x_range(), bar_rect.y_range());
            let painter = ui.painter_at(strip);
            for (x, &a) in bars.iter().zip(att) {
                let Some(x) = x else { continue };
                let h = strip.height() * a / top;
                painter.rect_filled(
                    Rect::from_min_max(
                        egui::pos2(x.min + 0.5, strip.bottom() - h),
                        egui::pos2(x.max - 0.5, strip.bottom()),
                    ),
                    0.0,
                    heat(a / top, 1.0),
                );
            }
            let best = att
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(k, _)| k);
            let (start, end) = p.frame_span_ms(best);
            ui.small(format!(
                "frame weights ({} × {:.0} ms); most attended: {:.2}–{:.2} s",
                att.len(),
                p.frame_ms,
                start.max(0.0) / 1000.0,
                end.max(0.0) / 1000.0
            ));
        }
        Some(AudioGeometry {
            spectrogram: rect,
            bars,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::widgets::overlay_layout;

    const OWN: Option<Backbone> = None;
    const EFFICIENTNET: Option<Backbone> = Some(Backbone::EfficientNetLite0);

    /// A prediction with only what the frame bars read.
    fn audio_prediction(frames: usize, frame_ms: f32, spectrogram_ms: f32) -> Prediction {
        Prediction {
            classes: Vec::new(),
            predicted: 0,
            probs: Vec::new(),
            weights: [0.0; 3],
            weight_kind: crate::model::WeightKind::Native,
            present: [false, false, true],
            words: Vec::new(),
            attention: [Vec::new(), Vec::new(), vec![1.0 / frames as f32; frames]],
            image_grid: 0,
            frame_ms,
            frame_offset_ms: 0.0,
            spectrogram_ms,
            spectrogram: Vec::new(),
            mel_bins: 0,
            embeddings: Default::default(),
            fused: Vec::new(),
        }
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-3
    }

    #[test]
    fn the_seen_square_is_the_centre_crop_the_model_takes() {
        let c = |w, h| seen_square(w, h, OWN, Fit::CenterCrop);
        assert_eq!(
            c(640, 320),
            Rect::from_min_size(egui::pos2(160.0, 0.0), Vec2::splat(320.0))
        );
        assert_eq!(
            c(320, 640),
            Rect::from_min_size(egui::pos2(0.0, 160.0), Vec2::splat(320.0))
        );
        assert_eq!(
            c(256, 256),
            Rect::from_min_size(egui::Pos2::ZERO, Vec2::splat(256.0))
        );
        // Padding: the square is the long side's, around the picture.
        assert_eq!(
            seen_square(640, 320, OWN, Fit::Pad),
            Rect::from_min_size(egui::pos2(0.0, -160.0), Vec2::splat(640.0))
        );
        // EfficientNet: 224/256 of the short side, at the centre; 224 × 224 whole.
        let e = |w, h| seen_square(w, h, EFFICIENTNET, Fit::CenterCrop);
        assert_eq!(
            e(640, 320),
            Rect::from_min_size(egui::pos2(180.0, 20.0), Vec2::splat(280.0))
        );
        assert_eq!(
            e(224, 224),
            Rect::from_min_size(egui::Pos2::ZERO, Vec2::splat(224.0))
        );
    }

    #[test]
    fn the_heatmap_covers_the_seen_square_of_the_drawn_picture_at_any_width() {
        for (w, h) in [(256, 256), (640, 320), (320, 640), (1000, 10), (7, 300)] {
            for width in [40.0, 120.0, 200.0, 333.0, 900.0] {
                let area = Rect::from_min_size(egui::pos2(17.0, 40.0), egui::vec2(width, 200.0));
                let pixels = egui::vec2(w as f32, h as f32);
                let o = overlay_layout(pixels, seen_square(w, h, OWN, Fit::CenterCrop), area)
                    .expect("layout");
                // The picture keeps its aspect ratio, fits and starts at the area's corner.
                assert!(close(
                    o.image.width() / o.image.height(),
                    pixels.x / pixels.y
                ));
                assert!(
                    area.expand(1e-3).contains_rect(o.image),
                    "{w}×{h} at {width}"
                );
                assert_eq!(o.image.min, area.min);
                assert!(
                    close(o.image.width(), area.width()) || close(o.image.height(), area.height())
                );
                // The heat is the centre square of the drawn picture, inside it.
                let side = o.image.width().min(o.image.height());
                assert!(close(o.region.width(), side) && close(o.region.height(), side));
                assert!(close(o.region.center().x, o.image.center().x));
                assert!(close(o.region.center().y, o.image.center().y));
                assert!(o.image.expand(1e-3).contains_rect(o.region));
                assert!(o.image.expand(1e-3).contains_rect(o.bounds()));
            }
        }
    }

    #[test]
    fn a_padded_square_reaches_past_the_picture_and_everything_still_fits() {
        let area = Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(300.0, 200.0));
        let o = overlay_layout(
            egui::vec2(640.0, 320.0),
            seen_square(640, 320, OWN, Fit::Pad),
            area,
        )
        .expect("layout");
        assert!(close(o.region.width(), 200.0) && close(o.region.height(), 200.0));
        assert!(close(o.image.width(), 200.0) && close(o.image.height(), 100.0));
        assert!(close(o.image.center().y, o.region.center().y));
        assert!(o.region.contains_rect(o.image));
        assert!(area.expand(1e-3).contains_rect(o.bounds()));
    }

    #[test]
    fn frame_bars_tile_the_spectrogram_and_are_cut_at_its_edges() {
        let mut p = audio_prediction(4, 40.0, 160.0);
        let x = Rangef::new(100.0, 260.0);
        let bars = frame_bars(&p, x);
        let bars: Vec<Rangef> = bars.into_iter().map(|b| b.expect("inside")).collect();
        assert_eq!(bars[0].min, 100.0);
        assert_eq!(bars[3].max, 260.0);
        for pair in bars.windows(2) {
            assert!(close(pair[0].max, pair[1].min));
            assert!(close(pair[0].span(), 40.0));
        }
        // A backbone's frames start before the clip and may end past it.
        p.frame_offset_ms = -60.0;
        let bars = frame_bars(&p, x);
        assert_eq!(
            bars[0], None,
            "frame 0 lies wholly in the silence before the clip"
        );
        assert_eq!(bars[1].map(|b| b.min), Some(100.0));
        assert!(close(bars[1].expect("cut").span(), 20.0));
        assert!(
            bars.iter()
                .flatten()
                .all(|b| b.min >= x.min && b.max <= x.max)
        );
    }
}
