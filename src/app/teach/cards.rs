//! The class cards: per class its colour, name, how many examples of each modality it has, the
//! ways to add more, and its examples (thumbnail, sentence, sound) to play, move or remove.
//! Files dropped on a card go to its class.

use egui::{Color32, RichText};

use super::super::Inputs;
use super::super::panel::{PanelCtx, Request};
use super::super::widgets;
use super::TeachView;
use crate::data::project::{ClassInfo, Example};
use crate::worker::project::ProjectOp;

/// What a card asked for this frame (carried out after the project is no longer borrowed).
enum CardAction {
    Select(String),
    Op(ProjectOp),
    AddInputs(String),
    Paste(String),
    Camera(String),
    Series(String),
    Rename(String),
    ConfirmDelete(Option<String>),
}

impl TeachView {
    /// Add a class, then one card per class.
    pub(super) fn cards_ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>, inputs: &Inputs) {
        ui.horizontal(|ui| {
            let l = ui.label("New class");
            let field = ui
                .add(
                    egui::TextEdit::singleline(&mut self.new_class)
                        .hint_text("e.g. cup")
                        .desired_width(140.0),
                )
                .labelled_by(l.id);
            let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            let name = self.new_class.trim().to_owned();
            if (ui
                .add_enabled(!name.is_empty(), egui::Button::new("Add class"))
                .clicked()
                || enter)
                && !name.is_empty()
                && self.change(ctx.jobs, ProjectOp::AddClass(name))
            {
                self.new_class.clear();
            }
        });
        ui.checkbox(
            &mut self.pair_dropped,
            "Files dropped together: pair the i-th image with the i-th sound",
        )
        .on_hover_text(
            "on: images and WAV files dropped at once become image + sound examples, in the \
             order given (the rest stay single); off: one example per file",
        );
        let Some(snapshot) = self.snapshot.take() else {
            return;
        };
        if snapshot.project.classes.is_empty() {
            ui.weak("No classes yet: add two or more, e.g. 'cup' and 'keys'.");
        }
        let hovering_files = ui.ctx().input(|i| !i.raw.hovered_files.is_empty());
        let pointer = ui.ctx().input(|i| i.pointer.latest_pos());
        let mut actions = Vec::new();
        let mut rects = Vec::new();
        for class in &snapshot.project.classes {
            let rect = self.card_ui(
                ui,
                ctx,
                &snapshot,
                class,
                inputs,
                hovering_files && pointer.is_some_and(|p| self.card_rect_contains(&class.name, p)),
                &mut actions,
            );
            rects.push((class.name.clone(), rect));
            ui.add_space(6.0);
        }
        self.snapshot = Some(snapshot);
        self.card_rects = rects;
        for action in actions {
            self.act(action, ctx, inputs);
        }
    }

    fn card_rect_contains(&self, class: &str, pos: egui::Pos2) -> bool {
        self.card_rects
            .iter()
            .any(|(c, r)| c == class && r.contains(pos))
    }

    fn act(&mut self, action: CardAction, ctx: &mut PanelCtx<'_>, inputs: &Inputs) {
        match action {
            CardAction::Select(class) => self.selected = Some(class),
            CardAction::Op(op) => {
                self.change(ctx.jobs, op);
            }
            CardAction::AddInputs(class) => self.add_inputs(ctx.jobs, &class, inputs),
            CardAction::Paste(class) => match crate::capture::paste_image() {
                Ok(frame) => self.add_frame(ctx.jobs, &class, frame),
                Err(e) => self.error = Some(e.to_string()),
            },
            CardAction::Camera(class) => self.grab_camera(ctx, &class),
            CardAction::Series(class) => {
                let config = self.series;
                if let Err(e) = self.live.start_series(&class, config) {
                    self.error = Some(e);
                }
            }
            CardAction::Rename(class) => self.renaming = Some((class.clone(), class)),
            CardAction::ConfirmDelete(class) => self.confirm_delete = class,
        }
    }

    /// A frame from the camera (opened on first use) into `class`.
    fn grab_camera(&mut self, ctx: &mut PanelCtx<'_>, class: &str) {
        if self.camera.is_none() {
            match crate::capture::open_camera() {
                Ok(c) => self.camera = Some(c),
                Err(e) => {
                    self.camera_status = Some(Err(e.to_string()));
                    self.error = Some(e.to_string());
                    return;
                }
            }
        }
        let Some(camera) = self.camera.as_mut() else {
            return;
        };
        match camera.grab() {
            Ok(frame) => self.add_frame(ctx.jobs, class, frame),
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    /// Whether the camera button works, and why not (checked once).
    fn camera_state(&mut self) -> Result<String, String> {
        if self.camera.is_some() {
            return Ok(self.camera.as_ref().map(|c| c.name()).unwrap_or_default());
        }
        self.camera_status
            .get_or_insert_with(|| crate::capture::probe_camera().map_err(|e| e.to_string()))
            .clone()
    }

    #[allow(clippy::too_many_arguments)] // one card: its class, the project and the frame's state
    fn card_ui(
        &mut self,
        ui: &mut egui::Ui,
        ctx: &mut PanelCtx<'_>,
        snapshot: &crate::worker::project::ProjectSnapshot,
        class: &ClassInfo,
        inputs: &Inputs,
        drop_here: bool,
        actions: &mut Vec<CardAction>,
    ) -> egui::Rect {
        let project = &snapshot.project;
        let [r, g, b] = class.colour;
        let colour = Color32::from_rgb(r, g, b);
        let selected = self.selected.as_deref() == Some(class.name.as_str());
        let stroke = if drop_here {
            egui::Stroke::new(3.0, ui.visuals().selection.stroke.color)
        } else if selected {
            egui::Stroke::new(2.0, colour)
        } else {
            egui::Stroke::new(1.0, ui.visuals().widgets.noninteractive.bg_stroke.color)
        };
        let frame = egui::Frame::group(ui.style()).stroke(stroke);
        let response = frame.show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.horizontal(|ui| {
                let mut c = class.colour;
                if egui::color_picker::color_edit_button_srgb(ui, &mut c).changed() {
                    actions.push(CardAction::Op(ProjectOp::SetColour {
                        class: class.name.clone(),
                        colour: c,
                    }));
                }
                let renaming = self
                    .renaming
                    .as_ref()
                    .is_some_and(|(c, _)| *c == class.name);
                if renaming {
                    self.rename_field_ui(ui, ctx, &class.name);
                } else {
                    let title = RichText::new(&class.name).strong().color(colour);
                    if ui
                        .selectable_label(selected, title)
                        .on_hover_text(
                            "select: holding Space records a clip into the selected class",
                        )
                        .clicked()
                    {
                        actions.push(CardAction::Select(class.name.clone()));
                    }
                }
                let [i, t, a] = project.counts(&class.name);
                ui.weak(format!("{i} images · {t} texts · {a} sounds"));
            });
            self.card_buttons_ui(ui, &class.name, inputs, actions);
            if self.confirm_delete.as_deref() == Some(class.name.as_str()) {
                let n = project.examples_of(&class.name).count();
                ui.horizontal(|ui| {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        format!("Delete '{}' and its {n} examples?", class.name),
                    );
                    if ui.button("Yes, delete").clicked() {
                        actions.push(CardAction::Op(ProjectOp::DeleteClass(class.name.clone())));
                        actions.push(CardAction::ConfirmDelete(None));
                    }
                    if ui.button("Keep").clicked() {
                        actions.push(CardAction::ConfirmDelete(None));
                    }
                });
            }
            let examples: Vec<&Example> = project.examples_of(&class.name).collect();
            if examples.is_empty() {
                ui.weak("no examples yet — add the inputs, record a series, or drop files here");
            }
            ui.horizontal_wrapped(|ui| {
                for example in examples {
                    self.example_ui(ui, ctx, snapshot, example, actions);
                }
            });
        });
        response.response.rect
    }

    fn rename_field_ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>, class: &str) {
        let Some((_, text)) = self.renaming.as_mut() else {
            return;
        };
        let field = ui.add(egui::TextEdit::singleline(text).desired_width(120.0));
        field.request_focus();
        let enter = ui.input(|i| i.key_pressed(egui::Key::Enter));
        let escape = ui.input(|i| i.key_pressed(egui::Key::Escape));
        let ok = ui.small_button("Rename").clicked() || enter;
        if escape || ui.small_button("Cancel").clicked() {
            self.renaming = None;
        } else if ok {
            let to = text.trim().to_owned();
            self.renaming = None;
            if to != class && !to.is_empty() {
                self.change(
                    ctx.jobs,
                    ProjectOp::RenameClass {
                        from: class.to_owned(),
                        to,
                    },
                );
            }
        }
    }

    fn card_buttons_ui(
        &mut self,
        ui: &mut egui::Ui,
        class: &str,
        inputs: &Inputs,
        actions: &mut Vec<CardAction>,
    ) {
        let camera = self.camera_state();
        let recording = self.live.is_active();
        ui.horizontal_wrapped(|ui| {
            let has_inputs = inputs.present().iter().any(|&p| p);
            if ui
                .add_enabled(has_inputs, egui::Button::new("Add current inputs"))
                .on_hover_text("the picture, sentence and sound now in Inputs become one example")
                .on_disabled_hover_text("open an image, type a sentence or record a sound first")
                .clicked()
            {
                actions.push(CardAction::AddInputs(class.to_owned()));
            }
            let why = super::live::mic_reason(&inputs.mic);
            if ui
                .add_enabled(
                    why.is_none() && !recording,
                    egui::Button::new(format!(
                        "Record {} × {:.1} s",
                        self.series.clips, self.series.clip_seconds
                    )),
                )
                .on_hover_text(
                    "a countdown, then one clip after another, each an example of this class",
                )
                .on_disabled_hover_text(why.unwrap_or_else(|| "a recording is going on".into()))
                .clicked()
            {
                actions.push(CardAction::Series(class.to_owned()));
            }
            if ui
                .button("Paste image")
                .on_hover_text("the picture on the clipboard becomes an example of this class")
                .clicked()
            {
                actions.push(CardAction::Paste(class.to_owned()));
            }
            let (enabled, why) = match &camera {
                Ok(name) => (true, format!("grab a frame from {name}")),
                Err(reason) => (false, reason.clone()),
            };
            if ui
                .add_enabled(enabled, egui::Button::new("Camera"))
                .on_hover_text(&why)
                .on_disabled_hover_text(&why)
                .clicked()
            {
                actions.push(CardAction::Camera(class.to_owned()));
            }
            if ui.small_button("Rename").clicked() {
                actions.push(CardAction::Rename(class.to_owned()));
            }
            if ui.small_button("Delete").clicked() {
                actions.push(CardAction::ConfirmDelete(Some(class.to_owned())));
            }
        });
    }

    /// One example: its thumbnail, sentence or a sound mark; right-click to play, move, remove.
    fn example_ui(
        &mut self,
        ui: &mut egui::Ui,
        ctx: &mut PanelCtx<'_>,
        snapshot: &crate::worker::project::ProjectSnapshot,
        example: &Example,
        actions: &mut Vec<CardAction>,
    ) {
        let project = &snapshot.project;
        let tex = example.image.as_ref().and_then(|rel| {
            if !self.textures.contains_key(rel) {
                let thumb = snapshot.thumbnails.get(rel)?;
                let t = widgets::rgb_texture(
                    ui.ctx(),
                    &format!("teach:{}", rel.display()),
                    thumb.width as usize,
                    thumb.height as usize,
                    &thumb.rgb,
                    false,
                )?;
                self.textures.insert(rel.clone(), t);
            }
            self.textures.get(rel).cloned()
        });
        // A known size lets the wrapping row move a whole tile to the next line.
        let tile = ui
            .allocate_ui(egui::vec2(80.0, 112.0), |ui| {
                ui.group(|ui| {
                    ui.vertical(|ui| {
                        ui.set_width(64.0);
                        if let Some(tex) = &tex {
                            widgets::texture(ui, tex, egui::vec2(56.0, 56.0));
                        }
                        if let Some(text) = &example.text {
                            ui.add(egui::Label::new(RichText::new(text).small()).truncate());
                        }
                        if let Some(rel) = &example.audio
                            && ui.small_button("Play").on_hover_text("play it").clicked()
                        {
                            ctx.request(Request::PlayFile(project.file(rel)));
                        }
                    });
                })
            })
            .inner
            .response;
        let id = example.id.clone();
        let tile = tile
            .interact(egui::Sense::click())
            .on_hover_text(format!("{id} — right-click to move or remove"));
        // Screen readers (and tests) find the tile by its id.
        tile.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &id));
        tile.context_menu(|ui| {
            for other in project.classes.iter().filter(|c| c.name != example.label) {
                if ui.button(format!("Move to '{}'", other.name)).clicked() {
                    actions.push(CardAction::Op(ProjectOp::MoveExample {
                        id: example.id.clone(),
                        to: other.name.clone(),
                    }));
                    ui.close();
                }
            }
            if ui.button("Remove").clicked() {
                actions.push(CardAction::Op(ProjectOp::RemoveExample(example.id.clone())));
                ui.close();
            }
        });
    }
}
