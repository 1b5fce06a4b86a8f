#!/usr/bin/env python3
"""Time the PyTorch mirror of fusionlab's default model (benches/reference/model.py).

Measures what ``cargo bench --bench train`` measures on the Rust side:

* training: one optimiser step on a batch of 32 (forward, cross-entropy, loss read-back,
  backward, gradient-norm clipping at 1.0, AdamW lr 3e-3 wd 1e-2, argmax read-back), median over
  many steps after a warm-up -> samples/s;
* predict: one sample, eval mode, ``torch.inference_mode``: what ``engine::predict`` does (encode,
  fuse, softmax, loss, the three single-modality fusion passes that evaluation adds, read-back of
  probabilities, weights, embeddings and attention) -> median ms; and the bare forward pass.

Inputs are random tensors of the Rust model's shapes. When target/bench/rust.json exists (written by
the Rust bench) its shapes, class count, vocabulary and text-length distribution are used, so both
sides see the same sizes; otherwise the defaults below (those of synthetic:redundant) are.
Writes target/bench/torch.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
import warnings
from pathlib import Path

# libgomp's default spin-waiting turns every parallel region into a scheduler time slice (several
# ms) as soon as another process holds a core: a busy 2-core machine made a 3 ms forward pass take
# 200 ms. Sleeping waiters avoid that at a few microseconds per region; set OMP_WAIT_POLICY
# yourself (e.g. ACTIVE) to measure something else. Must be set before torch loads libgomp.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")  # numpy is not needed

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.dont_write_bytecode = True  # no __pycache__ beside the sources
sys.path.insert(0, str(Path(__file__).resolve().parent))
from model import Config, FusionModel, check_gru_equivalence, parameter_groups  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def text_length_sampler(hist: dict[str, int] | None, rng: random.Random):
    if not hist:
        return lambda: rng.randint(6, 10)
    lengths = [int(k) for k in hist]
    weights = [hist[k] for k in hist]
    return lambda: rng.choices(lengths, weights)[0]


def make_batch(cfg: Config, b: int, draw_len, gen: torch.Generator, rng: random.Random):
    lengths = [max(0, min(draw_len(), cfg.max_tokens)) for _ in range(b)]
    width = max(1, min(max(lengths), cfg.max_tokens))
    ids = torch.zeros(b, width, dtype=torch.int64)
    mask = torch.zeros(b, width)
    for i, n in enumerate(lengths):
        if n:
            ids[i, :n] = torch.randint(2, max(cfg.vocab_size, 3), (n,), generator=gen)
            mask[i, :n] = 1.0
    present = torch.ones(b, 3)
    present[:, 1] = (torch.tensor(lengths) > 0).float()
    return {
        "image": torch.randn(b, 3, cfg.image_size, cfg.image_size, generator=gen),
        "text_ids": ids,
        "text_mask": mask,
        # log-mel in dB-ish units; the encoder standardises each clip anyway
        "audio": torch.randn(b, cfg.mel_bins, cfg.frames, generator=gen) * 10.0 - 40.0,
        "present": present,
        "labels": torch.tensor([rng.randrange(cfg.classes) for _ in range(b)]),
    }


def inputs(batch):
    return batch["image"], batch["text_ids"], batch["text_mask"], batch["audio"], batch["present"]


def train_step(model, opt, params, batch, clip_norm):
    out = model(*inputs(batch))
    logits = out[0]
    loss = F.cross_entropy(logits, batch["labels"])
    loss_value = loss.item()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, clip_norm)
    opt.step()
    logits.detach().argmax(-1).tolist()
    return loss_value


def predict(model, batch):
    """One sample, as engine::predict -> evaluate(detailed) does it."""
    present = batch["present"]
    enc = model.encode(*inputs(batch))
    logits, fused, alpha = model.fuse(enc, present)
    F.cross_entropy(logits, batch["labels"]).item()
    predicted = logits.argmax(-1).tolist()
    weights = alpha.tolist()
    have = (present > 0).any(0).tolist()
    only = []
    for m in range(3):
        if have[m]:
            keep = [k == m for k in range(3)]
            only.append(model.fuse_masked(enc, present, keep).argmax(-1).tolist())
    probs = torch.softmax(logits, -1).tolist()
    emb = [e[2].tolist() for e in enc]
    att = [e[3].tolist() for e in enc]
    return predicted, probs, weights, only, emb, fused.tolist(), att


def forward_only(model, batch):
    logits = model(*inputs(batch))[0]
    return torch.softmax(logits, -1).tolist()


def timed(fn, warmup_s: float, measure_s: float, min_runs: int, max_runs: int = 100_000):
    """Median seconds of ``fn()`` after ``warmup_s`` of warm-up (at least 3 calls)."""
    start = time.perf_counter()
    n = 0
    while n < 3 or time.perf_counter() - start < warmup_s:
        fn()
        n += 1
    times = []
    start = time.perf_counter()
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() - start < measure_s):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return {
        "median": statistics.median(times),
        "mean": statistics.fmean(times),
        "p10": times[len(times) // 10],
        "p90": times[(len(times) * 9) // 10],
        "runs": len(times),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rust-json", default=str(ROOT / "target/bench/rust.json"))
    ap.add_argument("--out", default=str(ROOT / "target/bench/torch.json"))
    ap.add_argument("--threads", type=int, default=None,
                    help="torch.set_num_threads (default: the thread count in rust.json, else os.cpu_count(), "
                         "as candle uses every core)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--gru", choices=["packed", "loop"], default="packed",
                    help="nn.GRU over a packed sequence (default) or a literal port of the Rust masked loop")
    ap.add_argument("--adamw", choices=["fused", "foreach", "default"], default="fused",
                    help="torch.optim.AdamW implementation (same update; fused is the fastest on CPU)")
    ap.add_argument("--train-seconds", type=float, default=15.0)
    ap.add_argument("--predict-seconds", type=float, default=6.0)
    ap.add_argument("--quick", action="store_true", help="a few runs only (smoke test)")
    args = ap.parse_args()

    rust = None
    rust_path = Path(args.rust_json)
    if rust_path.is_file():
        rust = json.loads(rust_path.read_text())
    if args.threads is None:
        args.threads = (rust or {}).get("threads") or os.cpu_count() or 1
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    rng = random.Random(0)

    if rust:
        cfg = Config.from_rust(rust["model"])
        hist = rust.get("shapes", {}).get("text_lengths")
        print(f"shapes from {rust_path}")
    else:
        cfg = Config()
        hist = None
        print(f"{rust_path} not found (run `cargo bench --bench train` first); using default shapes")
    fusion = rust["model"].get("fusion", "attention") if rust else "attention"
    if fusion not in ("attention", "crossmodal"):
        print(f"warning: the Rust model uses {fusion} fusion; this mirror has attention and crossmodal only: timing attention")
        fusion = "attention"
    print(f"fusion: {fusion}")
    if rust and rust["model"].get("text_encoder") != "gru":
        print(f"warning: the Rust model uses a {rust['model'].get('text_encoder')} text encoder; this mirror is the GRU")

    gru_error = check_gru_equivalence(cfg)
    print(f"nn.GRU (packed) vs Rust-style masked GRU loop, same weights: max |diff| = {gru_error:.2e}")
    if gru_error > 1e-4:
        print("error: the packed GRU does not reproduce the masked loop", file=sys.stderr)
        return 1

    model = FusionModel(cfg, gru=args.gru, fusion=fusion)
    params = [p for p in model.parameters() if p.requires_grad]
    count = sum(p.numel() for p in params)
    groups = parameter_groups(model)
    print(f"torch : {count} parameters {groups}")
    if rust:
        rust_count = rust.get("parameter_count")
        print(f"candle: {rust_count} parameters {rust.get('parameter_groups')}")
        print("parameter counts " + ("match" if rust_count == count else "DIFFER"))

    b = args.batch_size
    draw_len = text_length_sampler(hist, rng)
    batches = [make_batch(cfg, b, draw_len, gen, rng) for _ in range(8)]
    print(
        f"torch {torch.__version__}, {args.threads} threads, batch {b}, image 3x{cfg.image_size}x{cfg.image_size}, "
        f"log-mel {cfg.mel_bins}x{cfg.frames}, vocab {cfg.vocab_size}, {cfg.classes} classes, "
        f"text lengths per batch {[x['text_ids'].shape[1] for x in batches]}, GRU {args.gru}, AdamW {args.adamw}, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}"
    )

    quick = args.quick
    impl = {"fused": {"fused": True}, "foreach": {"foreach": True}, "default": {}}[args.adamw]
    try:
        opt = torch.optim.AdamW(params, lr=3e-3, weight_decay=1e-2, betas=(0.9, 0.999), eps=1e-8, **impl)
    except (RuntimeError, TypeError, ValueError) as e:  # older torch: no fused CPU AdamW
        print(f"AdamW {args.adamw} unavailable ({e}); using the default implementation")
        args.adamw = "default"
        opt = torch.optim.AdamW(params, lr=3e-3, weight_decay=1e-2, betas=(0.9, 0.999), eps=1e-8)
    model.train()
    it = iter(range(1 << 62))

    def step():
        train_step(model, opt, params, batches[next(it) % len(batches)], 1.0)

    train = timed(step, 0.5 if quick else 3.0, 0.0 if quick else args.train_seconds, 3 if quick else 10)
    sps = b / train["median"]

    def forward_loss():
        batch = batches[next(it) % len(batches)]
        F.cross_entropy(model(*inputs(batch))[0], batch["labels"]).item()

    fwd_train = timed(forward_loss, 0.2 if quick else 1.0, 0.0 if quick else 5.0, 3 if quick else 10)
    print(f"train step: median {train['median'] * 1e3:.1f} ms (p10 {train['p10'] * 1e3:.1f}, p90 {train['p90'] * 1e3:.1f}, "
          f"{train['runs']} steps) = {sps:.1f} samples/s; "
          f"forward + loss alone {fwd_train['median'] * 1e3:.1f} ms")

    model.eval()
    one = make_batch(cfg, 1, draw_len, gen, rng)
    with torch.inference_mode():
        pred = timed(lambda: predict(model, one), 0.2 if quick else 2.0, 0.0 if quick else args.predict_seconds,
                     3 if quick else 30)
        fwd = timed(lambda: forward_only(model, one), 0.2 if quick else 1.0, 0.0 if quick else args.predict_seconds / 2,
                    3 if quick else 30)
    print(f"predict (1 sample): median {pred['median'] * 1e3:.2f} ms (p10 {pred['p10'] * 1e3:.2f}, "
          f"p90 {pred['p90'] * 1e3:.2f}, {pred['runs']} runs); forward only {fwd['median'] * 1e3:.2f} ms")

    result = {
        "implementation": f"PyTorch {torch.__version__} (CPU)",
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "batch_size": b,
        "gru": args.gru,
        "adamw": args.adamw,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "train_step_ms": train["median"] * 1e3,
        "train_step_p10_ms": train["p10"] * 1e3,
        "train_step_p90_ms": train["p90"] * 1e3,
        "train_steps_measured": train["runs"],
        "samples_per_second": sps,
        "train_forward_ms": fwd_train["median"] * 1e3,
        "predict_ms": pred["median"] * 1e3,
        "predict_runs_measured": pred["runs"],
        "forward_ms": fwd["median"] * 1e3,
        "parameter_count": count,
        "parameter_groups": groups,
        "shapes_from": str(rust_path) if rust else None,
        "config": {k: v for k, v in vars(cfg).items() if k != "extra"},
        "python": platform.python_version(),
        "quick": quick,
        "unix_time": int(time.time()),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
