//! BERT's uncased WordPiece tokenizer, exactly as all-MiniLM-L6-v2's `tokenizer.json` specifies
//! it (`BertNormalizer` with lower-casing, `BertPreTokenizer`, `WordPiece` with `##`
//! continuations and at most 100 characters a word), and proven equal to Hugging Face's fast
//! tokenizer on the reference texts in `tests/fixtures/pretrained/minilm_reference.json`.
//!
//! Every token keeps the index of the word it came from (a whitespace- or punctuation-split
//! unit of the input) and its byte span in the input, so per-token results can be merged back
//! to words.
//!
//! Known difference: accents are stripped by dropping every combining mark after NFD
//! (`General_Category=M*`), where BERT drops only non-spacing ones (`Mn`); spacing and
//! enclosing marks (vowel signs of Indic scripts, mostly) differ. Control characters are
//! `Cc`, `Cf` and `Co`, as in `tokenizers`.

// Our own tokenizer rather than the `tokenizers` crate: tokenizer.json asks for one lower-casing
// BERT normaliser plus WordPiece, a few hundred lines, and we need our own word units anyway.

use std::collections::HashMap;
use std::path::Path;

use unicode_normalization::UnicodeNormalization as _;
use unicode_normalization::char::is_combining_mark;

use super::PretrainedError;

/// Words longer than this many characters become one `[UNK]` (`max_input_chars_per_word`).
pub const MAX_WORD_CHARS: usize = 100;

/// A WordPiece vocabulary with BERT's special tokens.
#[derive(Clone, Debug)]
pub struct WordPiece {
    index: HashMap<String, u32>,
    cls: u32,
    sep: u32,
    unk: u32,
    pad: u32,
}

/// One text as tokens: `[CLS]`, the word pieces, `[SEP]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Encoding {
    /// Token ids.
    pub ids: Vec<u32>,
    /// For each token, the index into [`Encoding::word_spans`] of its word; `None` for `[CLS]`
    /// and `[SEP]`.
    pub words: Vec<Option<usize>>,
    /// For each token, its byte range in the input; `None` for `[CLS]` and `[SEP]`. An `[UNK]`
    /// spans its whole word.
    pub spans: Vec<Option<(usize, usize)>>,
    /// Byte range in the input of each word that kept at least one token (the whole word, even
    /// when truncation cut it).
    pub word_spans: Vec<(usize, usize)>,
    /// Whether word pieces were dropped to fit the length limit.
    pub truncated: bool,
}

/// A word after normalisation: its characters, each with the byte range of the input character
/// it came from.
#[derive(Default)]
struct Word {
    text: String,
    origins: Vec<(usize, usize)>,
}

/// Why a token list is not a usable BERT vocabulary.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VocabError {
    /// More tokens than `u32` ids.
    #[error("more than 2^32 tokens")]
    TooLarge,
    /// A special token is missing.
    #[error("not a BERT vocabulary: no {0} token")]
    NoSpecial(&'static str),
}

impl WordPiece {
    /// Reads a `vocab.txt`: one token a line, the line number is its id.
    pub fn from_vocab_file(path: &Path) -> Result<Self, PretrainedError> {
        let text = std::fs::read_to_string(path).map_err(|e| PretrainedError::io(path, e))?;
        Self::from_tokens(text.lines().map(str::to_owned))
            .map_err(|e| PretrainedError::format(path, e.to_string()))
    }

    /// A vocabulary from tokens in id order; the error names a missing special token.
    pub fn from_tokens(tokens: impl IntoIterator<Item = String>) -> Result<Self, VocabError> {
        let mut index = HashMap::new();
        for (id, token) in tokens.into_iter().enumerate() {
            let id = u32::try_from(id).map_err(|_| VocabError::TooLarge)?;
            index.entry(token).or_insert(id);
        }
        let special =
            |name: &'static str| index.get(name).copied().ok_or(VocabError::NoSpecial(name));
        Ok(Self {
            cls: special("[CLS]")?,
            sep: special("[SEP]")?,
            unk: special("[UNK]")?,
            pad: special("[PAD]")?,
            index,
        })
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the vocabulary is empty (never, once built: it holds the special tokens).
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Id of `[PAD]`, which batches pad with.
    pub fn pad_id(&self) -> u32 {
        self.pad
    }

    /// Id of `[UNK]`.
    pub fn unk_id(&self) -> u32 {
        self.unk
    }

    /// The id of a token, if it is in the vocabulary.
    pub fn id(&self, token: &str) -> Option<u32> {
        self.index.get(token).copied()
    }

    /// Tokenises `text` into at most `max_len` tokens (counting `[CLS]` and `[SEP]`, so at
    /// least 2): word pieces past the limit are dropped, as Hugging Face's truncation does.
    pub fn encode(&self, text: &str, max_len: usize) -> Encoding {
        let room = max_len.max(2) - 2;
        let mut enc = Encoding {
            ids: vec![self.cls],
            words: vec![None],
            spans: vec![None],
            ..Encoding::default()
        };
        for word in split_words(text) {
            let (Some(first), Some(last)) = (word.origins.first(), word.origins.last()) else {
                continue;
            };
            let span = (first.0, last.1);
            let index = enc.word_spans.len();
            for (n, (id, from, to)) in self.pieces(&word.text).into_iter().enumerate() {
                if enc.ids.len() > room {
                    enc.truncated = true;
                    break;
                }
                if n == 0 {
                    enc.word_spans.push(span);
                }
                enc.ids.push(id);
                enc.words.push(Some(index));
                enc.spans
                    .push(Some((word.origins[from].0, word.origins[to].1)));
            }
            if enc.truncated {
                break;
            }
        }
        enc.ids.push(self.sep);
        enc.words.push(None);
        enc.spans.push(None);
        enc
    }

    /// Greedy longest-match-first word pieces of one normalised word, each as (id, index of its
    /// first character, index of its last character); one `[UNK]` when a part cannot be matched.
    fn pieces(&self, word: &str) -> Vec<(u32, usize, usize)> {
        let bounds: Vec<usize> = word
            .char_indices()
            .map(|(at, _)| at)
            .chain([word.len()])
            .collect();
        let chars = bounds.len() - 1;
        let unk = vec![(self.unk, 0, chars.saturating_sub(1))];
        if chars > MAX_WORD_CHARS {
            return unk;
        }
        let (mut out, mut start, mut candidate) = (Vec::new(), 0, String::new());
        while start < chars {
            let found = (start + 1..=chars).rev().find_map(|end| {
                candidate.clear();
                if start > 0 {
                    candidate.push_str("##");
                }
                candidate.push_str(&word[bounds[start]..bounds[end]]);
                self.index.get(candidate.as_str()).map(|&id| (id, end))
            });
            let Some((id, end)) = found else { return unk };
            out.push((id, start, end - 1));
            start = end;
        }
        out
    }
}

/// Splits like `BertNormalizer` + `BertPreTokenizer`: control characters dropped, whitespace
/// splits, CJK ideographs and punctuation become words of their own, NFD with marks dropped,
/// lower-cased. Each output character remembers the input character it came from.
fn split_words(text: &str) -> Vec<Word> {
    let mut words = Vec::new();
    let mut word = Word::default();
    let flush = |words: &mut Vec<Word>, word: &mut Word| {
        if !word.text.is_empty() {
            words.push(std::mem::take(word));
        }
    };
    for (at, c) in text.char_indices() {
        let origin = (at, at + c.len_utf8());
        if c == '\0' || c == '\u{fffd}' || is_control(c) {
            continue;
        }
        let ideograph = is_cjk_ideograph(c);
        if ideograph {
            flush(&mut words, &mut word);
        }
        // Normalise first, then split, as the pre-tokenizer sees the normalised text.
        for n in c
            .nfd()
            .filter(|m| !is_combining_mark(*m))
            .flat_map(char::to_lowercase)
        {
            if n.is_whitespace() {
                flush(&mut words, &mut word);
            } else if n.is_ascii_punctuation() || in_table(n, PUNCTUATION) {
                flush(&mut words, &mut word);
                words.push(Word {
                    text: n.to_string(),
                    origins: vec![origin],
                });
            } else {
                word.text.push(n);
                word.origins.push(origin);
            }
        }
        if ideograph {
            flush(&mut words, &mut word);
        }
    }
    flush(&mut words, &mut word);
    words
}

/// BERT's control characters (dropped): `Cc`, `Cf` and `Co` (private use, taken as the BMP
/// block and the last two planes whole), but not tab, newline and return.
fn is_control(c: char) -> bool {
    match c {
        '\t' | '\n' | '\r' => false,
        _ => {
            c.is_control()
                || in_table(c, FORMAT)
                || matches!(c, '\u{e000}'..='\u{f8ff}' | '\u{f0000}'..)
        }
    }
}

/// The CJK blocks BERT splits into single characters.
fn is_cjk_ideograph(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B920..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

/// Whether `c` lies in one of a sorted table's inclusive ranges.
fn in_table(c: char, table: &[(u32, u32)]) -> bool {
    let c = c as u32;
    let at = table.partition_point(|&(_, hi)| hi < c);
    table.get(at).is_some_and(|&(lo, _)| lo <= c)
}

/// Non-ASCII `General_Category=P*` ranges (Unicode 14, generated with Python's `unicodedata`).
#[rustfmt::skip]
const PUNCTUATION: &[(u32, u32)] = &[
    (0xA1, 0xA1), (0xA7, 0xA7), (0xAB, 0xAB), (0xB6, 0xB7), (0xBB, 0xBB), (0xBF, 0xBF),
    (0x37E, 0x37E), (0x387, 0x387), (0x55A, 0x55F), (0x589, 0x58A), (0x5BE, 0x5BE), (0x5C0, 0x5C0),
    (0x5C3, 0x5C3), (0x5C6, 0x5C6), (0x5F3, 0x5F4), (0x609, 0x60A), (0x60C, 0x60D), (0x61B, 0x61B),
    (0x61D, 0x61F), (0x66A, 0x66D), (0x6D4, 0x6D4), (0x700, 0x70D), (0x7F7, 0x7F9), (0x830, 0x83E),
    (0x85E, 0x85E), (0x964, 0x965), (0x970, 0x970), (0x9FD, 0x9FD), (0xA76, 0xA76), (0xAF0, 0xAF0),
    (0xC77, 0xC77), (0xC84, 0xC84), (0xDF4, 0xDF4), (0xE4F, 0xE4F), (0xE5A, 0xE5B), (0xF04, 0xF12),
    (0xF14, 0xF14), (0xF3A, 0xF3D), (0xF85, 0xF85), (0xFD0, 0xFD4), (0xFD9, 0xFDA), (0x104A, 0x104F),
    (0x10FB, 0x10FB), (0x1360, 0x1368), (0x1400, 0x1400), (0x166E, 0x166E), (0x169B, 0x169C), (0x16EB, 0x16ED),
    (0x1735, 0x1736), (0x17D4, 0x17D6), (0x17D8, 0x17DA), (0x1800, 0x180A), (0x1944, 0x1945), (0x1A1E, 0x1A1F),
    (0x1AA0, 0x1AA6), (0x1AA8, 0x1AAD), (0x1B5A, 0x1B60), (0x1B7D, 0x1B7E), (0x1BFC, 0x1BFF), (0x1C3B, 0x1C3F),
    (0x1C7E, 0x1C7F), (0x1CC0, 0x1CC7), (0x1CD3, 0x1CD3), (0x2010, 0x2027), (0x2030, 0x2043), (0x2045, 0x2051),
    (0x2053, 0x205E), (0x207D, 0x207E), (0x208D, 0x208E), (0x2308, 0x230B), (0x2329, 0x232A), (0x2768, 0x2775),
    (0x27C5, 0x27C6), (0x27E6, 0x27EF), (0x2983, 0x2998), (0x29D8, 0x29DB), (0x29FC, 0x29FD), (0x2CF9, 0x2CFC),
    (0x2CFE, 0x2CFF), (0x2D70, 0x2D70), (0x2E00, 0x2E2E), (0x2E30, 0x2E4F), (0x2E52, 0x2E5D), (0x3001, 0x3003),
    (0x3008, 0x3011), (0x3014, 0x301F), (0x3030, 0x3030), (0x303D, 0x303D), (0x30A0, 0x30A0), (0x30FB, 0x30FB),
    (0xA4FE, 0xA4FF), (0xA60D, 0xA60F), (0xA673, 0xA673), (0xA67E, 0xA67E), (0xA6F2, 0xA6F7), (0xA874, 0xA877),
    (0xA8CE, 0xA8CF), (0xA8F8, 0xA8FA), (0xA8FC, 0xA8FC), (0xA92E, 0xA92F), (0xA95F, 0xA95F), (0xA9C1, 0xA9CD),
    (0xA9DE, 0xA9DF), (0xAA5C, 0xAA5F), (0xAADE, 0xAADF), (0xAAF0, 0xAAF1), (0xABEB, 0xABEB), (0xFD3E, 0xFD3F),
    (0xFE10, 0xFE19), (0xFE30, 0xFE52), (0xFE54, 0xFE61), (0xFE63, 0xFE63), (0xFE68, 0xFE68), (0xFE6A, 0xFE6B),
    (0xFF01, 0xFF03), (0xFF05, 0xFF0A), (0xFF0C, 0xFF0F), (0xFF1A, 0xFF1B), (0xFF1F, 0xFF20), (0xFF3B, 0xFF3D),
    (0xFF3F, 0xFF3F), (0xFF5B, 0xFF5B), (0xFF5D, 0xFF5D), (0xFF5F, 0xFF65), (0x10100, 0x10102), (0x1039F, 0x1039F),
    (0x103D0, 0x103D0), (0x1056F, 0x1056F), (0x10857, 0x10857), (0x1091F, 0x1091F), (0x1093F, 0x1093F), (0x10A50, 0x10A58),
    (0x10A7F, 0x10A7F), (0x10AF0, 0x10AF6), (0x10B39, 0x10B3F), (0x10B99, 0x10B9C), (0x10EAD, 0x10EAD), (0x10F55, 0x10F59),
    (0x10F86, 0x10F89), (0x11047, 0x1104D), (0x110BB, 0x110BC), (0x110BE, 0x110C1), (0x11140, 0x11143), (0x11174, 0x11175),
    (0x111C5, 0x111C8), (0x111CD, 0x111CD), (0x111DB, 0x111DB), (0x111DD, 0x111DF), (0x11238, 0x1123D), (0x112A9, 0x112A9),
    (0x1144B, 0x1144F), (0x1145A, 0x1145B), (0x1145D, 0x1145D), (0x114C6, 0x114C6), (0x115C1, 0x115D7), (0x11641, 0x11643),
    (0x11660, 0x1166C), (0x116B9, 0x116B9), (0x1173C, 0x1173E), (0x1183B, 0x1183B), (0x11944, 0x11946), (0x119E2, 0x119E2),
    (0x11A3F, 0x11A46), (0x11A9A, 0x11A9C), (0x11A9E, 0x11AA2), (0x11C41, 0x11C45), (0x11C70, 0x11C71), (0x11EF7, 0x11EF8),
    (0x11FFF, 0x11FFF), (0x12470, 0x12474), (0x12FF1, 0x12FF2), (0x16A6E, 0x16A6F), (0x16AF5, 0x16AF5), (0x16B37, 0x16B3B),
    (0x16B44, 0x16B44), (0x16E97, 0x16E9A), (0x16FE2, 0x16FE2), (0x1BC9F, 0x1BC9F), (0x1DA87, 0x1DA8B), (0x1E95E, 0x1E95F),
];

/// `General_Category=Cf` ranges (Unicode 14).
#[rustfmt::skip]
const FORMAT: &[(u32, u32)] = &[
    (0xAD, 0xAD), (0x600, 0x605), (0x61C, 0x61C), (0x6DD, 0x6DD), (0x70F, 0x70F), (0x890, 0x891),
    (0x8E2, 0x8E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x2064), (0x2066, 0x206F),
    (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x13438), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F),
];
