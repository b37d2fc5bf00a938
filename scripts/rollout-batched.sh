#!/usr/bin/env bash
# Rollouts decoded together against one after another (issue 31): `score -v rollout:M@K` on
# every 40th ProcessBench GSM8K trace (10 traces; reference answers joined from GSM8K test by
# problem text, as ProcessBench has none), once batched (the default) and once with
# --sequential, each into its own fresh store; then every step's value compared and the time
# ratio printed, with the CPU.
#   scripts/rollout-batched.sh [MODEL] [K] [MAX_TOKENS]   (default qwen2.5-coder-1.5b 4 64)
# Needs ../shared/data/processbench/gsm8k.json and ../shared/data/gsm8k/test.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-qwen2.5-coder-1.5b}
k=${2:-4}
max=${3:-64}
work=$(mktemp -d)
python3 - "$work/sample.jsonl" <<'PY'
import json, sys
rows = json.load(open("../shared/data/processbench/gsm8k.json"))
ref = {}
for line in open("../shared/data/gsm8k/test.jsonl"):
    r = json.loads(line)
    ref[r["question"].strip()] = r["answer"].split("####")[-1].strip().replace(",", "")
with open(sys.argv[1], "w") as f:
    for r in rows[::40]:
        f.write(json.dumps({"stepscope": 1, "id": r["id"], "problem": r["problem"], "steps": r["steps"], "label": r["label"],
                            "reference_answer": ref.get(r["problem"].strip())}) + "\n")
PY
cargo build --release -q
bin=target/release/stepscope
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1) · $(nproc) cores · $(date -u +%Y-%m-%d)"
for mode in batched sequential; do
  flag=(); [ $mode = sequential ] && flag=(--sequential)
  start=$(date +%s.%N)
  "$bin" score "$work/sample.jsonl" -v "rollout:$model@$k" --max-tokens "$max" --store "$work/$mode" "${flag[@]}" \
    > /dev/null 2> "$work/$mode.log"
  end=$(date +%s.%N)
  echo "$mode: $(python3 -c "print(f'{$end - $start:.1f}')") s"
  echo "$end - $start" | bc > "$work/$mode.seconds"
done
python3 - "$work" "rollout:$model@$k" <<'PY'
import json, os, sys
work, spec = sys.argv[1], sys.argv[2]
def values(mode):
    out = {}
    d = f"{work}/{mode}"
    for name in os.listdir(d):
        for line in open(f"{d}/{name}"):
            v = json.loads(line)
            if v.get("kind") == "verify" and v.get("spec") == spec:
                out[v["trace"]] = list(zip(v["scores"], v["details"]))
    return out
a, b = values("batched"), values("sequential")
steps = sum(len(v) for v in a.values())
# A step's detail lists every rollout's answer: equal details mean the same samples.
same = sum(1 for t in a for x, y in zip(a[t], b.get(t, [])) if x == y)
for t in a:
    for x, y in zip(a[t], b.get(t, [])):
        if x != y:
            print(f"differs: {t}: {x} | {y}")
ta, tb = (float(open(f"{work}/{m}.seconds").read()) for m in ("batched", "sequential"))
print(f"traces {len(a)} (sequential {len(b)}), steps {steps}, identical step values and answers {same}/{steps}")
print(f"time batched / sequential = {ta:.1f} s / {tb:.1f} s = {ta / tb:.2f}")
PY
