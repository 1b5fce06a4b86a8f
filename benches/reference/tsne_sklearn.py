#!/usr/bin/env python3
"""scikit-learn reference for ``cargo bench --bench viz``'s ``viz/tsne_bh_10k_x64``.

Runs ``sklearn.manifold.TSNE`` (Barnes-Hut, angle 0.5, perplexity 30, 1000 iterations, random
init) on the same input, ``target/bench/tsne_10k_x64.f32`` (raw little-endian float32, 10 000 x 64,
written by the Rust benchmark), times ``fit_transform`` and prints

    t-SNE 10000x64: scikit-learn X.XX s (KL ...)

and, when ``target/bench/viz_tsne_seconds.txt`` (the Rust median, also written by the benchmark)
is there, the Rust time and the ratio. Needs numpy and scikit-learn (benches/reference/
requirements.txt; ``target/bench/venv/bin/python`` has them):

    cargo bench --bench viz
    target/bench/venv/bin/python benches/reference/tsne_sklearn.py

Exits 2 when the input is missing; otherwise 0 (a report, not a gate).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "bench"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(BENCH / "tsne_10k_x64.f32"), help="raw float32 input")
    ap.add_argument("--dim", type=int, default=64, help="columns of the input")
    ap.add_argument("--rust", default=str(BENCH / "viz_tsne_seconds.txt"), help="Rust median seconds")
    ap.add_argument("--runs", type=int, default=1, help="timed runs (the minimum is reported)")
    ap.add_argument("--seed", type=int, default=0, help="random_state")
    ap.add_argument(
        "--clusters",
        type=int,
        default=10,
        help="row i of the input is in cluster i %% CLUSTERS (as the Rust benchmark writes it); 0: no check",
    )
    args = ap.parse_args()

    data = Path(args.data)
    if not data.is_file():
        print(f"tsne_sklearn: {data} is missing (run `cargo bench --bench viz` first)")
        return 2
    import numpy as np
    import sklearn
    from sklearn.manifold import TSNE

    x = np.fromfile(data, dtype="<f4").reshape(-1, args.dim)
    n, d = x.shape
    times, kl, layout = [], float("nan"), None
    for _ in range(max(1, args.runs)):
        tsne = TSNE(
            n_components=2,
            perplexity=30.0,
            max_iter=1000,
            init="random",
            method="barnes_hut",
            angle=0.5,
            random_state=args.seed,
        )
        start = time.perf_counter()
        layout = tsne.fit_transform(x)
        times.append(time.perf_counter() - start)
        kl = float(tsne.kl_divergence_)
    seconds = min(times)
    try:
        from threadpoolctl import threadpool_info

        threads = max((p.get("num_threads", 1) for p in threadpool_info()), default=1)
    except ImportError:
        threads = os.cpu_count()
    quality = ""
    if args.clusters > 0:
        from sklearn.neighbors import NearestNeighbors

        _, nb = NearestNeighbors(n_neighbors=2).fit(layout).kneighbors(layout)
        # Column 0 is the point itself (barring exact duplicates).
        ids = np.arange(n)
        other = np.where(nb[:, 0] == ids, nb[:, 1], nb[:, 0])
        same = float(np.mean(other % args.clusters == ids % args.clusters))
        quality = f", nearest neighbour in the layout from the same cluster for {100 * same:.1f} % of points"
    print(
        f"t-SNE {n}x{d}: scikit-learn {seconds:.2f} s (KL {kl:.3f}{quality}; scikit-learn {sklearn.__version__}, "
        f"{threads} threads)"
    )
    rust = Path(args.rust)
    if rust.is_file():
        try:
            ours = float(rust.read_text().split()[0])
        except (ValueError, IndexError):
            print(f"tsne_sklearn: could not read a number from {rust}")
            return 0
        print(f"t-SNE {n}x{d}: fusionlab {ours:.2f} s (median); fusionlab / scikit-learn = {ours / seconds:.2f}")
    else:
        print(f"tsne_sklearn: {rust} is missing; no ratio (run `cargo bench --bench viz`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
