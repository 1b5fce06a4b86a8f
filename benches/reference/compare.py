#!/usr/bin/env python3
"""Set the Rust (candle) and PyTorch benchmark results side by side.

Reads target/bench/rust.json (``cargo bench --bench train``) and target/bench/torch.json
(``benches/reference/bench.py``). Targets: training throughput candle/torch >= 1.0,
one-sample predict latency candle/torch <= 0.5. Standard library only; always exits 0 when both
files are there (this is a report, not a gate), 2 when one is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:,.{digits}f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rust", default=str(ROOT / "target/bench/rust.json"))
    ap.add_argument("--torch", default=str(ROOT / "target/bench/torch.json"))
    args = ap.parse_args()
    data = {}
    for side, path in (("candle", args.rust), ("torch", args.torch)):
        p = Path(path)
        if not p.is_file():
            hint = "cargo bench --bench train" if side == "candle" else "bash benches/reference/run.sh"
            print(f"compare: {p} is missing (run `{hint}`)")
            return 2
        data[side] = json.loads(p.read_text())
    r, t = data["candle"], data["torch"]

    def ratio(key):
        a, b = r.get(key), t.get(key)
        return a / b if a and b else None

    rows = [
        # label, key, digits, target text, passes(ratio)
        ("training throughput (samples/s)", "samples_per_second", 1, ">= 1.0", lambda x: x >= 1.0),
        ("train step, batch 32 (ms)", "train_step_ms", 1, "", None),
        ("  of which forward + loss (ms)", "train_forward_ms", 1, "", None),
        ("predict latency, 1 sample (ms)", "predict_ms", 2, "<= 0.5", lambda x: x <= 0.5),
        ("forward only, 1 sample (ms)", "forward_ms", 2, "", None),
        ("parameters", "parameter_count", 0, "= 1.0", lambda x: x == 1.0),
        ("threads", "threads", 0, "", None),
    ]
    head = f"{'':34} {'candle':>12} {'torch':>12} {'candle/torch':>13} {'target':>8}  status"
    print(f"candle: {r.get('implementation', '?')}   torch: {t.get('implementation', '?')}"
          + "".join(f", {k} {t[k]}" for k in ("gru", "adamw", "omp_wait_policy") if t.get(k)))
    print(head)
    print("-" * len(head))
    for label, key, digits, target, ok in rows:
        x = ratio(key)
        status = "" if ok is None or x is None else ("ok" if ok(x) else "MISSED")
        print(f"{label:34} {fmt(r.get(key), digits):>12} {fmt(t.get(key), digits):>12} "
              f"{fmt(x, 2) if x is not None else '-':>13} {target:>8}  {status}")
    if r.get("parameter_groups") and t.get("parameter_groups"):
        groups = sorted(set(r["parameter_groups"]) | set(t["parameter_groups"]))
        parts = []
        for g in groups:
            a, b = r["parameter_groups"].get(g), t["parameter_groups"].get(g)
            parts.append(f"{g} {fmt(a, 0)}" + ("" if a == b else f" vs {fmt(b, 0)}"))
        print("parameters by part: " + ", ".join(parts))
    if t.get("quick"):
        print("note: torch.json comes from a --quick run; its numbers are rough")
    if r.get("threads") != t.get("threads"):
        print("note: the two sides ran with different thread counts")
    print("note: numbers from a busy machine are noisy; compare runs made back to back")
    return 0


if __name__ == "__main__":
    sys.exit(main())
