//! all-MiniLM-L6-v2, the frozen text backbone: a 6-layer BERT (our own encoder, see `bert`)
//! giving one 384-d vector per word piece, and sentence-transformers' sentence embedding (mean
//! over the non-pad tokens, L2-normalised).
//!
//! The package's `model.safetensors` uses the Hugging Face BERT names without a `bert.` prefix
//! (`embeddings.word_embeddings.weight`, `encoder.layer.0.…`), which the encoder loads as they
//! are, so installing checks the files and copies `model.safetensors`, `config.json` and
//! `vocab.txt` unchanged.

use std::fs;
use std::path::Path;

mod bert;
mod ops;

use candle_core::{D, DType, Device, Tensor};

use bert::{Bert, BertConfig};

use super::PretrainedError;
use super::wordpiece::{Encoding, WordPiece};

/// Width of each token vector.
pub const TOKEN_DIM: usize = 384;
/// Longer texts are cut to this many word pieces, `[CLS]` and `[SEP]` included: the
/// `max_seq_length` of the model's sentence-transformers config (its tokenizer.json says 128,
/// the limit it was fine-tuned at; 256 is what sentence-transformers uses it with).
pub const MAX_TOKENS: usize = 256;
/// Number of transformer layers.
pub const LAYERS: usize = 6;

/// The weights, with Hugging Face BERT names.
pub const WEIGHTS: &str = "model.safetensors";
/// The Hugging Face BERT config.
pub const CONFIG: &str = "config.json";
/// The WordPiece vocabulary, one token a line.
pub const VOCAB: &str = "vocab.txt";
/// The tokenizer spec, checked at install against what [`WordPiece`] implements (not kept).
const TOKENIZER: &str = "tokenizer.json";

/// Checks the package files in `src` (config, tokenizer spec, vocabulary, every weight's name
/// and shape) and copies the ones [`MiniLm::load`] reads into `out`. Public for the tests; the
/// store calls it on install.
pub fn convert(src: &Path, out: &Path) -> Result<(), PretrainedError> {
    check_tokenizer(&src.join(TOKENIZER))?;
    MiniLm::load(src, &Device::Cpu)?;
    for name in [WEIGHTS, CONFIG, VOCAB] {
        fs::copy(src.join(name), out.join(name))
            .map_err(|e| PretrainedError::io(src.join(name), e))?;
    }
    Ok(())
}

/// Word-piece tokens of a batch of texts.
#[derive(Debug)]
pub struct Tokens {
    /// Last hidden states, `[batch, tokens, TOKEN_DIM]`, padded to the longest text.
    pub hidden: Tensor,
    /// `[batch, tokens]` f32: 1 for a real token (`[CLS]` and `[SEP]` included), 0 for padding.
    pub mask: Tensor,
    /// Each text's tokens: ids, the word each token came from and byte spans.
    pub encodings: Vec<Encoding>,
}

/// The loaded backbone.
pub struct MiniLm {
    bert: Bert,
    tokenizer: WordPiece,
    device: Device,
}

impl MiniLm {
    /// Loads an installed backbone folder (or the package files themselves).
    pub fn load(dir: &Path, device: &Device) -> Result<Self, PretrainedError> {
        let config = read_config(&dir.join(CONFIG))?;
        let vocab_path = dir.join(VOCAB);
        let tokenizer = WordPiece::from_vocab_file(&vocab_path)?;
        if tokenizer.len() != config.vocab_size {
            let message = format!(
                "{} tokens, but config.json says vocab_size {}",
                tokenizer.len(),
                config.vocab_size
            );
            return Err(PretrainedError::format(vocab_path, message));
        }
        let weights = dir.join(WEIGHTS);
        if !weights.is_file() {
            let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
            return Err(PretrainedError::io(weights, missing));
        }
        let not_minilm = |e: candle_core::Error| {
            PretrainedError::format(
                &weights,
                format!("not all-MiniLM-L6-v2's BERT weights: {e}"),
            )
        };
        let tensors = candle_core::safetensors::load(&weights, device).map_err(not_minilm)?;
        let bert = Bert::load(tensors, &config).map_err(not_minilm)?;
        Ok(Self {
            bert,
            tokenizer,
            device: device.clone(),
        })
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &WordPiece {
        &self.tokenizer
    }

    /// Runs the network on a batch (each text on its own tokens, token types zero); the hidden
    /// states come back padded with zeros to the longest text.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Tokens, PretrainedError> {
        let encodings: Vec<Encoding> = texts
            .iter()
            .map(|t| self.tokenizer.encode(t, MAX_TOKENS))
            .collect();
        let len = encodings.iter().map(|e| e.ids.len()).max().unwrap_or(0);
        let batch = encodings.len();
        if batch == 0 {
            let hidden = Tensor::zeros((0, 0, TOKEN_DIM), DType::F32, &self.device)?;
            let mask = Tensor::zeros((0, 0), DType::F32, &self.device)?;
            return Ok(Tokens {
                hidden,
                mask,
                encodings,
            });
        }
        let ids: Vec<&[u32]> = encodings.iter().map(|e| e.ids.as_slice()).collect();
        let packed = self.bert.forward(&ids)?;
        // Packed rows → `[batch, len, H]`, zeros after each text's own tokens.
        let mut rows = Vec::with_capacity(batch);
        let mut mask = Vec::with_capacity(batch * len);
        let mut start = 0;
        for e in &encodings {
            let n = e.ids.len();
            rows.push(packed.narrow(0, start, n)?.pad_with_zeros(0, 0, len - n)?);
            mask.extend((0..len).map(|i| if i < n { 1f32 } else { 0f32 }));
            start += n;
        }
        let hidden = Tensor::stack(&rows, 0)?;
        let mask = Tensor::from_vec(mask, (batch, len), &self.device)?;
        Ok(Tokens {
            hidden,
            mask,
            encodings,
        })
    }

    /// One `[batch, TOKEN_DIM]` unit vector per text (sentence-transformers' recipe).
    pub fn sentence_embedding(&self, texts: &[&str]) -> Result<Tensor, PretrainedError> {
        Ok(mean_pool(&self.encode_batch(texts)?)?)
    }
}

/// Mean of the token vectors over the mask, then L2-normalised: `[batch, TOKEN_DIM]`.
pub fn mean_pool(tokens: &Tokens) -> candle_core::Result<Tensor> {
    let mask = tokens.mask.unsqueeze(D::Minus1)?;
    let sum = tokens.hidden.broadcast_mul(&mask)?.sum(1)?;
    let count = mask.sum(1)?.maximum(1e-9)?;
    let mean = sum.broadcast_div(&count)?;
    let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.maximum(1e-12)?;
    mean.broadcast_div(&norm)
}

/// Reads `config.json` and checks that it is all-MiniLM-L6-v2's BERT.
fn read_config(path: &Path) -> Result<BertConfig, PretrainedError> {
    let text = fs::read_to_string(path).map_err(|e| PretrainedError::io(path, e))?;
    let config: BertConfig = serde_json::from_str(&text)
        .map_err(|e| PretrainedError::format(path, format!("not a BERT config.json: {e}")))?;
    let expected = [
        (
            "model_type",
            config.model_type.as_deref() == Some("bert"),
            format!("{:?}", config.model_type),
        ),
        (
            "hidden_size",
            config.hidden_size == TOKEN_DIM,
            config.hidden_size.to_string(),
        ),
        (
            "num_hidden_layers",
            config.num_hidden_layers == LAYERS,
            config.num_hidden_layers.to_string(),
        ),
        (
            "hidden_act",
            config.hidden_act == "gelu",
            format!("{:?}", config.hidden_act),
        ),
        (
            "position_embedding_type",
            matches!(
                config.position_embedding_type.as_deref(),
                None | Some("absolute")
            ),
            format!("{:?}", config.position_embedding_type),
        ),
    ];
    match expected.into_iter().find(|(_, ok, _)| !ok) {
        Some((field, _, found)) => Err(PretrainedError::format(
            path,
            format!(
                "not all-MiniLM-L6-v2: {field} is {found} (expected bert, {TOKEN_DIM} wide, {LAYERS} layers, gelu, absolute positions)"
            ),
        )),
        None => Ok(config),
    }
}

/// Checks that `tokenizer.json` asks for exactly what [`WordPiece`] does.
fn check_tokenizer(path: &Path) -> Result<(), PretrainedError> {
    let text = fs::read_to_string(path).map_err(|e| PretrainedError::io(path, e))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| PretrainedError::format(path, format!("not JSON: {e}")))?;
    let t = serde_json::Value::Bool(true);
    let expected = [
        ("/normalizer/type", "BertNormalizer".into()),
        ("/normalizer/clean_text", t.clone()),
        ("/normalizer/handle_chinese_chars", t.clone()),
        ("/normalizer/lowercase", t),
        ("/pre_tokenizer/type", "BertPreTokenizer".into()),
        ("/model/type", "WordPiece".into()),
        ("/model/continuing_subword_prefix", "##".into()),
        ("/model/unk_token", "[UNK]".into()),
        (
            "/model/max_input_chars_per_word",
            super::wordpiece::MAX_WORD_CHARS.into(),
        ),
    ];
    for (pointer, want) in expected {
        let found = json.pointer(pointer);
        if found != Some(&want) {
            let found = found.map_or("nothing".to_owned(), ToString::to_string);
            return Err(PretrainedError::format(
                path,
                format!("{pointer} is {found}, expected {want}"),
            ));
        }
    }
    // Accents are stripped when `strip_accents` is true, or null with lowercase on.
    match json.pointer("/normalizer/strip_accents") {
        None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(true)) => Ok(()),
        Some(other) => Err(PretrainedError::format(
            path,
            format!("/normalizer/strip_accents is {other}, expected null"),
        )),
    }
}
