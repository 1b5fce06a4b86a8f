use fusionlab::data::text::{PAD, UNK, Vocab, normalize, tokenize};

#[test]
fn normalises_unicode_and_case() {
    assert_eq!(normalize("Ｆｕｌｌ ﬁle ÉCOLE"), "full file école");
    // Composed and decomposed accents become the same word.
    assert_eq!(tokenize("caf\u{e9}"), tokenize("cafe\u{301}"));
}

#[test]
fn tokenises_words_and_drops_punctuation() {
    let words = tokenize("A red circle, near the top! It's 3.5cm.").expect("words");
    assert_eq!(
        words,
        ["a", "red", "circle", "near", "the", "top", "it's", "3.5cm"]
    );
}

#[test]
fn empty_or_blank_text_is_missing_not_an_error() {
    assert_eq!(tokenize(""), None);
    assert_eq!(tokenize("  \t\n "), None);
    assert_eq!(tokenize("!!! ..."), None);
}

#[test]
fn vocab_counts_orders_and_maps_unknowns() {
    let texts: Vec<Vec<String>> = ["a red circle", "a blue circle", "a circle"]
        .iter()
        .map(|t| tokenize(t).expect("words"))
        .collect();
    let vocab = Vocab::build(texts.iter().map(Vec::as_slice), 2);
    // [PAD], [UNK], then words seen ≥ 2 times by count: a (3) = circle (3) → alphabetical.
    assert_eq!(vocab.len(), 4);
    assert_eq!(vocab.token(PAD), Some("[PAD]"));
    assert_eq!(vocab.token(UNK), Some("[UNK]"));
    assert_eq!(vocab.token(2), Some("a"));
    assert_eq!(vocab.token(3), Some("circle"));
    let ids = vocab.encode(&tokenize("a red circle").expect("words"), 32);
    assert_eq!(ids, [2, UNK, 3]);
    // Truncation.
    assert_eq!(
        vocab
            .encode(&tokenize("a a a a a").expect("words"), 3)
            .len(),
        3
    );
    // Round trip through JSON keeps ids.
    let json = serde_json::to_string(&vocab).expect("json");
    let back: Vocab = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, vocab);
    assert_eq!(back.id("circle"), 3);
}
