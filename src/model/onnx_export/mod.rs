//! ONNX export of a trained fusion model: the encoders, the fusion and the modality weights as
//! one standard ONNX graph (opset 17, IR version 8) that onnxruntime runs.
//!
//! Preprocessing stays outside the graph: its inputs are the features fusionlab's batcher makes
//! for one sample (batch 1):
//!
//! | input | shape | type | |
//! |---|---|---|---|
//! | `image` | `1 × 3 × S × S` | f32 | normalised pixels (zeros when absent) |
//! | `text_ids` | `1 × text_length` | int64 | vocabulary ids, 0 = padding (`[0]` when absent) |
//! | `text_mask` | `1 × text_length` | f32 | 1 for the words (a prefix), then 0 |
//! | `audio` | `1 × mels × frames` | f32 | log-mel spectrogram (zeros when absent) |
//! | `present` | `1 × 3` | f32 | 0/1 per modality: image, text, audio |
//!
//! `text_length` is 1 to `max_tokens`. Outputs: `probabilities` `1 × K`, `modality_weights`
//! `1 × 3` (native weights, or Shapley values computed in the graph for early, tensor and
//! low-rank fusion), and `attention_image` (`1 × (S/4)²`, row-major), `attention_text`
//! (`1 × text_length`) and `attention_audio` (`1 × frames/4`): where each encoder looked (for
//! cross-modal fusion, [CLS]'s attention over each modality's tokens).
//!
//! Models on frozen pretrained backbones are refused ([`OnnxExportError::Pretrained`]).

mod builder;
mod encoders;
mod fusion;
mod layers;
mod proto;
mod shapley;

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::Tensor;
use prost::Message as _;

pub use builder::Dim;

use super::checkpoint::LoadedModel;
use super::{ModelConfig, WeightKind};
use crate::data::Modality;

/// The opset the graph is written for.
pub const OPSET: i64 = 17;
/// The ONNX IR version of the file.
pub const IR_VERSION: i64 = 8;

/// Why a model could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum OnnxExportError {
    /// A modality's encoder is a frozen pretrained backbone.
    #[error(
        "the {modality} encoder of this model is the pretrained {backbone} backbone, which is not exported to ONNX yet: the backbone is a separate network with its own front end ({front_end}) that fusionlab runs before the fusion model, and only from-scratch encoders are translated so far; retrain with --encoders scratch to export the model"
    )]
    Pretrained {
        /// The modality.
        modality: &'static str,
        /// The backbone's name.
        backbone: String,
        /// What the backbone reads before its network.
        front_end: &'static str,
    },
    /// A weight the architecture needs is missing.
    #[error("the weights have no tensor {0}; the model folder is damaged or from another version")]
    MissingTensor(String),
    /// Reading or rearranging a weight failed.
    #[error("converting the weights: {0}")]
    Tensor(#[from] candle_core::Error),
    /// Writing the file failed.
    #[error(transparent)]
    Write(#[from] crate::export::ExportError),
}

/// Result of the exporter's steps.
pub type Result<T> = std::result::Result<T, OnnxExportError>;

/// A graph input or output: name, element type and shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueSpec {
    /// The name to feed or fetch it by.
    pub name: String,
    /// `float32` or `int64`.
    pub elem_type: &'static str,
    /// Its shape.
    pub dims: Vec<Dim>,
}

impl std::fmt::Display for ValueSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dims: Vec<String> = self.dims.iter().map(ToString::to_string).collect();
        write!(f, "{} {} [{}]", self.name, self.elem_type, dims.join(", "))
    }
}

/// An encoded ONNX model with its signature.
#[derive(Clone, Debug)]
pub struct OnnxModel {
    /// The serialised `ModelProto`.
    pub bytes: Vec<u8>,
    /// Graph inputs.
    pub inputs: Vec<ValueSpec>,
    /// Graph outputs.
    pub outputs: Vec<ValueSpec>,
    /// Number of graph nodes.
    pub nodes: usize,
    /// Where the modality weights come from.
    pub weight_kind: WeightKind,
}

fn spec(name: &str, elem_type: &'static str, dims: &[Dim]) -> ValueSpec {
    ValueSpec {
        name: name.to_owned(),
        elem_type,
        dims: dims.to_vec(),
    }
}

/// Refuse a model with a pretrained backbone, naming the first one.
fn check_scratch(config: &ModelConfig) -> Result<()> {
    for (m, modality) in Modality::ALL.iter().enumerate() {
        if let Some(b) = config.backbones.get(m) {
            let front_end = match m {
                0 => "its own image resizing and normalisation",
                1 => "a WordPiece tokenizer over the raw sentence",
                _ => "a separate mel-spectrogram network over the raw waveform",
            };
            return Err(OnnxExportError::Pretrained {
                modality: modality.name(),
                backbone: b.to_string(),
                front_end,
            });
        }
    }
    Ok(())
}

/// Translate the network described by `config` with `weights` (safetensors names, as in
/// `model.safetensors`) into an ONNX model. `doc` goes into the model's doc string.
pub fn build(
    config: &ModelConfig,
    weights: &BTreeMap<String, Tensor>,
    doc: &str,
) -> Result<OnnxModel> {
    check_scratch(config)?;
    let mut net = layers::Net::new(weights);
    let s = config.image_size;
    let text_len = Dim::Named("text_length");
    let inputs = vec![
        spec(
            "image",
            "float32",
            &[Dim::Fixed(1), Dim::Fixed(3), Dim::Fixed(s), Dim::Fixed(s)],
        ),
        spec("text_ids", "int64", &[Dim::Fixed(1), text_len.clone()]),
        spec("text_mask", "float32", &[Dim::Fixed(1), text_len.clone()]),
        spec(
            "audio",
            "float32",
            &[
                Dim::Fixed(1),
                Dim::Fixed(config.mel_bins),
                Dim::Fixed(config.frames),
            ],
        ),
        spec("present", "float32", &[Dim::Fixed(1), Dim::Fixed(3)]),
    ];
    for input in &inputs {
        let elem = if input.elem_type == "int64" {
            proto::INT64
        } else {
            proto::FLOAT
        };
        net.g.input(&input.name, elem, &input.dims);
    }
    let image = net.image_encoder(config, "image", "present")?;
    let text = net.text_encoder(config, "text_ids", "text_mask", "present")?;
    let audio = net.audio_encoder(config, "audio", "present")?;
    let enc = [image, text, audio];
    let z = [
        enc[0].embedding.clone(),
        enc[1].embedding.clone(),
        enc[2].embedding.clone(),
    ];
    let weight_kind = config.fusion.weight_kind();
    let (logits, weights, maps) = match weight_kind {
        WeightKind::Native => {
            let fused = net.fusion(config, &z, "present", &enc)?;
            let weights = fused.weights.ok_or_else(|| {
                OnnxExportError::MissingTensor("native modality weights".to_owned())
            })?;
            (fused.logits, weights, fused.maps)
        }
        WeightKind::Shapley => {
            let (logits, weights) = net.shapley_fusion(config, &z, "present", &enc)?;
            (logits, weights, None)
        }
    };
    let probabilities = net.g.softmax(&logits, -1);
    let maps = maps.unwrap_or_else(|| {
        [
            enc[0].attention.clone(),
            enc[1].attention.clone(),
            enc[2].attention.clone(),
        ]
    });
    let side = s / 4;
    let outputs = vec![
        spec(
            "probabilities",
            "float32",
            &[Dim::Fixed(1), Dim::Fixed(config.classes)],
        ),
        spec(
            "modality_weights",
            "float32",
            &[Dim::Fixed(1), Dim::Fixed(3)],
        ),
        spec(
            "attention_image",
            "float32",
            &[Dim::Fixed(1), Dim::Fixed(side * side)],
        ),
        spec("attention_text", "float32", &[Dim::Fixed(1), text_len]),
        spec(
            "attention_audio",
            "float32",
            &[Dim::Fixed(1), Dim::Fixed(config.frames / 4)],
        ),
    ];
    let values = [&probabilities, &weights, &maps[0], &maps[1], &maps[2]];
    for (value, out) in values.into_iter().zip(&outputs) {
        net.g.output(value, &out.name, &out.dims);
    }
    let nodes = net.g.node_count();
    let model = proto::ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![proto::OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
        producer_name: Some("fusionlab".to_owned()),
        producer_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        doc_string: Some(doc.to_owned()),
        graph: Some(net.g.finish(&format!("fusionlab_{}", config.fusion.name()))),
    };
    Ok(OnnxModel {
        bytes: model.encode_to_vec(),
        inputs,
        outputs,
        nodes,
        weight_kind,
    })
}

/// Export a loaded model to `path` (written atomically): its architecture and weights, with
/// the class names and fusion method in the model's doc string.
pub fn export(loaded: &LoadedModel, path: &Path) -> Result<OnnxModel> {
    let weights = loaded.store.snapshot()?;
    let card = &loaded.card;
    let doc = format!(
        "fusionlab model '{}': {} fusion, {} text encoder, trained on {}. Classes in output order: {}. Inputs are preprocessed features (see fusionlab's README); present is 0/1 per modality (image, text, audio).",
        card.name,
        card.model.fusion.name(),
        card.model.text_encoder.name(),
        card.dataset,
        card.classes.join(", ")
    );
    let model = build(&card.model, &weights, &doc)?;
    crate::export::write_atomic(path, |out| {
        std::io::Write::write_all(out, &model.bytes)?;
        Ok(())
    })?;
    Ok(model)
}
