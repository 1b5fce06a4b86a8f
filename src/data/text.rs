//! Text → model input: Unicode NFKC normalisation, lowercasing, word tokenisation
//! (Unicode word boundaries), and a vocabulary built from the training split.

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization as _;
use unicode_segmentation::UnicodeSegmentation as _;

/// Largest text file read as a sentence (the inputs panel and projects): 64 KiB.
pub const MAX_TEXT_BYTES: u64 = 64 * 1024;

/// Id of the padding token.
pub const PAD: u32 = 0;
/// Id of the unknown-word token.
pub const UNK: u32 = 1;

/// Text preprocessing settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TextConfig {
    /// Longer texts are truncated to this many tokens.
    pub max_len: usize,
    /// Words seen fewer times in the training split become `[UNK]`.
    pub min_count: usize,
}

impl Default for TextConfig {
    fn default() -> Self {
        Self {
            max_len: 32,
            min_count: 1,
        }
    }
}

/// NFKC-normalise and lowercase.
pub fn normalize(text: &str) -> String {
    text.nfkc().collect::<String>().to_lowercase()
}

/// Normalise and split into words (punctuation and spaces dropped).
/// Returns `None` when nothing is left: empty or whitespace-only text counts as *missing*.
pub fn tokenize(text: &str) -> Option<Vec<String>> {
    let words: Vec<String> = normalize(text).unicode_words().map(str::to_owned).collect();
    (!words.is_empty()).then_some(words)
}

/// Word ↔ id table; ids 0 and 1 are `[PAD]` and `[UNK]`.
/// Serialised as the plain list of words in id order.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(from = "Vec<String>", into = "Vec<String>")]
pub struct Vocab {
    tokens: Vec<String>,
    index: HashMap<String, u32>,
}

impl From<Vec<String>> for Vocab {
    fn from(tokens: Vec<String>) -> Self {
        let index = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        Self { tokens, index }
    }
}

impl From<Vocab> for Vec<String> {
    fn from(vocab: Vocab) -> Self {
        vocab.tokens
    }
}

impl Default for Vocab {
    fn default() -> Self {
        Self::from_tokens(Vec::new())
    }
}

impl Vocab {
    /// Build from tokenised training texts; words are ordered by count (desc), then alphabetically,
    /// so the same data always gives the same ids.
    pub fn build<'a>(texts: impl IntoIterator<Item = &'a [String]>, min_count: usize) -> Self {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for text in texts {
            for word in text {
                *counts.entry(word.as_str()).or_default() += 1;
            }
        }
        let mut words: Vec<(&str, usize)> = counts
            .into_iter()
            .filter(|&(_, n)| n >= min_count.max(1))
            .collect();
        words.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        Self::from_tokens(words.into_iter().map(|(w, _)| w.to_owned()).collect())
    }

    /// Rebuild from a saved word list (without the two special tokens).
    pub fn from_tokens(words: Vec<String>) -> Self {
        ["[PAD]".to_owned(), "[UNK]".to_owned()]
            .into_iter()
            .chain(words)
            .collect::<Vec<_>>()
            .into()
    }

    /// Number of ids, the two special tokens included.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// True when only the special tokens are present.
    pub fn is_empty(&self) -> bool {
        self.tokens.len() <= 2
    }

    /// The word for an id, if any.
    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// The id of a word (`UNK` when unknown).
    pub fn id(&self, word: &str) -> u32 {
        self.index.get(word).copied().unwrap_or(UNK)
    }

    /// Encode words to ids, truncated to `max_len` (no padding: batching pads with `PAD`).
    pub fn encode(&self, words: &[String], max_len: usize) -> Vec<u32> {
        words.iter().take(max_len).map(|w| self.id(w)).collect()
    }
}
