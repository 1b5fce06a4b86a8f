//! The project bar: make a new project (name, folder), open one, and which one is open.

use std::path::PathBuf;

use super::super::inputs::Pick;
use super::super::panel::PanelCtx;
use super::TeachView;
use crate::worker::project::ProjectOp;

/// The new-project form.
#[derive(Clone, Debug, Default)]
pub struct NewProjectForm {
    /// Shown?
    pub open: bool,
    /// The project's name.
    pub name: String,
    /// Its folder (empty: `projects/<name>` under the working folder).
    pub folder: String,
}

impl NewProjectForm {
    /// The folder the project goes to.
    pub fn target(&self) -> PathBuf {
        let folder = self.folder.trim();
        if folder.is_empty() {
            default_projects_dir().join(super::project_model_name(&self.name))
        } else {
            PathBuf::from(folder)
        }
    }
}

/// Where new projects go when no folder is given: `~/fusionlab-projects`, else `projects/`.
pub fn default_projects_dir() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map_or_else(
            || PathBuf::from("projects"),
            |h| PathBuf::from(h).join("fusionlab-projects"),
        )
}

impl TeachView {
    /// New / open, the project's name and folder, and what was done last.
    pub(super) fn project_bar_ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>) {
        ui.horizontal_wrapped(|ui| {
            if ui.button("New project…").clicked() {
                self.form.open = !self.form.open;
            }
            if ui
                .button("Open project…")
                .on_hover_text("a folder made with New project")
                .clicked()
                && let Some(dir) = ctx.pick(Pick::Folder, None)
            {
                self.open(ctx.jobs, &dir);
            }
            match (self.project(), &self.dir) {
                (Some(p), _) => {
                    ui.strong(&p.name);
                    ui.weak(p.dir.display().to_string());
                }
                (None, Some(dir)) if self.busy() => {
                    ui.weak(format!("opening {}…", dir.display()));
                }
                _ => {
                    ui.weak("no project open");
                }
            }
            if self.busy() {
                super::super::widgets::quiet_spinner(ui);
            }
        });
        if self.form.open {
            self.new_project_ui(ui, ctx);
        }
        if let Some(done) = &self.done {
            ui.small(done);
        }
    }

    fn new_project_ui(&mut self, ui: &mut egui::Ui, ctx: &mut PanelCtx<'_>) {
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.horizontal(|ui| {
                let l = ui.label("Name");
                ui.add(
                    egui::TextEdit::singleline(&mut self.form.name)
                        .hint_text("e.g. cup or keys")
                        .desired_width(160.0),
                )
                .labelled_by(l.id);
            });
            ui.horizontal(|ui| {
                let l = ui.label("Folder");
                let hint = self.form.target().display().to_string();
                ui.add(
                    egui::TextEdit::singleline(&mut self.form.folder)
                        .hint_text(hint)
                        .desired_width(260.0),
                )
                .labelled_by(l.id)
                .on_hover_text("an empty or new folder; left empty, the one shown is used");
                if ui.button("Choose…").clicked()
                    && let Some(dir) = ctx.pick(Pick::Folder, None)
                {
                    self.form.folder = dir.display().to_string();
                }
            });
            ui.horizontal(|ui| {
                let name = self.form.name.trim().to_owned();
                if ui
                    .add_enabled(!name.is_empty(), egui::Button::new("Create"))
                    .on_disabled_hover_text("give the project a name")
                    .clicked()
                {
                    let dir = self.form.target();
                    self.dir = Some(dir.clone());
                    self.error = None;
                    self.send(ctx.jobs, &dir, ProjectOp::Create { name });
                    self.form = NewProjectForm::default();
                }
                if ui.button("Cancel").clicked() {
                    self.form = NewProjectForm::default();
                }
            });
            ui.small(
                "A project is a folder in the Hugging Face layout: metadata.csv (file_name, \
                 label, text, audio) with the files beside it — it trains from the CLI too.",
            );
        });
    }
}
