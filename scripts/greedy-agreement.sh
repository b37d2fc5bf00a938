#!/usr/bin/env bash
# Are the fast kernels the same model? On the first N GSM8K test questions (default 20), T greedy
# tokens each (default 64), compares three decodes of one GGUF from the same prompt token ids:
#   fast   stepscope with its block kernels (8-bit activations, the default on the CPU)
#   exact  stepscope with dense f32 weights
#   llama  llama.cpp's llama-server (built as in parity-llamacpp.sh), temperature 0
# For each pair: how many questions decode identically, the mean position of the first
# differing token (T when identical), and the mean |Δ log-prob| of the chosen tokens over the
# positions before the first difference.
#   scripts/greedy-agreement.sh [MODEL...]     (default: the three known models)
# Needs what parity-llamacpp.sh needs.
set -euo pipefail
cd "$(dirname "$0")/.."
models=("${@:-smollm2}")
[ $# -eq 0 ] && models=(smollm2 qwen2.5-coder-0.5b qwen2.5-coder-1.5b)
work=${STEPSCOPE_LLAMACPP_DIR:-/tmp/stepscope-llamacpp}
questions=${QUESTIONS:-20}
tokens=${TOKENS:-64}
port=${PORT:-18097}

. scripts/llamacpp-build.sh

cargo build --release -q --example greedy_agreement
for m in "${models[@]}"; do
  gguf=$(cargo run --release -q -- models path "$m")
  echo "== $m"
  target/release/examples/greedy_agreement "$m" ../shared/data/gsm8k/test.jsonl "$questions" "$tokens" \
    > "$work/greedy-ours.jsonl" 2>/dev/null
  "$work/build/bin/llama-server" -m "$gguf" --host 127.0.0.1 --port "$port" -t 2 -c 2048 -np 1 \
    > "$work/server.log" 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  for _ in $(seq 120); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
    sleep 1
  done
  python3 - "$work/greedy-ours.jsonl" "$port" "$tokens" <<'PY'
import json, sys, urllib.request
path, port, tokens = sys.argv[1], sys.argv[2], int(sys.argv[3])
ours = [json.loads(l) for l in open(path)]
runs = {"fast": {}, "exact": {}, "llama": {}}
for r in ours:
    runs[r["mode"]][r["question"]] = (r["ids"], r["logprobs"])
for r in ours:
    if r["mode"] != "fast":
        continue
    body = {"prompt": r["prompt_ids"], "n_predict": tokens, "temperature": 0, "n_probs": 1, "cache_prompt": False}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/completion", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    out = json.load(urllib.request.urlopen(req, timeout=600))
    probs = out.get("completion_probabilities", [])
    runs["llama"][r["question"]] = ([p["id"] for p in probs], [p["logprob"] for p in probs])

def compare(a, b):
    same, first, deltas = 0, [], []
    for q in runs[a]:
        (ia, la), (ib, lb) = runs[a][q], runs[b][q]
        n = next((i for i, (x, y) in enumerate(zip(ia, ib)) if x != y), min(len(ia), len(ib)))
        if ia == ib:
            same += 1
            n = len(ia)
        first.append(n)
        deltas += [abs(x - y) for x, y in zip(la[:n], lb[:n])]
    mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")
    return same, len(runs[a]), mean(first), mean(deltas)

print("| pair | identical | mean first difference (token) | mean abs Δ log-prob before it |")
print("|---|---|---|---|")
for a, b in [("fast", "llama"), ("exact", "llama"), ("fast", "exact")]:
    same, n, first, delta = compare(a, b)
    print(f"| {a} vs {b} | {same}/{n} | {first:.1f} | {delta:.4f} |")
PY
  kill $server 2>/dev/null || true
  wait $server 2>/dev/null || true
done
