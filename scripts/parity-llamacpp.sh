#!/usr/bin/env bash
# Parity and speed against llama.cpp on the same GGUF files.
# Builds llama.cpp from the sources vendored in the llama-cpp-python sdist on PyPI, then prints
# llama-perplexity next to `stepscope logprobs --ctx 256` (text: the first 50 GSM8K test questions
# joined by blank lines) and llama-bench next to `stepscope bench` (-p 512 -n 128), one after the
# other so both see the same machine, with the peak resident memory of each; a ratio table
# follows. Then batched decoding: llama-batched-bench (shared prompt of 256 tokens, 64 tokens per
# sequence, 1/2/4/8 sequences) next to `stepscope bench --batch` on the same settings, with the
# aggregate decode ratio. The CPU is printed first: ratios differ between CPUs.
#   scripts/parity-llamacpp.sh [MODEL...]      (default: the three known models)
#   BATCH_MODEL=M (default qwen2.5-coder-1.5b, the refinement generator; "none" skips batching)
# Needs: python3 with pip, a C/C++ compiler, and ../shared/data/gsm8k/test.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
models=("${@:-smollm2}")
[ $# -eq 0 ] && models=(smollm2 qwen2.5-coder-0.5b qwen2.5-coder-1.5b)
work=${STEPSCOPE_LLAMACPP_DIR:-/tmp/stepscope-llamacpp}
threads=${THREADS:-2}

targets="llama-perplexity llama-bench llama-batched-bench llama-server"
. scripts/llamacpp-build.sh

text="$work/gsm8k-50.txt"
python3 - "$text" <<'PY'
import json, sys
qs = [json.loads(l)["question"] for l in open("../shared/data/gsm8k/test.jsonl")][:50]
open(sys.argv[1], "w").write("\n\n".join(qs))
PY

cargo build --release -q
# Ratios differ between CPUs (the same 2-core size decodes at different speeds on Intel and AMD):
# every table names the CPU it came from.
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | tr ' ' '\n' | grep -x -E 'avx2|avx512f|avx512_vnni|avx512_bf16|amx_int8' | tr '\n' ' ')
family=$(awk -F': ' '/^cpu family/{f=$2} /^model\t/{m=$2} END{print "family " f " model " m}' /proc/cpuinfo 2>/dev/null)
echo "CPU: ${cpu:-unknown} (${family}) · $(nproc) cores · ${threads} threads · ${flags:-no flags read} · $(date -u +%Y-%m-%d)"
results="$work/results.jsonl"
: > "$results"
for m in "${models[@]}"; do
  gguf=$(target/release/stepscope models path "$m")
  echo "== $m ($gguf)"
  ref=$("$work/build/bin/llama-perplexity" -m "$gguf" -f "$text" -c 256 -t "$threads" 2>&1 | grep -o 'Final estimate: PPL = [0-9.]*' || true)
  echo "llama.cpp  $ref"
  echo "stepscope  $(target/release/stepscope logprobs --model "$m" --ctx 256 "$text" 2>/dev/null)"
  # Speed, one after the other; peak resident memory of each from /usr/bin/time.
  for side in llama.cpp stepscope; do
    if [ $side = llama.cpp ]; then
      cmd=("$work/build/bin/llama-bench" -m "$gguf" -p 512 -n 128 -t "$threads" -o json)
    else
      cmd=(target/release/stepscope bench --model "$m" -p 512 -n 128 --json)
    fi
    /usr/bin/time -f "%M" -o "$work/rss.txt" "${cmd[@]}" > "$work/out.json" 2>/dev/null || true
    python3 - "$m" "$side" "$work" "$results" <<'PY'
import json, sys
model, side, work, path = sys.argv[1:5]
rows = json.load(open(f"{work}/out.json"))
rss = int(open(f"{work}/rss.txt").read().split()[-1])
speed = {}
for r in rows:
    if side == "llama.cpp":
        test = f"pp{r['n_prompt']}" if r["n_prompt"] else f"tg{r['n_gen']}"
        speed[test] = r["avg_ts"]
    else:
        speed[r["test"]] = r["tokens_per_second"]
with open(path, "a") as f:
    f.write(json.dumps({"model": model, "side": side, "rss_mib": rss / 1024, **speed}) + "\n")
print(f"{side:10} pp512 {speed.get('pp512', 0):8.1f} t/s  tg128 {speed.get('tg128', 0):7.1f} t/s  peak RSS {rss / 1024:7.0f} MiB")
PY
  done
done

echo
echo "| model | prefill ratio (stepscope ÷ llama.cpp) | decode ratio | peak RSS ratio |"
echo "|---|---|---|---|"
python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for model in dict.fromkeys(r["model"] for r in rows):
    ref = next(r for r in rows if r["model"] == model and r["side"] == "llama.cpp")
    ours = next(r for r in rows if r["model"] == model and r["side"] == "stepscope")
    ratio = lambda k: ours.get(k, 0) / ref[k] if ref.get(k) else float("nan")
    print(f"| {model} | {ratio('pp512'):.2f}× | {ratio('tg128'):.2f}× | {ratio('rss_mib'):.2f}× |")
PY

batch_model=${BATCH_MODEL:-qwen2.5-coder-1.5b}
[ "$batch_model" = none ] && exit 0
gguf=$(target/release/stepscope models path "$batch_model")
npl=${BATCH_SIZES:-1,2,4,8}
echo
echo "== batched decode: $batch_model, shared prompt 256 tokens, 64 generated per sequence, $npl sequences"
"$work/build/bin/llama-batched-bench" -m "$gguf" -c 2048 -npp 256 -ntg 64 -npl "$npl" -pps -kvu -t "$threads" \
  --output-format jsonl 2>/dev/null | grep '^{' > "$work/batched-llamacpp.jsonl" || true
target/release/stepscope bench --model "$batch_model" -p 256 -n 64 --batch "$npl" -r 1 --json \
  2>/dev/null > "$work/batched-stepscope.json" || true
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
ref = {r["pl"]: r["speed_tg"] for r in map(json.loads, open(f"{work}/batched-llamacpp.jsonl"))}
ours = {r["sequences"]: r["decode_tokens_per_second"] for r in json.load(open(f"{work}/batched-stepscope.json"))}
print("| sequences | llama-batched-bench decode t/s (all) | stepscope decode t/s (all) | ratio | stepscope ÷ its own 1 sequence |")
print("|---|---|---|---|---|")
one = ours.get(1)
for n in sorted(ours):
    r = ref.get(n)
    ratio = f"{ours[n] / r:.2f}×" if r else "n/a"
    own = f"{ours[n] / one:.2f}×" if one else "n/a"
    print(f"| {n} | {r or float('nan'):.1f} | {ours[n]:.1f} | {ratio} | {own} |")
PY
