//! The text part of the inputs panel: the sentence and its Clear button.

use super::Inputs;

impl Inputs {
    /// The text row (clear) and the sentence field.
    pub(super) fn text_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.strong("Text");
            if !self.text.is_empty() && ui.button("Clear text").clicked() {
                self.text.clear();
                self.changed = true;
            }
        });
        let label = ui.label("Sentence");
        let response = ui
            .add(
                egui::TextEdit::multiline(&mut self.text)
                    .hint_text("type a sentence, e.g. \"a big red circle\"")
                    .desired_rows(2)
                    .desired_width(ui.available_width()),
            )
            .labelled_by(label.id);
        if response.changed() {
            self.changed = true;
        }
    }
}
