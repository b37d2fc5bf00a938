#!/usr/bin/env bash
# Parity and speed against llama.cpp on the same GGUF files.
# Builds llama.cpp from the sources vendored in the llama-cpp-python sdist on PyPI, then prints
# llama-perplexity next to `stepscope logprobs --ctx 256` (text: the first 50 GSM8K test questions
# joined by blank lines) and llama-bench next to `stepscope bench` (-p 512 -n 128), one after the
# other so both see the same machine.
#   scripts/parity-llamacpp.sh [MODEL...]      (default: smollm2 qwen2.5-coder-0.5b)
# Needs: python3 with pip, a C/C++ compiler, and ../shared/data/gsm8k/test.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
models=("${@:-smollm2}")
[ $# -eq 0 ] && models=(smollm2 qwen2.5-coder-0.5b)
work=${STEPSCOPE_LLAMACPP_DIR:-/tmp/stepscope-llamacpp}
version=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
threads=${THREADS:-2}
mkdir -p "$work"

if [ ! -x "$work/build/bin/llama-perplexity" ]; then
  command -v cmake >/dev/null || python3 -m pip install -q cmake
  if [ ! -d "$work/src" ]; then
    # The sdist file itself from PyPI's simple index (pip download would try to build it).
    python3 - "$version" "$work" <<'PY'
import re, sys, urllib.request
version, work = sys.argv[1], sys.argv[2]
index = urllib.request.urlopen("https://pypi.org/simple/llama-cpp-python/").read().decode()
name = f"llama_cpp_python-{version}.tar.gz"
url = next(u for u in re.findall(r'href="([^"]+)"', index) if u.split("#")[0].endswith("/" + name))
urllib.request.urlretrieve(url.split("#")[0], f"{work}/{name}")
PY
    mkdir -p "$work/src"
    tar xzf "$work"/llama_cpp_python-*.tar.gz -C "$work/src" --strip-components=1
  fi
  cmake -S "$work/src/vendor/llama.cpp" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
    -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF >/dev/null
  cmake --build "$work/build" -j "$(nproc)" --target llama-perplexity llama-bench >/dev/null
fi

text="$work/gsm8k-50.txt"
python3 - "$text" <<'PY'
import json, sys
qs = [json.loads(l)["question"] for l in open("../shared/data/gsm8k/test.jsonl")][:50]
open(sys.argv[1], "w").write("\n\n".join(qs))
PY

cargo build --release -q
for m in "${models[@]}"; do
  gguf=$(target/release/stepscope models path "$m")
  echo "== $m ($gguf)"
  ref=$("$work/build/bin/llama-perplexity" -m "$gguf" -f "$text" -c 256 -t "$threads" 2>&1 | grep -o 'Final estimate: PPL = [0-9.]*' || true)
  echo "llama.cpp  $ref"
  echo "stepscope  $(target/release/stepscope logprobs --model "$m" --ctx 256 "$text" 2>/dev/null)"
  "$work/build/bin/llama-bench" -m "$gguf" -p 512 -n 128 -t "$threads" 2>/dev/null | grep -E '^\|'
  target/release/stepscope bench --model "$m" -p 512 -n 128 2>/dev/null
done
