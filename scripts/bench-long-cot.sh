#!/usr/bin/env bash
# Benchmark: a reasoning model's long trace (issue 32). Generates one trace of UNITS thinking
# units (about 60 tokens each: 500 units ≈ 30k tokens) with scripts/long-cot-fixture.py, times
# `stepscope stats` on it, then opens it in tmux (120×36) and measures: the first frame, and
# key-to-screen for `j`/`k` (20 presses in turn, median and max), `G` (to the last unit) and `Z` (fold every
# section), each from sending the key to the screen showing its effect. The same run on a
# 10-unit trace is the reference. Not a test: run it by hand, record the numbers with the CPU.
#   scripts/bench-long-cot.sh [UNITS]   (default 500)
set -euo pipefail
cd "$(dirname "$0")/.."
units=${1:-500}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cargo build --release -q
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for n in 10 "$units"; do
  python3 scripts/long-cot-fixture.py "$out/long-$n.jsonl" "$n"
  /usr/bin/time -f "stats on $n units: wall %e s, peak RSS %M KiB" target/release/stepscope stats "$out/long-$n.jsonl" --store "$out" >/dev/null
  python3 - "$out/long-$n.jsonl" "$out" "$n" <<'PY'
import statistics, subprocess, sys, time
path, out, n = sys.argv[1], sys.argv[2], sys.argv[3]
sock = ["tmux", "-L", f"stepscope-longcot-{n}"]
def screen():
    return subprocess.run(sock + ["capture-pane", "-p", "-t", "b"], capture_output=True, text=True).stdout
def until(check, what, limit=30):
    start = time.time()
    while not check(screen()):
        if time.time() - start > limit:
            sys.exit(f"{what}: nothing within {limit} s")
    return time.time() - start
def key(k, check, what):
    before = screen()
    start = time.time()
    subprocess.run(sock + ["send-keys", "-t", "b", k], check=True)
    while True:
        now = screen()
        if now != before and check(now):
            return time.time() - start
        if time.time() - start > 30:
            sys.exit(f"{what}: no change within 30 s")
subprocess.run(sock + ["kill-server"], capture_output=True)  # a session left by an interrupted run
start = time.time()
subprocess.run(sock + ["new-session", "-d", "-s", "b", "-x", "120", "-y", "36",
                       f"exec target/release/stepscope open {path} --store {out} --annotator bench"], check=True)
until(lambda s: f"long-cot-{n}" in s and "Problem" in s, "first frame")
print(f"{n} units: first frame after {time.time() - start:.3f} s")
key("Enter", lambda s: True, "Enter")
time.sleep(0.2)
# j and k in turn, so every press moves the cursor even on a short trace.
downs = [key("j" if i % 2 == 0 else "k", lambda s: True, "j/k") for i in range(20)]
print(f"{n} units: j/k key-to-screen median {1000 * statistics.median(downs):.1f} ms, max {1000 * max(downs):.1f} ms")
g = key("G", lambda s: "The answer is" in s, "G")
print(f"{n} units: G (to the last unit) {1000 * g:.1f} ms")
z = key("Z", lambda s: "▸" in s, "Z")
print(f"{n} units: Z (fold every section) {1000 * z:.1f} ms")
subprocess.run(sock + ["kill-server"])
PY
done
