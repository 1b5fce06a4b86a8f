#!/usr/bin/env python3
"""Check assets/text-topics/manifest.csv (stdlib only).

Verifies: the header, 8 labels with 14 train + 6 test rows each, 6-16 words per
sentence, no duplicate sentences, no label word (or a form of it) in a test
sentence, and that no content word of a test sentence occurs in, or shares a
prefix with, any content word of the training sentences (of any class).

Prefix rule (catches inflections): a test word and a train word clash when
both have at least 5 letters and share their first 5 ("storm"/"stormy",
"cloud"/"cloudy"), or when a shorter word is the start of the other followed
by an inflectional suffix, allowing a doubled final letter or a dropped final
"e" ("rain"/"rainy", "run"/"runny", "hot"/"hotter", "ride"/"riding"). Short
words that merely begin another word ("car"/"carrot") do not clash.

Prints a summary; exits 1 listing every offending row on any failure.
Usage: python3 assets/text-topics/check.py [path/to/manifest.csv]
"""

import csv
import re
import sys
from collections import Counter
from pathlib import Path

HEADER = ["label", "split", "text"]
LABELS = ["weather", "food", "sport", "music", "animals", "travel", "health", "computers"]
PER_SPLIT = {"train": 14, "test": 6}
MIN_WORDS, MAX_WORDS = 6, 16
PREFIX = 5
SUFFIXES = (
    "s es ed d ing er ers est y ies ied ier iest ly n en ness ful less ish"
).split()

STOPWORDS = set(
    """a an the is are was were be been to of in on at for with and or but it its this
    that these those my our your his her their we i you he she they me us them so very
    too just all some can will would could should do does did not no from by as up out
    about into over after before again then than there here when what which who how has
    have had one two more most much many every each get got like really still today
    now""".split()
)

# Pairs (test word, train word) allowed to share a prefix although unrelated.
# Keep this minimal; every entry must be a genuinely different word.
PREFIX_WHITELIST = set()


def words(text):
    """Lower-cased words with punctuation stripped (apostrophes dropped)."""
    return re.findall(r"[a-z0-9]+", text.lower().replace("'", ""))


def content(text):
    return [w for w in words(text) if w not in STOPWORDS]


def inflects(short, long):
    """`long` is `short` plus an inflectional suffix (doubled last letter or dropped e allowed)."""
    if len(short) < 3:
        return False
    stems = [(short, SUFFIXES), (short + short[-1], SUFFIXES)]
    if short.endswith("e"):  # ride -> riding
        stems.append((short[:-1], [x for x in SUFFIXES if x[0] in "aeiouy"]))
    if short.endswith("y"):  # tidy -> tidier
        stems.append((short[:-1], [x for x in SUFFIXES if x[0] == "i"]))
    return any(long.startswith(st) and long[len(st):] in sufs for st, sufs in stems)


def clash(a, b):
    """Same word, or one looks like an inflection of the other (see the prefix rule above)."""
    if a == b:
        return True
    if len(a) >= PREFIX and len(b) >= PREFIX:
        return a[:PREFIX] == b[:PREFIX]
    short, long = sorted((a, b), key=len)
    return inflects(short, long)


def main():
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("manifest.csv")
    errors = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header != HEADER:
            print(f"FAIL {path}: header is {header}, expected {HEADER}")
            return 1
        rows = []
        for line, rec in enumerate(reader, start=2):
            if len(rec) != 3:
                errors.append(f"line {line}: {len(rec)} fields, expected 3: {rec}")
                continue
            rows.append((line, rec[0], rec[1], rec[2]))

    counts = Counter((label, split) for _, label, split, _ in rows)
    for line, label, split, text in rows:
        if label not in LABELS:
            errors.append(f"line {line}: unknown label {label!r}")
        if split not in PER_SPLIT:
            errors.append(f"line {line}: bad split {split!r}")
        n = len(words(text))
        if not MIN_WORDS <= n <= MAX_WORDS:
            errors.append(f"line {line}: {n} words (want {MIN_WORDS}-{MAX_WORDS}): {text}")
        if text != text.strip() or "  " in text:
            errors.append(f"line {line}: stray whitespace: {text!r}")
    for label in LABELS:
        for split, want in PER_SPLIT.items():
            if counts[(label, split)] != want:
                errors.append(f"{label}/{split}: {counts[(label, split)]} rows, expected {want}")

    seen = {}
    for line, _, _, text in rows:
        key = " ".join(words(text))
        if key in seen:
            errors.append(f"line {line}: duplicate of line {seen[key]}: {text}")
        seen.setdefault(key, line)

    # Train vocabulary: word -> first line it occurs on.
    train_vocab = {}
    for line, _, split, text in rows:
        if split == "train":
            for w in content(text):
                train_vocab.setdefault(w, line)

    label_in_train = 0
    test_vocab = set()
    for line, label, split, text in rows:
        toks = content(text)
        label_hits = [w for w in toks if any(clash(w, lab) for lab in LABELS)]
        if split == "train":
            label_in_train += bool(label_hits)
            continue
        test_vocab.update(toks)
        if label_hits:
            errors.append(f"line {line}: label word {label_hits} in test sentence: {text}")
        for w in toks:
            if w in train_vocab:
                errors.append(
                    f"line {line}: test word {w!r} occurs in train (line {train_vocab[w]}): {text}"
                )
                continue
            for t in train_vocab:
                if clash(w, t) and (w, t) not in PREFIX_WHITELIST:
                    errors.append(
                        f"line {line}: test word {w!r} shares a prefix with train word "
                        f"{t!r} (line {train_vocab[t]}): {text}"
                    )

    n_train = sum(1 for r in rows if r[2] == "train")
    n_test = sum(1 for r in rows if r[2] == "test")
    lengths = [len(words(r[3])) for r in rows]
    print(f"{path}: {len(rows)} rows, {len(LABELS)} labels, {n_train} train, {n_test} test")
    if lengths:
        print(f"words per sentence: {min(lengths)}-{max(lengths)}, mean {sum(lengths) / len(lengths):.1f}")
    print(
        f"content vocabulary: {len(train_vocab)} train words, {len(test_vocab)} test words, "
        f"{len(test_vocab & set(train_vocab))} shared"
    )
    print(f"train sentences containing a label word: {label_in_train}")
    if errors:
        for e in errors:
            print("FAIL", e)
        print(f"{len(errors)} problem(s)")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
