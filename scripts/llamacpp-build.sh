# Sourced by the llama.cpp comparison scripts and by CI: builds $targets (default llama-perplexity,
# llama-bench and llama-server) from the sources vendored in the llama-cpp-python sdist on PyPI into
# $work/build (kept there for later runs). Expects $work; honours LLAMA_CPP_PYTHON_VERSION.
version=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
targets=${targets:-llama-perplexity llama-bench llama-server}
mkdir -p "$work"

missing=0
for t in $targets; do [ -x "$work/build/bin/$t" ] || missing=1; done
if [ "$missing" = 1 ]; then
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
  # The CPU reports AMX but the kernel does not grant it: a native build dies with SIGILL in
  # ggml's AMX path, so AMX is switched off while the rest of the native ISA (AVX-512) stays on.
  noamx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  cmake -S "$work/src/vendor/llama.cpp" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
    -DCMAKE_C_FLAGS="$noamx" -DCMAKE_CXX_FLAGS="$noamx" \
    -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_HTML=OFF >/dev/null
  # Compiler warnings go to a log; its tail is shown if the build fails.
  cmake --build "$work/build" -j "$(nproc)" --target $targets >"$work/build.log" 2>&1 \
    || { tail -40 "$work/build.log"; exit 1; }
fi

