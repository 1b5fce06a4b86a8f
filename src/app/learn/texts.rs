//! The Learn panel's texts: for each fusion method its heading, equation, diagram legend, when
//! it works and the preset to try it on; for each synthetic preset a guided question.

use crate::data::synthetic::Preset;
use crate::model::FusionKind;

/// The heading of a method (not just its name, so that it differs from the selector's label).
pub(super) fn title(fusion: FusionKind) -> &'static str {
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
            "t_m    = P_m z_m                      64 -> d = 8 numbers\n\
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
pub(super) fn legend(fusion: FusionKind) -> &'static str {
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
            "Each embedding is squeezed to d = 8 numbers by a linear map and a 1 is appended; the circled cross is \
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
             xor included (whether training finds it there depends on the seed: try two). It \
             struggles when one modality is much noisier or larger than the \
             others (its numbers can swamp the hidden layer) and when data is scarce. A missing \
             modality is only a zero vector plus a flag, so it copes with holes only if it saw \
             them in training. It has no modality weights of its own; the app shows Shapley \
             values instead."
        }
        FusionKind::Late => {
            "Works when every modality can decide on its own (redundant, noisy-image): it is \
             simple, hard to overfit, and a missing modality just drops out of the weighted sum. \
             It cannot learn an answer that lies in a combination (xor): adding up per-modality \
             votes can never express \"the shape and the pitch match\". Its three weights are the same for every sample, so it cannot trust the \
             image less on just the noisy pictures."
        }
        FusionKind::Gated => {
            "Works when the usefulness of a modality varies from sample to sample: the gate is \
             computed for each sample and each hidden unit, so it can turn a noisy picture down on \
             one input and lean on it on another. Every h_m comes from one modality alone, so \
             interactions must pass through the gate, which reads all three embeddings at once and \
             so can still combine them, though on xor whether training finds that depends on the \
             seed (try two in Training). The weights shown are the gates averaged over the \
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
            "Made for answers that lie in a combination (xor): the outer product contains \
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
            "Watch Training > Accuracy (chance is 50 % with two classes) next to One-modality \
             accuracy: on xor the answer lives only in the combination of picture and sound.",
        ),
        FusionKind::Late => (
            Preset::Xor,
            "Watch the validation accuracy (chance is 50 % with two classes): each modality alone \
             says nothing here. Then train tensor or early fusion on the same data, or all methods \
             at once in Analysis > Compare fusion methods.",
        ),
        FusionKind::Gated => (
            Preset::NoisyImage,
            "Training > Modality weights (averaged over the validation samples) and the bars in \
             Predict (one sample at a time, which can differ from the average): how much does the \
             gate let the noisy picture through?",
        ),
        FusionKind::Attention => (
            Preset::Missing,
            "Predict a sample, then untick 'use image' under What if: α is recomputed over the \
             two remaining modalities. A sample with a missing modality never gives it any \
             weight.",
        ),
        FusionKind::Tensor => (
            Preset::Xor,
            "Watch Training > Accuracy next to One-modality accuracy, then train late fusion on \
             the same data and tick both runs to overlay them.",
        ),
        FusionKind::LowRank => (
            Preset::Xor,
            "Watch Training > Accuracy: the same interactions as tensor fusion, without building \
             the 729-entry cube. Train tensor fusion too and tick both runs to overlay them.",
        ),
        FusionKind::CrossModal => (
            Preset::Complementary,
            "Training: epochs are slower; compare the accuracy with the 25 % that any one \
             modality allows. In Predict, 'Where the model looked' shows \
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
             class bars: does the answer stay, and how far does its probability move? Compare \
             Training > One-modality accuracy with the full model's; look at the 'missing' \
             curves in Analysis > Robustness, and in Projections at whether the image, text and \
             audio embeddings each separate the classes.",
        ),
        Preset::Complementary => (
            "Can any single modality tell the class on its own?",
            "Training > One-modality accuracy (chance is 12.5 % with 8 classes; one modality can \
             tell at most 1 class in 4) next to the full model's accuracy. In Predict, untick \
             any modality and watch the answer. In Projections, look at how many groups the \
             image embedding forms (the picture only knows circle or cross).",
        ),
        Preset::Xor => (
            "The picture and the sound each say nothing alone: how can they decide the class together?",
            "Analysis > Compare fusion methods: train late and tensor (or every method) on xor \
             and compare the accuracies of the methods that add up votes and of those that model \
             interactions. Training > One-modality accuracy shows what each modality knows \
             alone. In Predict, untick 'use text' (the sentence is a distraction) and watch the \
             answer.",
        ),
        Preset::NoisyImage => (
            "Which modality does the model trust least, and does it learn that by itself?",
            "Predict: compare the modality weights over several samples (single samples vary). \
             Training > Modality weights shows the average over the validation samples as the \
             epochs go by, and Analysis > Modality contribution puts the method's own weights \
             next to Shapley values. Analysis > Robustness: how much does more image noise cost?",
        ),
        Preset::Missing => (
            "What does the model do when a modality is absent?",
            "In the Dataset panel, open samples with a missing modality and predict them: the \
             weights are shared among the present modalities only. Analysis > Robustness: \
             compare the 'missing' curves of the methods that renormalise over the present \
             modalities (late, gated, attention, crossmodal) with early, tensor and low-rank.",
        ),
    }
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
