//! The Learn panel: how each fusion method joins the three modalities (an explanation, its
//! equation, a diagram and when it works), what each synthetic dataset is for, and "Try it"
//! buttons that set up a dataset and a method to watch the idea in action.
//!
//! Only characters that the default fonts can draw are used: the equations are monospace (Hack),
//! everything else proportional (Ubuntu-Light); circled operators are drawn with the painter.

use egui::{
    Align2, Color32, FontId, Painter, Pos2, Rect, RichText, Sense, Shape, Stroke, pos2, vec2,
};

use crate::data::synthetic::Preset;
use crate::model::FusionKind;

/// What a "Try it" button asks the app to set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TryIt {
    /// The synthetic dataset to load.
    pub preset: Preset,
    /// The fusion method to train on it.
    pub fusion: FusionKind,
}

/// State of the Learn panel.
#[derive(Clone, Debug)]
pub struct LearnView {
    /// The method being explained.
    pub method: FusionKind,
    /// The dataset being explained.
    pub preset: Preset,
}

impl Default for LearnView {
    fn default() -> Self {
        Self {
            method: FusionKind::Attention,
            preset: Preset::Redundant,
        }
    }
}

impl LearnView {
    /// Draw the panel. Returns the setup to apply when a "Try it" button was clicked.
    pub fn ui(&mut self, ui: &mut egui::Ui) -> Option<TryIt> {
        let mut chosen = None;
        egui::ScrollArea::vertical()
            .id_salt("learn_scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                ui.horizontal_wrapped(|ui| {
                    ui.label("Fusion method:");
                    for kind in FusionKind::ALL {
                        ui.selectable_value(&mut self.method, kind, kind.name())
                            .on_hover_text(kind.explanation());
                    }
                });
                ui.add_space(6.0);
                let method = self.method;
                ui.heading(title(method));
                ui.label(method.explanation());
                ui.add_space(4.0);
                egui::Frame::group(ui.style()).show(ui, |ui| {
                    ui.label(RichText::new(equation(method)).monospace().size(15.0));
                });
                ui.add_space(4.0);
                diagram(ui, method);
                ui.add_space(2.0);
                ui.label(RichText::new(legend(method)).size(12.5));
                ui.add_space(6.0);
                ui.label(when_it_works(method));
                ui.add_space(4.0);
                let (preset, watch) = try_it(method);
                if ui
                    .button(format!("Try it: {} with {}", preset.name(), method.name()))
                    .on_hover_text(watch)
                    .clicked()
                {
                    chosen = Some(TryIt {
                        preset,
                        fusion: method,
                    });
                }
                ui.label(RichText::new(format!("What to watch: {watch}")).italics());

                ui.add_space(8.0);
                ui.separator();
                ui.heading("Datasets");
                ui.horizontal_wrapped(|ui| {
                    ui.label("Synthetic dataset:");
                    for preset in Preset::ALL {
                        ui.selectable_value(&mut self.preset, preset, preset.name());
                    }
                });
                ui.add_space(4.0);
                let preset = self.preset;
                ui.label(preset.explanation());
                ui.add_space(4.0);
                let (question, look) = guided_question(preset);
                ui.label(RichText::new(question).strong());
                ui.label(look);
                ui.add_space(4.0);
                if ui
                    .button(format!("Open {}", preset.name()))
                    .on_hover_text(format!(
                        "Load the {} dataset and set the fusion method to {}.",
                        preset.name(),
                        method.name()
                    ))
                    .clicked()
                {
                    chosen = Some(TryIt {
                        preset,
                        fusion: method,
                    });
                }
            });
        chosen
    }
}

/// The heading of a method (not just its name, so that it differs from the selector's label).
fn title(fusion: FusionKind) -> &'static str {
    match fusion {
        FusionKind::Early => "Early fusion (concatenation)",
        FusionKind::Late => "Late fusion (weighted vote)",
        FusionKind::Gated => "Gated fusion (gated multimodal unit)",
        FusionKind::Attention => "Attention fusion (attention over modalities)",
        FusionKind::Tensor => "Tensor fusion (outer product)",
        FusionKind::LowRank => "Low-rank fusion (LMF)",
        FusionKind::CrossModal => "Cross-modal transformer",
    }
}

/// The method's equation, as plain text that the default fonts can draw.
pub fn equation(fusion: FusionKind) -> &'static str {
    match fusion {
        FusionKind::Early => {
            "x      = [z_I; z_T; z_A; p_I; p_T; p_A]   (3·64 + 3 = 195)\n\
             h      = ReLU(W_1 x + b_1)\n\
             logits = W_2 h + b_2\n\
             p_m    = 1 if modality m is given, else 0 (and z_m = 0)"
        }
        FusionKind::Late => {
            "p_m    = softmax(W_m z_m + b_m)       m = I, T, A\n\
             w      = softmax(u) over the present modalities\n\
             P(y)   = Σ_m w_m · p_m(y)           u: 3 learned numbers"
        }
        FusionKind::Gated => {
            "h_m    = tanh(W_m z_m)                m = I, T, A\n\
             g      = softmax_m(W_g [z_I; z_T; z_A])   per hidden unit\n\
             h      = Σ_m g_m ⊙ h_m\n\
             logits = W_o h + b_o"
        }
        FusionKind::Attention => {
            "e_m    = v · tanh(W z_m)              one score per modality\n\
             α_m    = softmax_m(e_m)               over the present ones\n\
             h      = Σ_m α_m z_m\n\
             logits = W_2 ReLU(W_1 h + b_1) + b_2"
        }
        FusionKind::Tensor => {
            "t_m    = ReLU(P_m z_m)                64 -> d = 8 numbers\n\
             Z      = [t_I; 1] ⊗ [t_T; 1] ⊗ [t_A; 1]   (d+1)³ = 729\n\
             logits = W_2 ReLU(W_1 vec(Z) + b_1) + b_2"
        }
        FusionKind::LowRank => {
            "f_m^i  = W_m^i [z_m; 1]               i = 1..r, r = 4\n\
             h      = ReLU(Σ_i f_I^i ∘ f_T^i ∘ f_A^i + b)\n\
             logits = W_o h + b_o"
        }
        FusionKind::CrossModal => {
            "X      = [CLS; image positions; words; audio frames]\n\
             \x20        (each projected, plus its modality's embedding)\n\
             X'     = Transformer(X, mask = absent or padding tokens)\n\
             logits = W_o X'[CLS]\n\
             w_m    = Σ [CLS]'s attention over modality m's tokens"
        }
    }
}

/// A caption for the diagram: what its symbols mean.
fn legend(fusion: FusionKind) -> &'static str {
    match fusion {
        FusionKind::Early => {
            "The fused vector stacks the three embeddings and three presence flags (grey): a flag \
             is 1 for a given modality and 0 for a missing one, whose embedding is all zeros."
        }
        FusionKind::Late => {
            "Each classifier sees one modality only; its bars are that modality's class \
             probabilities. w_I, w_T, w_A are three learned numbers (a softmax over the present \
             modalities), the same for every sample."
        }
        FusionKind::Gated => {
            "tanh boxes: h_m = tanh(W_m z_m). The gates g come from one layer that reads all three \
             embeddings (a softmax over modalities for every hidden unit); the circled dots \
             multiply element by element and Σ adds the gated vectors."
        }
        FusionKind::Attention => {
            "Each α is computed for this sample from a score of its own modality's embedding, then \
             a softmax over the present modalities; Σ is the α-weighted average of the embeddings."
        }
        FusionKind::Tensor => {
            "Each embedding is squeezed to d = 8 numbers and a 1 is appended; the circled cross is \
             the outer product, a 9 × 9 × 9 cube holding every product of one number from each \
             modality (the appended 1s keep the single-modality and pairwise terms too)."
        }
        FusionKind::LowRank => {
            "Each of the r = 4 small circles multiplies, element by element, one linear map of each \
             [z; 1]; the r results are added, so the cube of tensor fusion is never built."
        }
        FusionKind::CrossModal => {
            "Squares are tokens: image positions, words and audio frames, each with a \
             modality-type embedding. In the transformer every token attends to every other; the \
             [CLS] token's output goes to the classifier."
        }
    }
}

/// One paragraph: when the method works and when it fails.
pub fn when_it_works(fusion: FusionKind) -> &'static str {
    match fusion {
        FusionKind::Early => {
            "Works when there is enough data and the modalities are comparably clean: the hidden \
             layer sees every number of every modality at once, so it can learn any interaction, \
             xor included. It struggles when one modality is much noisier or larger than the \
             others (its numbers can swamp the hidden layer) and when data is scarce. A missing \
             modality is only a zero vector plus a flag, so it copes with holes only if it saw \
             them in training. It has no modality weights of its own; the app shows Shapley \
             values instead."
        }
        FusionKind::Late => {
            "Works when every modality can decide on its own (redundant, noisy-image): it is \
             simple, hard to overfit, and a missing modality just drops out of the weighted sum. \
             It fails whenever the answer lies in a combination: on xor it stays near chance, \
             because adding up per-modality votes can never express \"the shape and the pitch \
             match\". Its three weights are the same for every sample, so it cannot trust the \
             image less on just the noisy pictures."
        }
        FusionKind::Gated => {
            "Works when the usefulness of a modality varies from sample to sample: the gate is \
             computed for each sample and each hidden unit, so it can turn a noisy picture down on \
             one input and lean on it on another. Every h_m comes from one modality alone, so \
             interactions must pass through the gate; pure-interaction tasks like xor are harder \
             than for early or tensor fusion. The weights shown are the gates averaged over the \
             hidden units for this sample: they describe this input, not the whole dataset."
        }
        FusionKind::Attention => {
            "Works when one modality is more reliable than the others for a given input \
             (noisy-image) and when modalities can be missing: the softmax runs over the present \
             modalities only, so an absent one simply drops out. The weights α are per sample and \
             easy to read, but they are not proof: each score looks at one modality alone, a \
             modality with a small α can still matter through the MLP, and attention can lock onto \
             one modality early in training. Compare α with the Shapley values in Analysis > \
             Modality contribution."
        }
        FusionKind::Tensor => {
            "Works best when the answer lies in a combination (xor): the outer product contains \
             every product of an image number, a text number and an audio number, each with its \
             own weight, and the appended 1s keep the single and pairwise terms. The price is \
             size: the fused vector has (d+1)³ entries, 729 for d = 8; with the full 64 numbers \
             it would be 65³ = 274,625 per hidden unit, so each embedding is first squeezed to d \
             numbers, which can throw information away. Many weights overfit small datasets, and \
             there are no native weights (Shapley values are shown)."
        }
        FusionKind::LowRank => {
            "Works on interaction tasks like tensor fusion, but never builds the cube: the weight \
             tensor is a sum of r rank-one pieces, so the cost grows linearly with the number of \
             modalities instead of exponentially, and each modality keeps all 64 numbers (no \
             squeeze to d). Too small a rank limits which interactions it can express, and a \
             product of three learned factors can make training touchier about the learning \
             rate. No native weights (Shapley values are shown)."
        }
        FusionKind::CrossModal => {
            "The most expressive method: every image position, word and audio frame can attend to \
             every other before [CLS] gathers the answer, so it can relate one word to one part \
             of the picture or the sound. It needs more data and more time: epochs are several \
             times slower, learning often starts slowly, and small datasets overfit. Missing \
             modalities are masked out of attention. The weights shown are the [CLS] token's \
             attention in the last layer summed per modality: a view of where it looked, not a \
             full account of what mattered."
        }
    }
}

/// The preset that best shows the method's character, and what to watch for once it is trained.
pub fn try_it(fusion: FusionKind) -> (Preset, &'static str) {
    match fusion {
        FusionKind::Early => (
            Preset::Xor,
            "Training > Accuracy climbs well above chance (50 % with two classes), while \
             One-modality accuracy stays near chance for every modality: the answer lives only \
             in the combination, and the hidden layer finds it.",
        ),
        FusionKind::Late => (
            Preset::Xor,
            "Watch it fail: the validation accuracy stays near chance (about 50 % with two \
             classes) however long it trains, because each modality alone says nothing. Then \
             train tensor or early fusion on the same data, or all methods at once in Analysis > \
             Compare fusion methods.",
        ),
        FusionKind::Gated => (
            Preset::NoisyImage,
            "Training > Modality weights and the bars in Predict: the image's gate weight should \
             end up the smallest of the three, while the accuracy stays high thanks to the text \
             and the sound.",
        ),
        FusionKind::Attention => (
            Preset::Missing,
            "Predict a sample, then untick 'use image' under What if: α is recomputed over the \
             two remaining modalities and the answer usually stays. A sample with a missing \
             modality never gives it any weight.",
        ),
        FusionKind::Tensor => (
            Preset::Xor,
            "Training > Accuracy rises far above chance while One-modality accuracy stays near \
             chance. Train late fusion on the same data and tick both runs to overlay them.",
        ),
        FusionKind::LowRank => (
            Preset::Xor,
            "Training > Accuracy rises well above chance, as with tensor fusion, without building \
             the 729-entry cube. Train tensor fusion too and tick both runs to overlay them.",
        ),
        FusionKind::CrossModal => (
            Preset::Complementary,
            "Training: epochs are slower and the accuracy starts slowly before rising far above \
             the 25 % that any one modality allows. In Predict, 'Where the model looked' shows \
             which image positions, words and sound frames the [CLS] token attended to.",
        ),
    }
}

/// For each preset: a guided question and what to look at in the app to answer it.
pub fn guided_question(preset: Preset) -> (&'static str, &'static str) {
    match preset {
        Preset::Redundant => (
            "If you hide one modality with the what-if checkboxes, does the answer change?",
            "In Predict, untick 'use image', then 'use text', then 'use audio', and watch the \
             class bars: the answer should stay and only its probability move. Training > \
             One-modality accuracy shows each modality alone is nearly as good as all three; in \
             Analysis > Robustness the 'missing' curves stay high; in Projections the image, \
             text and audio embeddings each separate the classes.",
        ),
        Preset::Complementary => (
            "Can any single modality tell the class on its own?",
            "Training > One-modality accuracy: each modality alone stays near 25 % (chance is \
             12.5 % with 8 classes), while the full model gets far higher. In Predict, untick \
             any modality: the answer often changes. In Projections, the image embedding tends \
             to form only two groups (circle or cross), each holding four classes.",
        ),
        Preset::Xor => (
            "The picture and the sound each say nothing alone: how can they decide the class together?",
            "Analysis > Compare fusion methods: train late and tensor (or every method) on xor \
             and compare the accuracies: late stays near chance, the methods that model \
             interactions rise. Training > One-modality accuracy stays near chance for every \
             modality. In Predict, untick 'use text': the answer barely moves, because the \
             sentence is a distraction.",
        ),
        Preset::NoisyImage => (
            "Which modality does the model trust least, and does it learn that by itself?",
            "Predict: compare the modality weights over several samples; the image's should be \
             the smallest. Training > Modality weights shows how that develops over the epochs, \
             and Analysis > Modality contribution puts the method's own weights next to Shapley \
             values. Analysis > Robustness: more image noise should hurt little, because the \
             model already leans on the text and the sound.",
        ),
        Preset::Missing => (
            "What does the model do when a modality is absent?",
            "In the Dataset panel, open samples with a missing modality and predict them: the \
             weights are shared among the present modalities only. Analysis > Robustness: \
             compare the 'missing' curves of several methods; those that renormalise over the \
             present modalities (late, gated, attention, crossmodal) should fall slowly.",
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// The diagram
// ---------------------------------------------------------------------------------------------

/// Colours of the modalities (image, text, audio), as in the rest of the app.
const MODALITY: [Color32; 3] = [
    Color32::from_rgb(0x4c, 0x9b, 0xe8),
    Color32::from_rgb(0xe8, 0x9a, 0x3c),
    Color32::from_rgb(0x5c, 0xc0, 0x6c),
];
const INPUTS: [&str; 3] = ["image", "text", "audio"];
const ENCODERS: [&str; 3] = ["CNN", "GRU", "CNN"];
const SUFFIX: [&str; 3] = ["I", "T", "A"];
const HEIGHT: f32 = 170.0;

/// Drawing helpers bound to one painter and the current theme.
struct Pen<'a> {
    painter: &'a Painter,
    text: Color32,
    line: Stroke,
    fill: Color32,
}

impl Pen<'_> {
    fn font(size: f32) -> FontId {
        FontId::proportional(size)
    }

    /// Text centred at `pos`, or anchored as given.
    fn label(&self, pos: Pos2, anchor: Align2, text: &str, size: f32, colour: Color32) {
        self.painter
            .text(pos, anchor, text, Self::font(size), colour);
    }

    /// A rounded box with a centred label; tinted with `colour` when given.
    fn boxed(&self, rect: Rect, text: &str, colour: Option<Color32>) {
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
    fn boxed2(&self, rect: Rect, text: &str, sub: &str) {
        self.boxed(rect, "", None);
        self.label(
            rect.center() - vec2(0.0, 7.0),
            Align2::CENTER_CENTER,
            text,
            13.0,
            self.text,
        );
        self.label(
            rect.center() + vec2(0.0, 8.0),
            Align2::CENTER_CENTER,
            sub,
            11.0,
            self.text,
        );
    }

    fn line(&self, a: Pos2, b: Pos2, colour: Option<Color32>) {
        let stroke = colour.map_or(self.line, |c| Stroke::new(1.5, c));
        self.painter.line_segment([a, b], stroke);
    }

    /// A straight arrow from `a` to `b` with a filled triangular head at `b`.
    fn arrow(&self, a: Pos2, b: Pos2, colour: Option<Color32>) {
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
    fn node(&self, centre: Pos2, radius: f32, kind: Node) {
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
    fn bars(&self, origin: Pos2, heights: &[f32], colour: Color32) {
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
    fn cube(&self, c: Pos2, size: f32) {
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
enum Node {
    /// Outer product (circled cross).
    Cross,
    /// Element-wise product (circled dot).
    Dot,
    /// Sum.
    Plus,
    /// Sum written as a capital sigma.
    Sigma,
}

/// Where the shared parts of a diagram sit.
/// Where the shared parts of a diagram sit.
struct Layout {
    /// Centre heights of the image, text and audio rows.
    rows: [f32; 3],
    /// Where the encoders' outputs leave (x).
    z_start: f32,
    /// The region in which the method joins the modalities (x range).
    join: (f32, f32),
    /// The classes box.
    classes: Rect,
}

impl Layout {
    /// x at fraction `f` of the join region.
    fn x(&self, f: f32) -> f32 {
        self.join.0 + f * (self.join.1 - self.join.0)
    }

    /// The middle row's height.
    fn mid(&self) -> f32 {
        self.rows[1]
    }

    /// A box from fraction `from` to `to` of the join region, at most `max` wide (centred),
    /// `height` high and centred on `y`.
    fn span(&self, from: f32, to: f32, max: f32, y: f32, height: f32) -> Rect {
        let (a, b) = (self.x(from), self.x(to));
        let centre = (a + b) / 2.0;
        let half = ((b - a) / 2.0).min(max / 2.0);
        Rect::from_min_max(
            pos2(centre - half, y - height / 2.0),
            pos2(centre + half, y + height / 2.0),
        )
    }

    /// Where an arrow into the classes box ends.
    fn classes_in(&self) -> Pos2 {
        pos2(self.classes.left(), self.classes.center().y)
    }
}

/// A schematic of the method: inputs, encoders, the joining step and the classifier.
fn diagram(ui: &mut egui::Ui, fusion: FusionKind) {
    let width = ui.available_width().max(600.0);
    let (response, painter) = ui.allocate_painter(vec2(width, HEIGHT), Sense::hover());
    // Very wide panels: keep the drawing compact instead of stretching every arrow.
    let r = Rect::from_min_size(response.rect.min, vec2(width.min(1150.0), HEIGHT));
    let visuals = ui.visuals();
    let pen = Pen {
        painter: &painter,
        text: visuals.text_color(),
        line: Stroke::new(1.5, visuals.text_color().gamma_multiply(0.8)),
        fill: visuals.extreme_bg_color,
    };
    let rows = [r.top() + 28.0, r.top() + 85.0, r.top() + 142.0];
    let classes = Rect::from_center_size(pos2(r.right() - 40.0, rows[1]), vec2(70.0, 64.0));
    let layout = Layout {
        rows,
        z_start: r.left() + 140.0,
        join: (r.left() + 165.0, classes.left() - 22.0),
        classes,
    };

    // Inputs and encoders.
    for m in 0..3 {
        let y = rows[m];
        let input = Rect::from_min_max(
            pos2(r.left() + 2.0, y - 14.0),
            pos2(r.left() + 64.0, y + 14.0),
        );
        pen.boxed(input, INPUTS[m], Some(MODALITY[m]));
        let encoder = Rect::from_min_max(
            pos2(r.left() + 86.0, y - 14.0),
            pos2(r.left() + 140.0, y + 14.0),
        );
        pen.arrow(pos2(input.right(), y), pos2(encoder.left(), y), None);
        pen.boxed(encoder, ENCODERS[m], None);
        if fusion != FusionKind::CrossModal {
            pen.label(
                pos2(layout.z_start + 5.0, y - 3.0),
                Align2::LEFT_BOTTOM,
                &format!("z_{}", SUFFIX[m]),
                12.0,
                pen.text,
            );
        }
    }

    // Classes.
    pen.boxed(classes, "", None);
    pen.label(
        pos2(classes.center().x, classes.top() + 13.0),
        Align2::CENTER_CENTER,
        "classes",
        13.0,
        pen.text,
    );
    pen.bars(
        pos2(classes.center().x - 13.0, classes.bottom() - 8.0),
        &[0.25, 0.9, 0.15, 0.35],
        pen.line.color,
    );

    match fusion {
        FusionKind::Early => early(&pen, &layout),
        FusionKind::Late => late(&pen, &layout),
        FusionKind::Gated => gated(&pen, &layout),
        FusionKind::Attention => attention(&pen, &layout),
        FusionKind::Tensor => tensor(&pen, &layout),
        FusionKind::LowRank => low_rank(&pen, &layout),
        FusionKind::CrossModal => cross_modal(&pen, &layout),
    }
}

/// The last box before the classes (from `from` to `to` of the join region, on the middle row),
/// with its arrow into the classes box.
fn head_box(pen: &Pen<'_>, l: &Layout, from: f32, to: f32, text: &str, sub: &str) -> Rect {
    let rect = l.span(from, to, 140.0, l.mid(), 40.0);
    if sub.is_empty() {
        pen.boxed(rect, text, None);
    } else {
        pen.boxed2(rect, text, sub);
    }
    pen.arrow(pos2(rect.right(), l.mid()), l.classes_in(), None);
    rect
}

/// Early fusion: one long vector, then an MLP.
fn early(pen: &Pen<'_>, l: &Layout) {
    let x = l.x(0.3);
    let bounds = [
        l.rows[0] - 20.0,
        (l.rows[0] + l.rows[1]) / 2.0,
        (l.rows[1] + l.rows[2]) / 2.0,
        l.rows[2] + 10.0,
        l.rows[2] + 22.0,
    ];
    for m in 0..3 {
        let stripe = Rect::from_min_max(pos2(x - 9.0, bounds[m]), pos2(x + 9.0, bounds[m + 1]));
        pen.painter
            .rect_filled(stripe, 0.0, MODALITY[m].gamma_multiply(0.6));
        pen.arrow(pos2(l.z_start, l.rows[m]), pos2(x - 9.0, l.rows[m]), None);
    }
    let flags = Rect::from_min_max(pos2(x - 9.0, bounds[3]), pos2(x + 9.0, bounds[4]));
    pen.painter.rect_filled(flags, 0.0, Color32::GRAY);
    let whole = Rect::from_min_max(pos2(x - 9.0, bounds[0]), pos2(x + 9.0, bounds[4]));
    pen.painter
        .rect_stroke(whole, 0.0, pen.line, egui::StrokeKind::Middle);
    pen.label(
        pos2(x - 13.0, flags.center().y),
        Align2::RIGHT_CENTER,
        "flags",
        11.0,
        pen.text,
    );
    pen.label(
        pos2(x + 14.0, l.mid() - 6.0),
        Align2::LEFT_BOTTOM,
        "concat",
        13.0,
        pen.text,
    );
    let mlp = head_box(pen, l, 0.55, 0.8, "MLP", "hidden + ReLU");
    pen.arrow(pos2(x + 9.0, l.mid()), pos2(mlp.left(), l.mid()), None);
}

/// Late fusion: a classifier per modality, then a weighted sum of their probabilities.
fn late(pen: &Pen<'_>, l: &Layout) {
    let sum = l.span(0.64, 0.88, 130.0, l.mid(), 40.0);
    let shapes: [[f32; 4]; 3] = [
        [0.2, 0.8, 0.3, 0.2],
        [0.3, 0.6, 0.5, 0.2],
        [0.15, 0.9, 0.2, 0.3],
    ];
    for m in 0..3 {
        let y = l.rows[m];
        let clf = l.span(0.05, 0.27, 120.0, y, 24.0);
        pen.arrow(pos2(l.z_start, y), pos2(clf.left(), y), None);
        pen.boxed(clf, "classifier", Some(MODALITY[m]));
        let bars_x = l.x(0.36);
        pen.arrow(pos2(clf.right(), y), pos2(bars_x - 6.0, y), None);
        pen.bars(pos2(bars_x, y + 10.0), &shapes[m], MODALITY[m]);
        pen.label(
            pos2(bars_x + 14.0, y + 12.0),
            Align2::CENTER_TOP,
            &format!("p_{}", SUFFIX[m]),
            11.0,
            pen.text,
        );
        let from = pos2(bars_x + 32.0, y);
        let to = pos2(sum.left(), l.mid() + (m as f32 - 1.0) * 12.0);
        pen.arrow(from, to, Some(MODALITY[m]));
        let label_at = from + (to - from) * 0.45;
        pen.label(
            label_at + vec2(0.0, -4.0),
            Align2::CENTER_BOTTOM,
            &format!("w_{}", SUFFIX[m]),
            12.0,
            pen.text,
        );
    }
    pen.boxed(sum, "weighted sum", None);
    pen.arrow(pos2(sum.right(), l.mid()), l.classes_in(), None);
}

/// Gated fusion: tanh features per modality, each multiplied by its gate, then summed.
fn gated(pen: &Pen<'_>, l: &Layout) {
    let sum = pos2(l.x(0.64), l.mid());
    for m in 0..3 {
        let y = l.rows[m];
        let tanh = l.span(0.04, 0.2, 100.0, y, 24.0);
        pen.arrow(pos2(l.z_start, y), pos2(tanh.left(), y), None);
        pen.boxed(tanh, "tanh", Some(MODALITY[m]));
        let times = pos2(l.x(0.44), y);
        pen.arrow(pos2(tanh.right(), y), times - vec2(10.0, 0.0), None);
        pen.label(
            pos2(tanh.right() + 16.0, y - 3.0),
            Align2::CENTER_BOTTOM,
            &format!("h_{}", SUFFIX[m]),
            12.0,
            pen.text,
        );
        // This modality's gate, coming in from the upper left.
        let gate = Rect::from_center_size(times + vec2(-40.0, -20.0), vec2(28.0, 15.0));
        pen.painter
            .rect_filled(gate, 3.0, MODALITY[m].gamma_multiply(0.3));
        pen.painter.rect_stroke(
            gate,
            3.0,
            Stroke::new(1.0, MODALITY[m]),
            egui::StrokeKind::Inside,
        );
        pen.label(
            gate.center(),
            Align2::CENTER_CENTER,
            &format!("g_{}", SUFFIX[m]),
            11.0,
            pen.text,
        );
        pen.arrow(
            pos2(gate.right() - 2.0, gate.bottom()),
            times + vec2(-6.5, -6.5),
            None,
        );
        pen.node(times, 9.0, Node::Dot);
        let dir = (sum - times).normalized();
        pen.arrow(times + dir * 9.0, sum - dir * 14.0, Some(MODALITY[m]));
    }
    pen.label(
        pos2(l.x(0.44) - 26.0, l.rows[2] + 13.0),
        Align2::CENTER_TOP,
        "gates g: softmax over modalities, from all three z",
        11.0,
        pen.text,
    );
    pen.node(sum, 14.0, Node::Sigma);
    let lin = head_box(pen, l, 0.76, 0.92, "linear", "");
    pen.arrow(sum + vec2(14.0, 0.0), pos2(lin.left(), l.mid()), None);
    pen.label(
        sum + vec2(20.0, -4.0),
        Align2::LEFT_BOTTOM,
        "h",
        12.0,
        pen.text,
    );
}

/// Attention fusion: a weight per modality on each arrow into a weighted average.
fn attention(pen: &Pen<'_>, l: &Layout) {
    let sum = pos2(l.x(0.45), l.mid());
    for m in 0..3 {
        let y = l.rows[m];
        let bend = pos2(l.x(0.22), y);
        pen.line(pos2(l.z_start, y), bend, Some(MODALITY[m]));
        let dir = (sum - bend).normalized();
        pen.arrow(bend, sum - dir * 15.0, Some(MODALITY[m]));
        // The weight, as a pill on the arrow.
        let pill = Rect::from_center_size(pos2(l.x(0.11), y), vec2(34.0, 18.0));
        pen.painter.rect_filled(pill, 9.0, MODALITY[m]);
        pen.label(
            pill.center(),
            Align2::CENTER_CENTER,
            &format!("α_{}", SUFFIX[m]),
            12.0,
            Color32::BLACK,
        );
    }
    pen.node(sum, 15.0, Node::Sigma);
    pen.label(
        sum + vec2(0.0, 19.0),
        Align2::CENTER_TOP,
        "weighted average",
        11.0,
        pen.text,
    );
    pen.label(
        pos2(l.x(0.11), l.rows[2] + 13.0),
        Align2::CENTER_TOP,
        "α: softmax over present modalities",
        11.0,
        pen.text,
    );
    let mlp = head_box(pen, l, 0.62, 0.86, "MLP", "hidden + ReLU");
    pen.arrow(sum + vec2(15.0, 0.0), pos2(mlp.left(), l.mid()), None);
}

/// Tensor fusion: squeeze, append 1, outer product (a cube), then an MLP.
fn tensor(pen: &Pen<'_>, l: &Layout) {
    let outer = pos2(l.x(0.42), l.mid());
    for (&y, &colour) in l.rows.iter().zip(&MODALITY) {
        let proj = l.span(0.04, 0.18, 90.0, y, 24.0);
        pen.arrow(pos2(l.z_start, y), pos2(proj.left(), y), None);
        pen.boxed(proj, "d = 8", Some(colour));
        let bend = pos2(l.x(0.27), y);
        pen.line(pos2(proj.right(), y), bend, Some(colour));
        pen.label(
            pos2((proj.right() + bend.x) / 2.0, y - 3.0),
            Align2::CENTER_BOTTOM,
            "[t; 1]",
            11.0,
            pen.text,
        );
        let dir = (outer - bend).normalized();
        pen.arrow(bend, outer - dir * 15.0, Some(colour));
    }
    pen.node(outer, 15.0, Node::Cross);
    pen.label(
        outer + vec2(0.0, 19.0),
        Align2::CENTER_TOP,
        "outer product",
        11.0,
        pen.text,
    );
    let cube = pos2(l.x(0.56), l.mid());
    pen.arrow(outer + vec2(15.0, 0.0), cube - vec2(24.0, 0.0), None);
    pen.cube(cube, 30.0);
    pen.label(
        cube + vec2(0.0, 27.0),
        Align2::CENTER_TOP,
        "9 × 9 × 9 = 729",
        11.0,
        pen.text,
    );
    let mlp = head_box(pen, l, 0.7, 0.9, "MLP", "hidden + ReLU");
    pen.arrow(cube + vec2(22.0, 0.0), pos2(mlp.left(), l.mid()), None);
}

/// Low-rank fusion: r element-wise products of per-modality maps, summed.
fn low_rank(pen: &Pen<'_>, l: &Layout) {
    const RANK: usize = 4;
    let products: Vec<Pos2> = (0..RANK)
        .map(|i| pos2(l.x(0.46), l.mid() + (i as f32 - 1.5) * 30.0))
        .collect();
    for (&y, &colour) in l.rows.iter().zip(&MODALITY) {
        let maps = l.span(0.05, 0.22, 100.0, y, 24.0);
        pen.arrow(pos2(l.z_start, y), pos2(maps.left(), y), None);
        pen.boxed(maps, "r maps", Some(colour));
        pen.label(
            pos2(l.z_start + 5.0, y + 3.0),
            Align2::LEFT_TOP,
            "[z; 1]",
            11.0,
            pen.text,
        );
        let thin = Stroke::new(1.0, colour);
        for p in &products {
            let dir = (*p - pos2(maps.right(), y)).normalized();
            pen.painter
                .line_segment([pos2(maps.right(), y), *p - dir * 8.0], thin);
        }
    }
    let sum = pos2(l.x(0.62), l.mid());
    for p in &products {
        pen.node(*p, 8.0, Node::Dot);
        let dir = (sum - *p).normalized();
        pen.arrow(*p + dir * 8.0, sum - dir * 13.0, None);
    }
    pen.label(
        products[0] + vec2(0.0, -10.0),
        Align2::CENTER_BOTTOM,
        "r = 4 products",
        11.0,
        pen.text,
    );
    pen.node(sum, 13.0, Node::Plus);
    pen.label(
        sum + vec2(0.0, 16.0),
        Align2::CENTER_TOP,
        "+ b",
        11.0,
        pen.text,
    );
    let head = head_box(pen, l, 0.72, 0.92, "ReLU", "then linear");
    pen.arrow(sum + vec2(13.0, 0.0), pos2(head.left(), l.mid()), None);
}

/// Cross-modal transformer: token rows and a [CLS] token into one transformer.
fn cross_modal(pen: &Pen<'_>, l: &Layout) {
    let block = Rect::from_min_max(
        pos2(l.x(0.36), l.rows[0] - 22.0),
        pos2(l.x(0.58), l.rows[2] + 22.0),
    );
    let names = ["positions", "words", "frames"];
    let first = l.x(0.04);
    let last = first + 5.0 * 13.0;
    let cls_y = l.rows[0] + 25.0;
    let mut ys = vec![(cls_y, pen.text)];
    for m in 0..3 {
        let y = l.rows[m];
        pen.arrow(pos2(l.z_start, y), pos2(first - 4.0, y), None);
        for i in 0..5 {
            let x = first + i as f32 * 13.0;
            let token = Rect::from_min_size(pos2(x, y - 5.0), vec2(10.0, 10.0));
            pen.painter.rect_filled(token, 1.0, MODALITY[m]);
        }
        pen.label(
            pos2(first, y - 8.0),
            Align2::LEFT_BOTTOM,
            names[m],
            11.0,
            pen.text,
        );
        pen.arrow(
            pos2(last + 2.0, y),
            pos2(block.left(), y),
            Some(MODALITY[m]),
        );
        ys.push((y, MODALITY[m]));
    }
    // The [CLS] token, just under the image row.
    let cls = Rect::from_min_size(pos2(first, cls_y - 5.0), vec2(10.0, 10.0));
    pen.painter.rect_filled(cls, 1.0, pen.text);
    pen.label(
        pos2(cls.right() + 4.0, cls_y),
        Align2::LEFT_CENTER,
        "[CLS]",
        11.0,
        pen.text,
    );
    pen.arrow(pos2(last + 2.0, cls_y), pos2(block.left(), cls_y), None);

    // The block, with faint all-to-all attention lines between its input and output tokens.
    pen.boxed(block, "", None);
    let (left, right) = (block.left() + 14.0, block.right() - 14.0);
    for &(a, _) in &ys {
        for &(b, colour) in &ys {
            pen.painter.line_segment(
                [pos2(left, a), pos2(right, b)],
                Stroke::new(0.8, colour.gamma_multiply(0.45)),
            );
        }
    }
    for &(y, colour) in &ys {
        pen.painter.circle_filled(pos2(left, y), 3.0, colour);
        pen.painter.circle_filled(pos2(right, y), 3.0, colour);
    }
    pen.label(
        pos2(block.center().x, block.top() + 3.0),
        Align2::CENTER_TOP,
        "transformer",
        13.0,
        pen.text,
    );
    pen.label(
        pos2(block.center().x, block.bottom() - 3.0),
        Align2::CENTER_BOTTOM,
        "all attend to all",
        11.0,
        pen.text,
    );

    let out = pos2(l.x(0.65), cls_y);
    pen.arrow(pos2(block.right(), cls_y), out - vec2(6.0, 0.0), None);
    let out_token = Rect::from_center_size(out, vec2(10.0, 10.0));
    pen.painter.rect_filled(out_token, 1.0, pen.text);
    pen.label(
        out + vec2(0.0, -8.0),
        Align2::CENTER_BOTTOM,
        "[CLS]",
        11.0,
        pen.text,
    );
    let lin = head_box(pen, l, 0.74, 0.92, "linear", "");
    pen.arrow(out + vec2(6.0, 5.0), pos2(lin.left(), l.mid() - 6.0), None);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Non-ASCII characters that are in Hack-Regular (monospace; used in the equations).
    const MONO: &str = "·Σα⊗⊙∘³";
    /// Non-ASCII characters that are in Ubuntu-Light (proportional; everything else).
    const PROPORTIONAL: &str = "·Σα×³";

    fn check(text: &str, allowed: &str) {
        for c in text.chars() {
            assert!(
                c.is_ascii() || allowed.contains(c),
                "{c:?} in {text:?} may be missing from the default fonts"
            );
        }
    }

    #[test]
    fn every_text_uses_characters_the_default_fonts_have() {
        for kind in FusionKind::ALL {
            check(equation(kind), MONO);
            check(when_it_works(kind), PROPORTIONAL);
            check(legend(kind), PROPORTIONAL);
            check(title(kind), PROPORTIONAL);
            check(try_it(kind).1, PROPORTIONAL);
        }
        for preset in Preset::ALL {
            let (q, look) = guided_question(preset);
            check(q, PROPORTIONAL);
            check(look, PROPORTIONAL);
        }
    }

    #[test]
    fn every_method_and_preset_has_text() {
        for kind in FusionKind::ALL {
            assert!(!equation(kind).is_empty() && !when_it_works(kind).is_empty());
            assert!(!try_it(kind).1.is_empty());
        }
        for preset in Preset::ALL {
            let (q, look) = guided_question(preset);
            assert!(q.ends_with('?') && !look.is_empty());
        }
    }
}
