//! The image part of the inputs panel: open or clear the picture, and its thumbnail.

use egui::TextureHandle;

use super::super::panel::{PanelCtx, Request};
use super::super::widgets;
use super::{Inputs, Pick};

/// Image files the "Open image…" dialog offers.
use crate::data::image::IMAGE_EXTENSIONS;

impl Inputs {
    /// The image as a texture (made on first use).
    pub fn image_texture(&mut self, ctx: &egui::Context) -> Option<TextureHandle> {
        if self.image_texture.is_none()
            && let Some(img) = &self.image
        {
            self.image_texture = widgets::rgb_texture(
                ctx,
                "input_image",
                img.width as usize,
                img.height as usize,
                &img.rgb,
                img.width > 64,
            );
        }
        self.image_texture.clone()
    }

    /// The image row (open, clear) and the thumbnail.
    pub(super) fn image_ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>) {
        ui.horizontal(|ui| {
            ui.strong("Image");
            if ui.button("Open image…").clicked()
                && let Some(path) = ctx.pick(
                    Pick::File {
                        name: "images",
                        extensions: &IMAGE_EXTENSIONS,
                    },
                    None,
                )
            {
                ctx.request(Request::Open(path));
            }
            if self.image.is_some() && ui.button("Clear image").clicked() {
                self.image = None;
                self.changed = true;
            }
        });
        let egui_ctx = ui.ctx().clone();
        match (self.image_texture(&egui_ctx), &self.image) {
            (Some(tex), Some(img)) => {
                let (_, response) = widgets::texture(ui, &tex, egui::vec2(160.0, 160.0));
                response.on_hover_text(format!("{} · {}×{}", img.name, img.width, img.height));
                ui.small(format!("{} · {}×{}", img.name, img.width, img.height));
            }
            _ => {
                ui.weak("no image — open one, drop one here, or pick an example");
            }
        }
    }
}
