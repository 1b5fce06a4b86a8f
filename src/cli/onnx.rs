//! `fusionlab export --onnx FILE --model NAME`: a trained model as a standard ONNX file.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use candle_core::Device;
use clap::Args;

use crate::model::checkpoint::{self, ModelCard};
use crate::model::onnx_export::{self, IR_VERSION, OPSET, OnnxModel, ValueSpec};

/// Arguments of `fusionlab export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Model name in models/ or a model folder.
    #[arg(long)]
    pub model: String,
    /// Write the model as ONNX (opset 17) to this file: the encoders, the fusion and the
    /// modality weights, with preprocessed features as inputs.
    #[arg(long, value_name = "FILE")]
    pub onnx: PathBuf,
}

/// Run `fusionlab export`: load the model, write the file and print what it holds.
pub fn run_export(args: &ExportArgs) -> anyhow::Result<()> {
    let dir = checkpoint::resolve(&args.model);
    let loaded = checkpoint::load(&dir, &Device::Cpu)?;
    if let Some(parent) = args.onnx.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the folder {}", parent.display()))?;
    }
    let model = onnx_export::export(&loaded, &args.onnx)?;
    print!("{}", render_export(&dir, &args.onnx, &loaded.card, &model));
    Ok(())
}

fn value_lines(out: &mut String, values: &[ValueSpec]) {
    use std::fmt::Write as _;
    let width = values.iter().map(|v| v.name.len()).max().unwrap_or(0);
    for v in values {
        let dims: Vec<String> = v.dims.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "  {:<width$}  {:<7}  [{}]",
            v.name,
            v.elem_type,
            dims.join(", ")
        );
    }
}

/// The report of `fusionlab export`: the file, its size, and the graph's inputs and outputs.
pub fn render_export(dir: &Path, file: &Path, card: &ModelCard, model: &OnnxModel) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let bytes = model.bytes.len();
    let _ = writeln!(
        out,
        "wrote {} ({bytes} bytes, {:.1} KiB): {} as ONNX opset {OPSET}, IR version {IR_VERSION}, {} nodes",
        file.display(),
        bytes as f64 / 1024.0,
        dir.display(),
        model.nodes
    );
    let _ = writeln!(
        out,
        "model     {} fusion ({} modality weights), {} text encoder",
        card.model.fusion,
        model.weight_kind.name(),
        card.model.text_encoder.name()
    );
    let _ = writeln!(out, "classes   {}", card.classes.join(", "));
    let _ = writeln!(out, "inputs");
    value_lines(&mut out, &model.inputs);
    let _ = writeln!(out, "outputs");
    value_lines(&mut out, &model.outputs);
    let _ = writeln!(
        out,
        "text_length is 1 to {} (ids 0 = padding, text_mask 1 for the words); present is 0/1 for image, text, audio (absent inputs are zeros). Preprocessing is not in the graph: feed the features fusionlab makes ({}×{} image normalised with mean {:?} and std {:?}; {}-band log-mel at {} ms hops).",
        card.model.max_tokens,
        card.model.image_size,
        card.model.image_size,
        card.features.image.mean,
        card.features.image.std,
        card.model.mel_bins,
        card.features.audio.hop_ms
    );
    out
}
