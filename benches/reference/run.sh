#!/usr/bin/env bash
# Reference benchmarks: the same network and training step as `cargo bench --bench train` in
# PyTorch, then a side-by-side table (benches/reference/compare.py); the three frozen backbones
# in PyTorch / onnxruntime beside `cargo bench --bench pretrained` (benches/reference/pretrained.py).
#
#   cargo bench --locked --bench train --bench pretrained   # target/bench/{rust,pretrained}.json
#   bash benches/reference/run.sh                           # the references, and the ratios
#
# Needs only python3 (with venv). Installs torch into target/bench/venv on first use. When torch
# cannot be installed (no network, no venv module), it says so and exits 0, so `make bench` does
# not fail because of it. Extra arguments go to bench.py (e.g. --quick, --gru loop, --threads N).
# PYTHON=/path/to/python3 picks the interpreter; pip uses its own configured index.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root" || exit 1
here=benches/reference
out=target/bench
venv="$out/venv"
python=${PYTHON:-python3}

skip() {
    echo "run.sh: $*" >&2
    echo "run.sh: skipping the PyTorch comparison (the Rust benchmarks are unaffected)" >&2
    exit 0
}

command -v "$python" >/dev/null 2>&1 || skip "$python not found"
mkdir -p "$out" || skip "cannot create $out"

if [ ! -x "$venv/bin/python" ]; then
    echo "run.sh: creating $venv"
    if ! "$python" -m venv "$venv"; then
        rm -rf "$venv"
        skip "could not create a virtual environment (Debian/Ubuntu: apt-get install python3-venv)"
    fi
fi
vpy="$venv/bin/python"

stamp="$venv/.requirements"
want="$(cat "$here/requirements.txt")"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! "$vpy" -c "import torch" >/dev/null 2>&1; then
    pip=("$vpy" -m pip install --disable-pip-version-check --retries 2 --timeout 60)
    echo "run.sh: installing $here/requirements.txt into $venv (first time only; the torch wheel is large)"
    if ! "${pip[@]}" -r "$here/requirements.txt"; then
        skip "could not install torch (no network?)"
    fi
    "$vpy" -c "import torch" || skip "torch was installed but does not import"
    printf '%s' "$want" >"$stamp"
fi

if [ ! -f "$out/rust.json" ]; then
    echo "run.sh: $out/rust.json is missing: run \`cargo bench --locked --bench train\` first for matched shapes and the comparison"
fi
"$vpy" "$here/bench.py" "$@" || exit $?
if [ -f "$out/rust.json" ]; then
    "$vpy" "$here/compare.py"
fi
# The frozen backbones against PyTorch / onnxruntime on their original files.
"$vpy" "$here/pretrained.py" || echo "run.sh: the backbone comparison failed (see above)"
# t-SNE against scikit-learn on the data `cargo bench --bench viz` wrote.
if [ -f "$out/tsne_10k_x64.f32" ]; then
    "$vpy" "$here/tsne_sklearn.py" || echo "run.sh: the scikit-learn t-SNE comparison failed (see above)"
fi
exit 0
