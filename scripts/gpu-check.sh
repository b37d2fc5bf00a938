#!/usr/bin/env bash
# The GPU check of issue 15, for a machine with an NVIDIA GPU, Python with torch, transformers
# and safetensors, and no network. Prepare on a build machine with scripts/gpu-prepare.sh, which
# fills gpu/ (the CUDA binary, the Qwen2.5 tokenizer, the ProcessBench GSM8K traces); then, from
# the repository root on the GPU machine:
#
#   scripts/gpu-check.sh REPORT_DIR
#
# a. `stepscope doctor --device cuda:0`
# b. random-weight checkpoints: Qwen2.5-Math-PRM-7B shapes (bf16) and Qwen2.5-1.5B shapes
# c. the 400 traces scored by stepscope (CUDA, bf16) and by transformers (bf16, sdpa); the
#    per-step probabilities and first errors compared
# d. traces/s and tokens/s of both, one pass per trace and batched
# e. pp512 and tg128 of both on the 1.5B-shaped model
# REPORT_DIR gets report.md, results.json, doctor.txt, log.txt and both probability files.
# f. (part prm-f32) the same scoring in f32 by both, one pass per trace: implementation parity
#    apart from bf16 rounding, and the f32 truth each bf16 path is measured against.
# g. (part gen-batch) batched decoding on the 1.5B-shaped model: `stepscope bench --batch` against
#    transformers' batched greedy generate, aggregate decode t/s per batch size (issue 31).
# GPU_CHECK_PARTS chooses parts (default: doctor,checkpoints,prm,gen,gen-batch,prm-f32).
# To try the script itself on a CPU: GPU_CHECK_DEVICE=cpu GPU_CHECK_TINY=1 (tiny checkpoints).
set -u
parts=,${GPU_CHECK_PARTS:-doctor,checkpoints,prm,gen,gen-batch,prm-f32},
want() { [[ $parts == *,$1,* ]]; }
device=${GPU_CHECK_DEVICE:-cuda:0}
pydevice=${device%%:*}
tiny=${GPU_CHECK_TINY:+--tiny}
report=${1:?usage: scripts/gpu-check.sh REPORT_DIR}
mkdir -p "$report"
report=$(cd "$report" && pwd)
work=${STEPSCOPE_GPU_WORK:-/tmp/stepscope-gpu}
mkdir -p "$work"
bin=$work/stepscope
log=$report/log.txt
if [ -f gpu/stepscope.xz ]; then
  xz -dc gpu/stepscope.xz >"$bin" 2>/dev/null || python3 -c "import lzma, sys; sys.stdout.buffer.write(lzma.open('gpu/stepscope.xz').read())" >"$bin"
else
  cp gpu/stepscope "$bin"
fi
chmod +x "$bin"
say() { echo "[$(date +%T)] $*" | tee -a "$log" >&2; }
step() { # step NAME SECONDS COMMAND...: runs with a time limit, output to the log
  local name=$1 limit=$2; shift 2
  say "$name: start"
  local t0=$(date +%s)
  timeout "$limit" "$@" 2>>"$log"
  local rc=$?
  say "$name: rc=$rc in $(($(date +%s) - t0)) s"
  return $rc
}

# The CUDA libraries the binary links (cuBLAS, cuRAND, NVRTC) come with the Python packages.
nv=$(python3 -c "import nvidia; print(list(nvidia.__path__)[0])" 2>/dev/null || true)
if [ -n "$nv" ]; then
  export LD_LIBRARY_PATH=$(ls -d "$nv"/*/lib 2>/dev/null | tr '\n' ':')${LD_LIBRARY_PATH:-}
fi
export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}:/usr/local/nvidia/lib64:/usr/local/nvidia/lib
say "date: $(date -u +%F) host: $(hostname)"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >>"$log" 2>&1
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" >>"$log" 2>&1
ldd "$bin" | grep -E "cuda|cublas|curand|nvrtc|not found" >>"$log" 2>&1

if want doctor; then
  step doctor 90 "$bin" doctor --device "$device" >"$report/doctor.txt"
  "$bin" doctor --device "$device" --json >"$work/doctor.json" 2>>"$log"
fi

want checkpoints && step checkpoints 180 python3 scripts/gpu/make_checkpoints.py "$work" gpu/tokenizer $tiny \
  ${GPU_CHECK_ONLY:+--only=$GPU_CHECK_ONLY} >"$work/checkpoints.json"

if want prm-f32; then
  step stepscope-prm-f32 200 "$bin" bench --prm "$work/prm7b" --traces gpu/gsm8k.json --device "$device" --dtype f32 \
    --batch-tokens 0 --probs-out "$report/stepscope_probs_f32.jsonl" --json >"$work/stepscope_prm_f32.json"
  (cd scripts/gpu && step reference-prm-f32 200 python3 reference_prm.py "$work/prm7b" ../../gpu/gsm8k.json \
    --dtype f32 --batch 1 --device "$pydevice" --out "$report/reference_probs_f32.jsonl" >"$work/reference_prm_f32.json")
fi

if want prm; then
step stepscope-prm 150 "$bin" bench --prm "$work/prm7b" --traces gpu/gsm8k.json --device "$device" --dtype bf16 \
  --batch-tokens "${GPU_CHECK_PRM_BATCHES:-0,2048,4096}" --probs-out "$report/stepscope_probs.jsonl" --json >"$work/stepscope_prm.json"
(cd scripts/gpu && step reference-prm 150 python3 reference_prm.py "$work/prm7b" ../../gpu/gsm8k.json \
  --batch "${GPU_CHECK_REF_BATCHES:-1,16,64}" --device "$pydevice" --out "$report/reference_probs.jsonl" >"$work/reference_prm.json")
fi


if want gen; then
step stepscope-gen 100 "$bin" bench -m "$work/qwen1.5b" --device "$device" --dtype bf16 -p 512 -n 128 -r 3 --json \
  >"$work/stepscope_gen.json"
(cd scripts/gpu && step reference-gen 100 python3 reference_gen.py "$work/qwen1.5b" --device "$pydevice" >"$work/reference_gen.json")
fi
if want gen-batch; then
  batches=${GPU_CHECK_GEN_BATCHES:-1,4,16,64}
  step stepscope-gen-batch 100 "$bin" bench -m "$work/qwen1.5b" --device "$device" --dtype bf16 -p 256 -n 64 -r 1 \
    --batch "$batches" --json >"$work/stepscope_gen_batch.json"
  (cd scripts/gpu && step reference-gen-batch 120 python3 reference_gen.py "$work/qwen1.5b" --device "$pydevice" \
    -p 256 -n 64 -r 1 --batch "$batches" >"$work/reference_gen_batch.json")
fi
python3 scripts/gpu/compare.py "$work" "$report" >"$report/report.md" 2>>"$log"
say "done"
cat "$report/report.md"
