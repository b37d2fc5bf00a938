#!/usr/bin/env bash
# Benchmark: `stepscope stats` on a ~1 GB synthetic JSONL (~200k traces). Prints wall time and
# peak resident memory. Not a test: run it by hand and record the numbers in the issue note.
#   scripts/bench-large-file.sh [OUT_DIR]   (default /tmp/stepscope-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/stepscope-bench}
mkdir -p "$out"
big="$out/big.jsonl"
if [ ! -s "$big" ]; then
  python3 - "$big" <<'PY'
import json, random, sys
random.seed(7)
words = "the total cost of apples is per box so we add multiply divide each then answer".split()
def step():
    a, b = random.randint(2, 999), random.randint(2, 999)
    filler = " ".join(random.choice(words) for _ in range(80))
    return f"{filler}. We compute {a} + {b} = {a + b}."
with open(sys.argv[1], "w") as f:
    size, i = 0, 0
    while size < 1_000_000_000:
        steps = [step() for _ in range(8)]
        label = random.choice([-1, random.randrange(len(steps))])
        row = {"id": f"synth-{i}", "generator": "synthetic", "problem": " ".join(random.choice(words) for _ in range(60)),
               "steps": steps, "final_answer_correct": label == -1, "label": label}
        line = json.dumps(row) + "\n"
        f.write(line)
        size += len(line)
        i += 1
print(f"wrote {i} traces", file=sys.stderr)
PY
fi
ls -l "$big"
cargo build --release -q
/usr/bin/time -f "wall %e s, peak RSS %M KiB" target/release/stepscope stats "$big" --store "$out"

# Time to the first TUI screen on the same file (needs tmux): launch in a detached 120x36 window
# and poll the screen until the first trace and its problem are drawn.
if command -v tmux >/dev/null 2>&1; then
  python3 - "$big" "$out" <<'PY'
import subprocess, sys, time
big, out = sys.argv[1], sys.argv[2]
sock = ["tmux", "-L", "stepscope-bench"]
start = time.time()
subprocess.run(sock + ["new-session", "-d", "-s", "b", "-x", "120", "-y", "36",
                       f"exec target/release/stepscope open {big} --store {out}"], check=True)
while True:
    screen = subprocess.run(sock + ["capture-pane", "-p", "-t", "b"], capture_output=True, text=True).stdout
    if "synth-0" in screen and "Problem" in screen:
        break
    if time.time() - start > 60:
        sys.exit("no first screen within 60 s")
    time.sleep(0.01)
print(f"TUI first screen after {time.time() - start:.2f} s")
subprocess.run(sock + ["kill-server"])
PY
fi
