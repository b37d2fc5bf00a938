#!/usr/bin/env bash
# Fills gpu/ (ignored by git) with what scripts/gpu-check.sh needs on a GPU machine that has no
# Rust toolchain and no network: the CUDA binary (scripts/build-cuda.sh), the Qwen2.5 tokenizer
# with the PRM step separator `<extra_0>` (exported from the qwen2.5-coder-0.5b GGUF by our own
# code), and the ProcessBench GSM8K traces.
#
#   scripts/gpu-prepare.sh [PROCESSBENCH_GSM8K_JSON]   (default ../shared/data/processbench/gsm8k.json)
set -euo pipefail
cd "$(dirname "$0")/.."
traces=${1:-../shared/data/processbench/gsm8k.json}
mkdir -p gpu
scripts/build-cuda.sh gpu/stepscope
cargo run -q --release -- models tokenizer qwen2.5-coder-0.5b --out gpu/tokenizer --add-special '<extra_0>'
cp "$traces" gpu/gsm8k.json
# The binary is ~60 MB (the kernels' PTX), over what one call may carry with the rest: xz.
rm -f gpu/stepscope.xz
xz -T0 -6 gpu/stepscope
du -sh gpu gpu/*
echo "carry gpu/ and run: scripts/gpu-check.sh \$OUT"
