#!/usr/bin/env bash
# `make build-cuda`: build fusionlab with candle's CUDA backend into target/cuda/release/fusionlab;
# `bash .ci/build-cuda.sh tests` also builds the test binaries (run `engine-* gpu` on a GPU machine).
#
# candle compiles its CUDA kernels with nvcc at build time; no GPU is needed to build. Uses the
# system's nvcc when there is one, else NVIDIA's CUDA 13.0 compiler wheels from PyPI, installed
# once into target/cuda-tools (~200 MB). 13.0 is the oldest CUDA 13: its PTX loads on every CUDA 13
# driver, where a newer compiler's PTX would be refused by an older driver.
#   CUDA_COMPUTE_CAP  GPU generation to compile for (default 90: Hopper, H100/H200; 80 = A100,
#                     89 = L4/RTX 40xx, 120 = RTX 50xx)
#   NVCC              path of an nvcc to use instead
set -euo pipefail
cd "$(dirname "$0")/.."

export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
nvcc=${NVCC:-$(command -v nvcc || true)}
if [ -z "$nvcc" ]; then
    tools=target/cuda-tools
    if [ ! -x "$tools/bin/python" ]; then
        python3 -m venv "$tools" || {
            echo "build-cuda: cannot create $tools (Debian/Ubuntu: apt-get install python3-venv)" >&2
            exit 1
        }
    fi
    # The compiler, its headers (crt, CCCL's libcu++) and the runtime headers, CUDA 13.0, plus
    # the libraries candle links against (cuBLAS, cuRAND, NVRTC; about 700 MB).
    wheels=('nvidia-cuda-nvcc==13.0.*' 'nvidia-cuda-runtime==13.0.*' 'nvidia-cuda-crt==13.0.*'
        'nvidia-nvvm==13.0.*' 'nvidia-cuda-cccl==13.0.*' 'nvidia-cublas==13.0.*'
        'nvidia-curand==10.4.0.*' 'nvidia-cuda-nvrtc==13.0.*')
    if [ "$(cat "$tools/.wheels" 2>/dev/null)" != "${wheels[*]}" ]; then
        echo "build-cuda: installing NVIDIA's nvcc 13.0 into $tools (first time only)"
        "$tools/bin/pip" install --disable-pip-version-check "${wheels[@]}"
        printf '%s' "${wheels[*]}" >"$tools/.wheels"
    fi
    nvcc=$(find "$tools" -path '*/cu13/bin/nvcc' -type f | head -n 1)
fi
cuda_root=$(cd "$(dirname "$nvcc")/.." && pwd)
lib="$cuda_root/lib"
if [ -w "$lib" ]; then
    # The linker wants unversioned names; the wheels only ship the versioned ones.
    for so in "$lib"/lib{cublas,cublasLt,curand,nvrtc,cudart}.so.*; do
        base=${so%.so.*}.so
        [ -e "$base" ] || [ ! -e "$so" ] || ln -s "$(basename "$so")" "$base"
    done
    # libcuda.so belongs to the GPU driver, which a build machine need not have. Like the CUDA
    # toolkit's own stubs/libcuda.so, this one only exists to be linked against: the binary
    # records libcuda.so.1 and uses the driver's copy at run time. Its functions all return
    # CUDA_ERROR_NO_DEVICE (100), should it ever be loaded.
    if [ ! -e "$lib/libcuda.so" ]; then
        cargo fetch --locked >/dev/null
        sys=$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -path '*/cudarc-0.19.*/src/driver/sys/mod.rs' | sort | tail -n 1)
        [ -n "$sys" ] || { echo "build-cuda: cudarc's sources not found; run cargo fetch" >&2; exit 1; }
        grep -A1 'extern "C" {' "$sys" | grep -oE 'fn cu[A-Za-z0-9_]+' | sort -u |
            sed -E 's/^fn (.*)/int \1(void) { return 100; }/' >"$lib/libcuda_stub.c"
        cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$lib/libcuda.so" "$lib/libcuda_stub.c"
    fi
fi
export PATH="$cuda_root/bin:$PATH" CUDA_ROOT="$cuda_root" CUDA_PATH="$cuda_root"
echo "build-cuda: $("$nvcc" --version | tail -n 2 | head -n 1), compute capability $CUDA_COMPUTE_CAP"
cargo build --release --locked --features cuda --bin fusionlab --target-dir target/cuda
echo "build-cuda: built target/cuda/release/fusionlab (run it with --device cuda)"
if [ "${1:-}" = tests ]; then
    # The test binaries too, to copy to a GPU machine that has no Rust toolchain.
    cargo test --release --locked --features cuda --target-dir target/cuda --no-run
    echo "build-cuda: GPU tests: target/cuda/release/deps/engine-* gpu (from the repository root)"
fi
