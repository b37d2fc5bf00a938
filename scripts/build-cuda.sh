#!/usr/bin/env bash
# Builds the CUDA binary (`cargo build --release --features cuda`) on a machine without a CUDA
# toolkit or GPU: nvcc, the CUDA headers and the libraries the link step needs come from NVIDIA's
# PyPI wheels (CUDA 13.0 line), unpacked once into a cache folder.
#
#   scripts/build-cuda.sh [OUT]     # OUT: where the stripped binary goes (default target/cuda/stepscope)
#
# Environment: STEPSCOPE_CUDA_CACHE (default ~/.cache/stepscope/cuda), CUDA_COMPUTE_CAP (default 90:
# H100/H200; there is no GPU here to ask), CUDA_CHECK_ONLY=1 runs `cargo check --features cuda` instead.
#
# libcuda.so belongs to the driver, which no wheel carries: the link step gets a stub library
# with the driver API's symbols (names read from cudarc's bindings); at run time the loader finds
# the real libcuda.so.1 by its soname.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=${1:-$root/target/cuda/stepscope}
cache=${STEPSCOPE_CUDA_CACHE:-$HOME/.cache/stepscope/cuda}
wheels=$cache/wheels
toolkit=$cache/toolkit/nvidia/cu13
started=$(date +%s)

packages=(
  nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-cuda-runtime==13.0.96
  nvidia-cuda-cccl==13.0.85 nvidia-nvvm==13.0.88 nvidia-cublas==13.0.2.14
  nvidia-curand==10.4.0.35 nvidia-cuda-nvrtc==13.0.88
)

if [ ! -x "$toolkit/bin/nvcc" ]; then
  echo "fetching the CUDA 13.0 wheels into $wheels (once, about 700 MB)"
  mkdir -p "$wheels"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64 \
    -d "$wheels" "${packages[@]}"
  rm -rf "$cache/toolkit"
  mkdir -p "$cache/toolkit"
  for w in "$wheels"/*.whl; do
    python3 -m zipfile -e "$w" "$cache/toolkit"
  done
  chmod +x "$toolkit"/bin/* "$toolkit"/nvvm/bin/* 2>/dev/null || true
fi

# The linker looks for unversioned names; the wheels ship only the sonames.
lib=$toolkit/lib
for name in cublas cublasLt curand nvrtc cudart; do
  so=$(ls "$lib"/lib$name.so.* 2>/dev/null | grep -v alt | head -n1 || true)
  [ -n "$so" ] && ln -sf "$(basename "$so")" "$lib/lib$name.so"
done

# The driver stub.
mkdir -p "$lib/stubs"
if [ ! -f "$lib/stubs/libcuda.so" ]; then
  cudarc=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.* 2>/dev/null | tail -n1 || true)
  if [ -z "$cudarc" ]; then
    cargo fetch -q
    cudarc=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.* | tail -n1)
  fi
  grep -oE '^\s+fn cu[A-Za-z0-9_]+\(' "$cudarc/src/driver/sys/mod.rs" | grep -oE 'cu[A-Za-z0-9_]+' | sort -u \
    | sed 's/.*/int &(void) { return 999; }/' >"$lib/stubs/libcuda.c"
  cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$lib/stubs/libcuda.so" "$lib/stubs/libcuda.c"
fi

export CUDA_ROOT=$toolkit
export PATH=$toolkit/bin:$PATH
export NVCC=$toolkit/bin/nvcc
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
export LIBRARY_PATH=$lib:$lib/stubs${LIBRARY_PATH:+:$LIBRARY_PATH}
# A separate target folder: switching features would otherwise rebuild candle for both builds.
export CARGO_TARGET_DIR=$root/target/cuda-build

if [ "${CUDA_CHECK_ONLY:-0}" = 1 ]; then
  cargo check --features cuda --all-targets
  echo "cargo check --features cuda: ok in $(($(date +%s) - started)) s"
  exit 0
fi

cargo build --release --features cuda
mkdir -p "$(dirname "$out")"
cp "$CARGO_TARGET_DIR/release/stepscope" "$out"
strip "$out"
echo "built $out ($(du -h "$out" | cut -f1)) in $(($(date +%s) - started)) s"
