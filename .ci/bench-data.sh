#!/usr/bin/env bash
# Data for `cargo bench --bench studies` that comes from Debian packages, unpacked (no root
# needed) into target/bench/data: Fashion-MNIST (dataset-fashion-mnist, MIT). Skips what is
# already there or installed; on failure it says so and exits 0 (the study then prints SKIP).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/target/bench/data"
if [ -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] ||
  [ -f "$out/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
  echo "bench-data: no apt-get/dpkg-deb; the Fashion-MNIST study will be skipped" >&2
  exit 0
fi
mkdir -p "$out/debs" && cd "$out/debs" || exit 0
if ! apt-get download -qq dataset-fashion-mnist 2>/dev/null; then
  echo "bench-data: could not download dataset-fashion-mnist (offline? run apt-get update); the Fashion-MNIST study will be skipped" >&2
  exit 0
fi
dpkg-deb -x dataset-fashion-mnist_*.deb "$out" && echo "bench-data: unpacked Fashion-MNIST into $out"
exit 0
