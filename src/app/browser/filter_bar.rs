//! The dataset panel's filter bar: split, class, missing modality, misclassified only, sort,
//! search, and the confusion-matrix cell in use.

use super::{Filter, Sort};
use crate::data::{Modality, Split};

/// Edit `f` in place.
pub(super) fn filter_bar_ui(
    ui: &mut egui::Ui,
    f: &mut Filter,
    classes: &[String],
    has_model: bool,
) {
    ui.horizontal_wrapped(|ui| {
        ui.label("Split");
        egui::ComboBox::from_id_salt("filter_split")
            .selected_text(f.split.map_or("all", Split::name))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut f.split, None, "all");
                for s in Split::ALL {
                    ui.selectable_value(&mut f.split, Some(s), s.name());
                }
            });
        ui.label("Class");
        egui::ComboBox::from_id_salt("filter_class")
            .selected_text(
                f.class
                    .and_then(|c| classes.get(c))
                    .map_or("all", String::as_str),
            )
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut f.class, None, "all");
                for (c, name) in classes.iter().enumerate() {
                    ui.selectable_value(&mut f.class, Some(c), name);
                }
            });
        ui.label("Missing");
        egui::ComboBox::from_id_salt("filter_missing")
            .selected_text(f.missing.map_or("any", |m| Modality::ALL[m].name()))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut f.missing, None, "any");
                for m in Modality::ALL {
                    ui.selectable_value(&mut f.missing, Some(m.index()), m.name());
                }
            });
        ui.add_enabled(
            has_model,
            egui::Checkbox::new(&mut f.wrong_only, "Misclassified only"),
        );
        ui.label("Sort");
        egui::ComboBox::from_id_salt("filter_sort")
            .selected_text(f.sort.name())
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut f.sort, Sort::Dataset, Sort::Dataset.name());
                if has_model {
                    for s in [
                        Sort::ConfidenceLow,
                        Sort::ConfidenceHigh,
                        Sort::Weight(0),
                        Sort::Weight(1),
                        Sort::Weight(2),
                    ] {
                        ui.selectable_value(&mut f.sort, s, s.name());
                    }
                }
            });
        let label = ui.label("Search");
        ui.add(
            egui::TextEdit::singleline(&mut f.query)
                .desired_width(100.0)
                .hint_text("id or words"),
        )
        .labelled_by(label.id);
        if let Some((t, p)) = f.pair {
            let text = format!(
                "only {} predicted as {} (x)",
                classes.get(t).map_or("?", String::as_str),
                classes.get(p).map_or("?", String::as_str)
            );
            if ui
                .button(text)
                .on_hover_text("confusion-matrix cell; click to remove")
                .clicked()
            {
                f.pair = None;
            }
        }
    });
}
