"""Reference preprocessing for an exported fusionlab ONNX model: raw files -> the graph's inputs.

Usage: python preprocess.py MODEL_DIR [--image F.png] [--text "..."] [--audio F.wav] --out X.npz

Reads MODEL_DIR/config.json (`features`, `model`, `vocab`; docs/checkpoint.md §3) and writes the
five inputs of `fusionlab export --onnx`: image [1,3,S,S] f32, text_ids [1,L] int64, text_mask
[1,L] f32, audio [1,M,F] f32 (log-mel), present [1,3] f32. Absent modalities follow §6.1. Only
numpy and the standard library: PNG (8-bit, no palette) and PCM/float WAV; the text tokeniser
is a regex approximation of UAX #29 that is exact for plain words.
"""

import argparse
import json
import math
import re
import struct
import unicodedata
import zlib

import numpy as np


# ---------- image (§4) ----------
def decode_png(path):
    """RGBA float64 array (h, w, 4) in 0..255 from an 8-bit grey/RGB(A) PNG (§4 step 1)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG"
    pos, idat = 8, b""
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body[:13])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    ch = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour)
    assert depth == 8 and ch and not interlace, f"{path}: only 8-bit non-interlaced grey/RGB(A)"
    raw, stride = zlib.decompress(idat), w * ch
    rows, prev, p = [], bytearray(stride), 0
    for _ in range(h):  # undo the per-row filters (PNG spec §9)
        f, line = raw[p], bytearray(raw[p + 1 : p + 1 + stride])
        p += 1 + stride
        for i in range(stride) if f else ():
            a = line[i - ch] if i >= ch else 0
            b, c = prev[i], (prev[i - ch] if i >= ch else 0)
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                q = a + b - c
                pa, pb, pc = abs(q - a), abs(q - b), abs(q - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    px = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(h, w, ch).astype(np.float64)
    if ch <= 2:  # grey is copied to R, G and B (§4 step 3)
        px = np.concatenate([px[..., :1]] * 3 + [px[..., 1:]], axis=2)
    if px.shape[2] == 3:
        px = np.concatenate([px, np.full((h, w, 1), 255.0)], axis=2)
    return px


def triangle_weights(n, m):
    """(m, n) matrix of the triangle filter for n -> m pixels (§4, *Resampling*)."""
    ratio = n / m
    s = max(ratio, 1.0)
    out = np.zeros((m, n))
    for o in range(m):
        c = (o + 0.5) * ratio
        left = min(max(math.floor(c - s), 0), n - 1)
        right = min(max(math.ceil(c + s), left + 1), n)
        i = np.arange(left, right)
        wts = np.maximum(0.0, 1.0 - np.abs((i - (c - 0.5)) / s))
        out[o, left:right] = wts / wts.sum()
    return out


def resize(px, w2, h2):
    """Vertical pass unrounded, then horizontal pass rounded half up and clamped to 0..255."""
    h, w, _ = px.shape
    tmp = np.einsum("yh,hwc->ywc", triangle_weights(h, h2), px)
    out = np.einsum("xw,ywc->yxc", triangle_weights(w, w2), tmp)
    return np.floor(np.clip(out, 0, 255) + 0.5)


def image_features(path, cfg):
    size, fit = cfg.get("size", 32), cfg.get("fit", "center-crop")
    mean = np.array(cfg.get("mean", [0.5] * 3)).reshape(3, 1, 1)
    std = np.array(cfg.get("std", [0.25] * 3)).reshape(3, 1, 1)
    px = decode_png(path)
    h, w, _ = px.shape
    ratio = (max if fit == "center-crop" else min)(size / w, size / h)
    w2, h2 = max(1, int(math.floor(w * ratio + 0.5))), max(1, int(math.floor(h * ratio + 0.5)))
    if (w2, h2) != (w, h):
        px = resize(px, w2, h2)
    v = px / 255.0
    rgb = v[..., :3] * v[..., 3:] + (1.0 - v[..., 3:])  # alpha over white (§4 step 4)
    rgb = rgb.transpose(2, 0, 1)  # CHW
    if fit == "center-crop":  # cut the centre S x S (§4 step 2)
        y0, x0 = (h2 - size) // 2 if h2 > w2 else 0, (w2 - size) // 2 if h2 <= w2 else 0
        img = rgb[:, y0 : y0 + size, x0 : x0 + size]
    else:  # "pad": the rest of the square is the mean, i.e. 0 after normalising (§4 step 5)
        img = np.broadcast_to(mean, (3, size, size)).copy()
        x0, y0 = (size - w2) // 2, (size - h2) // 2
        img[:, y0 : y0 + h2, x0 : x0 + w2] = rgb
    return (img - mean) / std  # §4 step 6


# ---------- audio (§5) ----------
def read_wav(path):
    """Mono samples and rate: integer PCM s/2^(bits-1) (8-bit unsigned), or 32-bit float (§5.1)."""
    data = open(path, "rb").read()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", f"{path}: not a WAV"
    pos, fmt, body = 12, None, None
    while pos + 8 <= len(data):
        kind, (n,) = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])
        if kind == b"fmt ":
            fmt = struct.unpack("<HHIIHH", data[pos + 8 : pos + 24])
        elif kind == b"data":
            body = data[pos + 8 : pos + 8 + n]
        pos += 8 + n + (n & 1)
    tag, channels, rate, _, align, bits = fmt
    width = align // channels
    if tag == 3:  # IEEE float
        x = np.frombuffer(body, dtype="<f4").astype(np.float64)
    elif width == 1:
        x = (np.frombuffer(body, dtype=np.uint8).astype(np.float64) - 128) / 128
    else:  # little-endian signed integers in `width` bytes, `bits` significant
        b = np.frombuffer(body[: len(body) // width * width], dtype=np.uint8).reshape(-1, width)
        v = sum(b[:, k].astype(np.int64) << (8 * k) for k in range(width))
        v = np.where(v >= 1 << (8 * width - 1), v - (1 << (8 * width)), v) >> (8 * width - bits)
        x = v / 2.0 ** (bits - 1)
    return x.reshape(-1, channels).mean(axis=1), rate


def resample(x, rate_in, sr):
    """rubato 5.0.1 `Fft` (chunk 1024, FixedSync::Input) with its delay trimmed (§5.2)."""
    g = math.gcd(rate_in, sr)
    blocks = max(1, -(-(1024 // 4) // (rate_in // g)))
    n_in, n_out = blocks * rate_in // g, blocks * sr // g
    c = lambda n: 1 / (13.745202940783823 / n + 121.73532586374934 / n**2 + 5964.163279612051 / n**3 + 1)
    cutoff = c(n_out) * n_out / n_in if n_in > n_out else c(n_in)
    i = np.arange(n_in)
    bh = 0.35875 - 0.48829 * np.cos(2 * np.pi * i / n_in) + 0.14128 * np.cos(4 * np.pi * i / n_in)
    bh -= 0.01168 * np.cos(6 * np.pi * i / n_in)
    h = bh**2 * np.sinc((i - n_in // 2) * cutoff)
    hf = np.fft.rfft(np.concatenate([h / h.sum() / (2 * n_in), np.zeros(n_in)]))
    keep = n_in + 1 if n_in < n_out else n_out
    delay, want = n_out // 2, math.ceil(len(x) * n_out / n_in)
    out, overlap, pos = [], np.zeros(n_out), 0
    while len(out) * n_out < want + delay:
        block = np.zeros(2 * n_in)
        seg = x[pos : pos + n_in]
        block[: len(seg)] = seg
        pos += n_in
        y = np.zeros(n_out + 1, dtype=complex)
        y[:keep] = np.fft.rfft(block)[:keep] * hf[:keep]
        t = np.fft.irfft(y, 2 * n_out) * (2 * n_out)  # unnormalised inverse
        out.append(t[:n_out] + overlap)
        overlap = t[n_out:]
    return np.concatenate(out)[delay : delay + want]


def fixed_window(x, clip):
    """Zero-pad centred, or keep the window of greatest energy, earliest on ties (§5.3)."""
    if len(x) <= clip:
        first = (clip - len(x)) // 2
        return np.concatenate([np.zeros(first), x, np.zeros(clip - len(x) - first)])
    sq = x.astype(np.float32).astype(np.float64) ** 2
    best, start, e = sq[:clip].sum(), 0, sq[:clip].sum()
    for s in range(1, len(x) - clip + 1):
        e += sq[s + clip - 1] - sq[s - 1]
        if e > best + 1e-12:
            best, start = e, s
    return x[start : start + clip]


def audio_features(path, cfg):
    sr = cfg.get("sample_rate", 16000)
    n_mels, floor = cfg.get("n_mels", 64), cfg.get("log_floor", 1e-6)
    win = max(2, round(cfg.get("window_ms", 25.0) / 1000 * sr))
    hop = round(cfg.get("hop_ms", 10.0) / 1000 * sr)
    x, rate = read_wav(path)
    if rate != sr:
        x = resample(x, rate, sr)
    x = fixed_window(x, round(cfg.get("clip_seconds", 1.0) * sr))
    nfft = 1 << (win - 1).bit_length()
    frames = 1 + (len(x) - win) // hop
    # §5.4: periodic Hann, no centre padding, zero-padded to nfft, power spectrum
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)
    seg = np.stack([x[t * hop : t * hop + win] * hann for t in range(frames)])
    power = np.abs(np.fft.rfft(seg, nfft, axis=1)) ** 2  # (frames, nfft/2+1)
    # §5.5: HTK mel triangles, peak 1, no area normalisation, 0 Hz .. sr/2
    mel = lambda f: 2595 * np.log10(1 + f / 700)
    edges = 700 * (10 ** (np.arange(n_mels + 2) * mel(sr / 2) / (n_mels + 1) / 2595) - 1)
    fk = np.arange(nfft // 2 + 1) * sr / nfft
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    fb = np.maximum(np.where(fk <= mid, (fk - lo) / (mid - lo), (hi - fk) / (hi - mid)), 0.0)
    return np.log(np.maximum(fb @ power.T, floor))  # §5.6, (M, F) mel-major


# ---------- text (§6) ----------
def text_ids(text, vocab, max_tokens):
    """Ids of the words (unknown -> [UNK] = 1), cut to max_tokens; None when no words."""
    words = re.findall(r"\w+(?:['.]\w+)*", unicodedata.normalize("NFKC", text).lower())
    words = [w for w in words if any(ch.isalnum() for ch in w)]
    index = {w: i for i, w in enumerate(vocab)}
    return [index.get(w, 1) for w in words][:max_tokens] or None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir")
    ap.add_argument("--image")
    ap.add_argument("--text")
    ap.add_argument("--audio")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    card = json.load(open(f"{a.model_dir}/config.json"))
    model, features = card["model"], card.get("features", {})
    s, m, f = model["image_size"], model["mel_bins"], model["frames"]
    # §6.1: absent image/audio are zeros; absent text is one id 0 with mask 0
    image, audio = np.zeros((1, 3, s, s)), np.zeros((1, m, f))
    ids, mask, present = np.zeros((1, 1), np.int64), np.zeros((1, 1)), np.zeros((1, 3))
    if a.image:
        image[0], present[0, 0] = image_features(a.image, features.get("image", {})), 1
    tokens = text_ids(a.text, card["vocab"], model["max_tokens"]) if a.text else None
    if tokens:  # a batch of one: L = len(tokens), no padding (§6 step 5)
        ids, mask, present[0, 1] = np.array([tokens], np.int64), np.ones((1, len(tokens))), 1
    if a.audio:
        audio[0], present[0, 2] = audio_features(a.audio, features.get("audio", {})), 1
    assert present.any(), "at least one modality must be given"
    f32 = lambda v: v.astype(np.float32)
    np.savez(a.out, image=f32(image), text_ids=ids, text_mask=f32(mask), audio=f32(audio),
             present=f32(present))


if __name__ == "__main__":
    main()
