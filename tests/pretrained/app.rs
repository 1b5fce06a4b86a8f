//! The app with pretrained encoders (egui_kittest, headless, the real worker): pick the three
//! backbones in Training, train on a small folder dataset, and the Predict panel explains the
//! prediction on the backbones' own tokens (7 × 7 heatmap, words, 80 ms audio windows).

use egui_kittest::kittest::Queryable as _;
use fusionlab::app::Tab;
use fusionlab::model::{Backbone, Backbones};

use crate::harness::{harness, wait_for};
use crate::support::{backbone, folder_dataset};

#[test]
fn pretrained_encoders_picked_in_training_train_and_the_predict_panel_explains_them() {
    let test = "pretrained_encoders_picked_in_training_train_and_the_predict_panel_explains_them";
    if Backbone::ALL
        .into_iter()
        .any(|b| backbone(b, test).is_none())
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    folder_dataset(tmp.path());
    let mut h = harness(&tmp.path().display().to_string());
    wait_for(&mut h, "the dataset", 120, |a| {
        a.browser
            .exploration
            .as_ref()
            .is_some_and(|e| !e.samples.is_empty())
    });
    h.state_mut().settings.tab = Tab::Training;
    h.state_mut().settings.train.epochs = 8;
    h.run_steps(3);
    for (menu, option) in [
        ("Image encoder", "efficientnet-lite0 (pretrained)"),
        ("Text encoder", "minilm-l6-v2 (pretrained)"),
        ("Audio encoder", "speech-embedding (pretrained)"),
    ] {
        h.query_all_by_label(menu).last().unwrap().click();
        h.run_steps(3);
        h.get_by_label(option).click();
        h.run_steps(3);
    }
    assert_eq!(h.state().settings.train.backbones, Backbones::all());
    h.get_by_label("Train attention").click();
    wait_for(&mut h, "training to start", 60, |a| a.jobs.is_training());
    wait_for(&mut h, "training to finish", 600, |a| !a.jobs.is_training());
    let run = h.state().training.runs.last().cloned().unwrap();
    assert!(
        run.summary.is_some(),
        "the run ended without a summary: {:?}",
        h.state().training.error
    );
    let card = h.state().model.card.clone().unwrap();
    assert_eq!(card.model.backbones, Backbones::all());

    h.state_mut().settings.tab = Tab::Predict;
    h.run_steps(3);
    h.get_by_label("Random dataset sample").click();
    wait_for(&mut h, "a prediction with all three inputs", 120, |a| {
        a.predict
            .current
            .as_ref()
            .is_some_and(|p| p.present == [true, true, true])
    });
    let p = h.state().predict.current.clone().unwrap();
    assert_eq!(p.image_grid, 7);
    assert_eq!(p.attention[0].len(), 49);
    // The words of the sentence, not word pieces; one weight each.
    let sentence = h.state().inputs.text.clone();
    assert!(!p.words.is_empty());
    assert!(
        p.words.iter().all(|w| sentence.contains(w.as_str())),
        "{:?} vs {sentence}",
        p.words
    );
    assert_eq!(p.attention[1].len(), p.words.len());
    // Every word piece's weight reaches its word (the last words used to get none).
    assert!(
        p.attention[1].iter().all(|&w| w > 0.0),
        "{:?} {:?}",
        p.words,
        p.attention[1]
    );
    assert_eq!(p.frame_ms, 80.0);
    // Window 0 is centred 109 ms before the clip starts (0.5 s of silence is put before it).
    assert_eq!(p.frame_span_ms(0), (-149.0, -69.0));
    assert_eq!(p.frame_span_ms(2).0, 11.0);
    h.get_by_label_contains("× 80 ms");
}
