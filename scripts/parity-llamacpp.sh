#!/usr/bin/env bash
# Parity and speed against llama.cpp on the same GGUF files.
# Builds llama.cpp from the sources vendored in the llama-cpp-python sdist on PyPI, then prints
# llama-perplexity next to `stepscope logprobs --ctx 256` (text: the first 50 GSM8K test questions
# joined by blank lines) and llama-bench next to `stepscope bench` (-p 512 -n 128), one after the
# other so both see the same machine, with the peak resident memory of each; a ratio table ends it.
#   scripts/parity-llamacpp.sh [MODEL...]      (default: the three known models)
# Needs: python3 with pip, a C/C++ compiler, and ../shared/data/gsm8k/test.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
models=("${@:-smollm2}")
[ $# -eq 0 ] && models=(smollm2 qwen2.5-coder-0.5b qwen2.5-coder-1.5b)
work=${STEPSCOPE_LLAMACPP_DIR:-/tmp/stepscope-llamacpp}
threads=${THREADS:-2}

. scripts/llamacpp-build.sh

text="$work/gsm8k-50.txt"
python3 - "$text" <<'PY'
import json, sys
qs = [json.loads(l)["question"] for l in open("../shared/data/gsm8k/test.jsonl")][:50]
open(sys.argv[1], "w").write("\n\n".join(qs))
PY

cargo build --release -q
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
