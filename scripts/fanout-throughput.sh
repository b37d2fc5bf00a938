#!/usr/bin/env bash
# Fan-out throughput: the same batch on one llama-server and on two, one after the other in the
# same session (these machines are noisy: read the ratio, not the seconds).
#   scripts/fanout-throughput.sh [TRACES] [N]
# TRACES defaults to ../shared/data/processbench/gsm8k.json, N (traces judged; problems
# generated for) to 40. Each server runs SmolLM2 Q4_1 with one thread and two slots; the
# client sends two requests per server at once. Builds llama-server with llamacpp-build.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
traces=${1:-../shared/data/processbench/gsm8k.json}
n=${2:-40}
work=${LLAMA_WORK:-/tmp/stepscope-llamacpp}
targets=llama-server
. scripts/llamacpp-build.sh
# The dev profile is optimised (Cargo.toml); the client is not what is measured.
cargo build -q
bin=target/debug/stepscope
gguf=$($bin models path smollm2)
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$tmp"' EXIT

start_server() {
  "$work/build/bin/llama-server" -m "$gguf" --host 127.0.0.1 --port "$1" -c 4096 -np 2 -t 1 >"$tmp/server-$1.log" 2>&1 &
  pids+=($!)
  until curl -sf "http://127.0.0.1:$1/health" >/dev/null; do sleep 0.2; done
}
# Fresh servers before each run: llama-server keeps earlier prompts in its slots, and a batch
# seen before would come back from that cache.
restart_servers() {
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  pids=()
  start_server 18931
  start_server 18932
}
one=http://127.0.0.1:18931
two=http://127.0.0.1:18931,http://127.0.0.1:18932

# Seconds for a command (its output kept in the log).
seconds() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >>"$tmp/run.log" 2>&1
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}

echo "judge: $n traces of $traces; generate: $n problems, 64 tokens each; order 1-2-2-1 servers"
judge_1=0 gen_1=0 judge_2=0 gen_2=0
for servers in "$one" "$two" "$two" "$one"; do
  count=$(echo "$servers" | tr ',' '\n' | wc -l)
  rm -rf "$tmp/store" "$tmp/gen.jsonl"
  restart_servers
  judge=$(seconds $bin score "$traces" --limit "$n" --verifier judge --server "$servers" --concurrency 2 --store "$tmp/store")
  restart_servers
  gen=$(seconds $bin generate --input "$traces" --limit "$n" --max-tokens 64 --server "$servers" --concurrency 2 -o "$tmp/gen.jsonl")
  echo "$count server(s): judge $judge s, generate $gen s"
  eval "judge_$count=\$(echo \"\$judge_$count + $judge\" | bc) gen_$count=\$(echo \"\$gen_$count + $gen\" | bc)"
done
echo "speed-up with 2 servers (sums of both runs): judge $(echo "scale=2; $judge_1 / $judge_2" | bc)x, generate $(echo "scale=2; $gen_1 / $gen_2" | bc)x"
