#!/usr/bin/env bash
# Sovra's embedded engine side by side with llama.cpp, on the same GGUF and the
# same thread count. One command:
#
#   scripts/bench-embedded.sh                # everything (about 15 min cold, 3 min warm)
#   scripts/bench-embedded.sh --llama-only   # only build llama.cpp's tools and run llama-bench
#
# What it does:
#   a. builds llama-bench and llama-server from the llama.cpp sources vendored
#      in the PyPI sdist of llama-cpp-python (cached in target/llama.cpp-tools);
#   b. picks the model: $SOVRA_MODEL or the cached SmolLM2-135M-Instruct Q4_1;
#   c. llama-bench: prompt (pp50, pp512) and generation (tg128) tokens/s;
#   d. llama-server (8 slots, 2048 tokens each) under `sovra bench`: a prefill
#      pass (long prompt), 1/4/8 concurrent streams; then a ~50-token TTFT probe;
#   e. `sovra serve` (embedded engine, 8 parallel conversations), the same bench;
#   f. prints both side by side with ratios, and writes target/bench-embedded.txt
#      (raw JSON beside it in target/bench-embedded/).
# c, d and e repeat for BENCH_ROUNDS rounds, interleaved, and each figure is the
# median over rounds: this shared VM's speed drifts by 20-30 % from minute to minute.
#
# Settings (environment): SOVRA_MODEL, BENCH_THREADS (2), BENCH_ROUNDS (5),
# BENCH_REQUESTS (3 per stream per level), BENCH_MAX_TOKENS (128),
# BENCH_PROMPT_WORDS (40), BENCH_PREFILL_WORDS (400), BENCH_CONCURRENCY (1,4,8),
# LLAMA_CPP_PYTHON_VERSION (the sdist to take llama.cpp from).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

LLAMA_ONLY=0
case "${1:-}" in
  --llama-only) LLAMA_ONLY=1 ;;
  "") ;;
  -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
  *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
esac

LLAMA_CPP_PYTHON_VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
THREADS=${BENCH_THREADS:-2}
ROUNDS=${BENCH_ROUNDS:-5}
REQUESTS=${BENCH_REQUESTS:-3}
MAX_TOKENS=${BENCH_MAX_TOKENS:-128}
PROMPT_WORDS=${BENCH_PROMPT_WORDS:-40}
PREFILL_WORDS=${BENCH_PREFILL_WORDS:-400}
CONCURRENCY=${BENCH_CONCURRENCY:-1,4,8}
PARALLEL=8
CTX_PER_SLOT=2048
MODEL=${SOVRA_MODEL:-$HOME/.cache/sovra/models/SmolLM2-135M-Instruct.Q4_1.gguf}
ALIAS=smollm2-135m-instruct

TOOLS=$ROOT/target/llama.cpp-tools
RESULTS=$ROOT/target/bench-embedded
REPORT=$ROOT/target/bench-embedded.txt
SOVRA=$ROOT/target/release/sovra
if [ "$LLAMA_ONLY" = 1 ]; then
  # Keep a full run's results.
  RESULTS=$ROOT/target/bench-embedded-llama
  REPORT=$ROOT/target/bench-embedded-llama.txt
fi

log() { echo "== $*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------- a. llama.cpp
# Layout (shared with anyone else who built them here): the sdist and its
# unpacked tree in $TOOLS, the cmake build in $TOOLS/build, binaries in
# $TOOLS/build/bin. Cached: nothing is rebuilt when both binaries exist.
LLAMA_SRC=$TOOLS/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp
LLAMA_BENCH=$TOOLS/build/bin/llama-bench
LLAMA_SERVER=$TOOLS/build/bin/llama-server

build_llama_tools() {
  if [ -x "$LLAMA_BENCH" ] && [ -x "$LLAMA_SERVER" ]; then
    log "llama.cpp tools cached in $TOOLS/build/bin"
    return
  fi
  log "building llama-bench and llama-server from the llama-cpp-python $LLAMA_CPP_PYTHON_VERSION sdist (10-20 min on 2 cores)"
  mkdir -p "$TOOLS"
  local sdist="$TOOLS/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz"
  if [ ! -f "$sdist" ]; then
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
      "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" -d "$TOOLS"
  fi
  [ -d "$LLAMA_SRC" ] || tar -xzf "$sdist" -C "$TOOLS"
  # Same kernels as the llama-cpp-2 crate's default build: portable
  # (GGML_NATIVE=OFF, which still enables AVX2/FMA/F16C), OpenMP, Release.
  # Offline: no curl, no TLS, no prebuilt web UI download.
  cmake -S "$LLAMA_SRC" -B "$TOOLS/build" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF >"$TOOLS/cmake.log" 2>&1 \
    || { tail -40 "$TOOLS/cmake.log" >&2; exit 1; }
  cmake --build "$TOOLS/build" --target llama-bench llama-server -j2 >"$TOOLS/build.log" 2>&1 \
    || { tail -40 "$TOOLS/build.log" >&2; exit 1; }
}

ggml_version() {
  sed -n 's/^set(GGML_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\))/\2/p' "$1/ggml/CMakeLists.txt" | paste -sd.
}

sdist_llama_version() {
  # The sdist keeps the submodule's git objects, so the exact commit is known.
  local commit
  commit=$(git -C "$LLAMA_SRC" rev-parse --short=9 HEAD 2>/dev/null || echo "unknown commit")
  echo "llama.cpp $commit (ggml $(ggml_version "$LLAMA_SRC")) from the llama-cpp-python $LLAMA_CPP_PYTHON_VERSION sdist"
}

crate_llama_version() {
  # The llama-cpp-2 crate vendors its own llama.cpp (built by llama-cpp-sys-2);
  # it is not necessarily the revision the sdist carries.
  # The version Cargo.lock pins, found in cargo's registry sources.
  local version dir=""
  version=$(grep -A1 '^name = "llama-cpp-sys-2"$' "$ROOT/Cargo.lock" | sed -n 's/^version = "\(.*\)"$/\1/p')
  for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"llama-cpp-sys-2-$version"; do
    [ -d "$d" ] && dir=$d
  done
  if [ -n "$version" ] && [ -n "$dir" ] && [ -f "$dir/llama.cpp/ggml/CMakeLists.txt" ]; then
    echo "$(basename "$dir") (ggml $(ggml_version "$dir/llama.cpp"))"
  else
    echo "llama-cpp-sys-2 (source not found in the cargo registry)"
  fi
}

# ------------------------------------------------------------------- servers
SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}
trap stop_server EXIT

# wait_ready URL LOG: poll until URL answers 200, or fail if the server died.
wait_ready() {
  local url=$1 logfile=$2
  for _ in $(seq 1 240); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "the server exited before it was ready; its log:" >&2
      tail -30 "$logfile" >&2
      exit 1
    fi
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then
      return
    fi
    sleep 0.5
  done
  echo "timed out waiting for $url; server log:" >&2
  tail -30 "$logfile" >&2
  exit 1
}

# bench URL NAME ROUND: the load levels, then time to first token for a
# prompt of about 50 tokens.
bench() {
  "$SOVRA" bench --url "$1" --concurrency "$CONCURRENCY" --requests "$REQUESTS" \
    --max-tokens "$MAX_TOKENS" --prompt-words "$PROMPT_WORDS" \
    --prefill-words "$PREFILL_WORDS" --json >"$RESULTS/$2.$3.json"
  ttft_probe "$1" >"$RESULTS/$2-ttft.$3.json"
}

# ttft_probe URL: the load generator's shortest prompt is about 95 tokens (its
# unique nonce and system prompt), so this probe sends its own ~50-token chat
# (a short system line, one question; a fresh number first so no prompt cache
# helps), one request at a time, and prints the median time to first token as
# a one-level report in the load generator's JSON shape.
ttft_probe() {
  python3 - "$1" <<'PROBE'
import json, statistics, sys, time, urllib.request, uuid
base = sys.argv[1].rstrip("/")
model = json.load(urllib.request.urlopen(base + "/models"))["data"][0]["id"]
question = ("explain step by step how a citizen renews a passport at the national office, "
            "which documents to bring and what it costs")
samples = []
for i in range(7):
    body = {"model": model, "max_tokens": 8, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "system", "content": "You are a helpful assistant."},
                         {"role": "user", "content": f"Ticket {uuid.uuid4().hex[:6]}: {question}."}]}
    req = urllib.request.Request(base + "/chat/completions", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    start, first, prompt = time.perf_counter(), None, 0
    with urllib.request.urlopen(req, timeout=120) as r:
        for line in r:
            line = line.decode().strip()
            if not line.startswith("data:") or line.endswith("[DONE]"):
                continue
            v = json.loads(line[5:])
            delta = (v.get("choices") or [{}])[0].get("delta") or {}
            if first is None and delta.get("content"):
                first = time.perf_counter() - start
            if v.get("usage"):
                prompt = v["usage"]["prompt_tokens"]
    if i > 0 and first is not None:  # the first one warms up
        samples.append((first, prompt))
ttfts = sorted(f for f, _ in samples)
print(json.dumps({"levels": [{"concurrency": 1, "requests": len(samples),
    "ttft_median_s": statistics.median(ttfts), "ttft_p95_s": ttfts[-1],
    "mean_prompt_tokens": statistics.mean(p for _, p in samples)}]}))
PROBE
}

# llama-bench ROUND
run_llama_bench() {
  log "round $1: llama-bench -t $THREADS -p 50,512 -n 128 -r 3"
  "$LLAMA_BENCH" -m "$MODEL" -t "$THREADS" -p 50,512 -n 128 -r 3 \
    -o json -oe md >"$RESULTS/llama-bench.$1.json"
}

run_llama_server() {
  local round=$1 port
  port=$(free_port)
  local logfile="$RESULTS/llama-server.$round.log"
  # -c is the total context, shared by -np slots: 8 x 2048.
  "$LLAMA_SERVER" -m "$MODEL" -t "$THREADS" -tb "$THREADS" -np "$PARALLEL" \
    -c $((PARALLEL * CTX_PER_SLOT)) --alias "$ALIAS" --host 127.0.0.1 --port "$port" \
    >"$logfile" 2>&1 &
  SERVER_PID=$!
  wait_ready "http://127.0.0.1:$port/health" "$logfile"
  log "round $round: llama-server on :$port"
  bench "http://127.0.0.1:$port/v1" llama-server "$round"
  stop_server
}

run_sovra() {
  local round=$1 port data
  port=$(free_port)
  data=$(mktemp -d)
  local logfile="$RESULTS/sovra.$round.log"
  "$SOVRA" serve --listen "127.0.0.1:$port" --data-dir "$data" --model "$MODEL" \
    --threads "$THREADS" --parallel "$PARALLEL" --context "$CTX_PER_SLOT" \
    >"$logfile" 2>&1 &
  SERVER_PID=$!
  wait_ready "http://127.0.0.1:$port/readyz" "$logfile"
  log "round $round: sovra serve on :$port"
  bench "http://127.0.0.1:$port/v1" sovra "$round"
  stop_server
  rm -rf "$data"
}

# ---------------------------------------------------------------------- main
mkdir -p "$RESULTS"
# Two runs at once would share two cores and spoil each other's numbers.
exec 9>"$ROOT/target/bench-embedded.lock"
flock -n 9 || { echo "another bench-embedded run holds target/bench-embedded.lock" >&2; exit 1; }
busy=$(python3 -c '
import time
def snap():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(v), v[3] + v[4]
t0, i0 = snap(); time.sleep(2); t1, i1 = snap()
print(round(100 * (1 - (i1 - i0) / max(t1 - t0, 1))))')
if [ "$busy" -gt 20 ]; then
  log "warning: the CPUs were ${busy}% busy before starting: something else is running, numbers will be low"
fi
if [ "$LLAMA_ONLY" = 0 ]; then
  log "cargo build --release -p sovra"
  cargo build --release -p sovra
fi

build_llama_tools
log "tools:  $(sdist_llama_version)"
log "crate:  $(crate_llama_version) — Sovra's engine; may differ from the sdist's revision"

# b. the model
if [ ! -f "$MODEL" ]; then
  if [ -z "${SOVRA_MODEL:-}" ] && [ -x "$SOVRA" ]; then
    log "fetching the default model"
    "$SOVRA" models pull
  fi
  [ -f "$MODEL" ] || { echo "model not found: $MODEL (set SOVRA_MODEL)" >&2; exit 1; }
fi
log "model: $MODEL"

rm -f "$RESULTS"/*.json "$RESULTS"/*.log
# c, d, e: interleaved, so a slow spell of the VM hits all three alike.
for round in $(seq 1 "$ROUNDS"); do
  run_llama_bench "$round"
  if [ "$LLAMA_ONLY" = 0 ]; then
    run_llama_server "$round"
    run_sovra "$round"
  fi
done

# f. the side-by-side table
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
python3 - "$RESULTS" "$ROUNDS" "$LLAMA_ONLY" >"$REPORT" <<PY
import json, statistics, sys, pathlib
res, rounds, llama_only = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
print("Sovra embedded engine vs llama.cpp")
print("machine: $(nproc) vCPU, $cpu; threads: $THREADS; CPU busy before start: $busy%")
print("model:   $(basename "$MODEL")")
print("llama.cpp tools: $(sdist_llama_version)")
print("Sovra engine:    llama-cpp-2 crate, $(crate_llama_version)")
print()
med = statistics.median
runs = {}
for r in range(1, rounds + 1):
    for t in json.loads((res / f"llama-bench.{r}.json").read_text()):
        key = f"pp{t['n_prompt']}" if t["n_gen"] == 0 else f"tg{t['n_gen']}"
        runs.setdefault(key, []).append(t["avg_ts"])
bench = {k: med(v) for k, v in runs.items()}
print(f"llama-bench, median over {rounds} rounds of 3 repetitions (min-max):")
for k, v in runs.items():
    print(f"  {k:>6}: {med(v):8.1f} tok/s   ({min(v):.1f}-{max(v):.1f})")
if llama_only:
    print()
    print("(servers not run: --llama-only)")
    sys.exit(0)

def load(name):
    return [json.loads((res / f"{name}.{r}.json").read_text()) for r in range(1, rounds + 1)]
srv, sov = load("llama-server"), load("sovra")
srv_t, sov_t = load("llama-server-ttft"), load("sovra-ttft")
def level(reports, c, field):
    return med([next(l[field] for l in r["levels"] if l["concurrency"] == c) for r in reports])
def prefill(reports, field):
    vals = [r["prefill"][field] for r in reports if r.get("prefill")]
    return med(vals) if vals else float("nan")
def ratio(a, b):
    return f"{a / b:5.2f}x" if b else "   - "

print()
print(f"Servers under sovra bench, median of {rounds} rounds "
      f"(each level: N streams x $REQUESTS requests, max_tokens $MAX_TOKENS, greedy):")
print(f"{'':34} {'llama-server':>12} {'Sovra':>9} {'Sovra/srv':>9}")
p_s, p_o = prefill(srv, "prompt_tok_s"), prefill(sov, "prompt_tok_s")
print(f"{'prompt tok/s (~%d-token prompt)' % prefill(sov, 'mean_prompt_tokens'):34} {p_s:12.1f} {p_o:9.1f} {ratio(p_o, p_s):>9}")
levels = [l["concurrency"] for l in sov[0]["levels"]]
for c in levels:
    a_s, a_o = level(srv, c, "aggregate_tok_s"), level(sov, c, "aggregate_tok_s")
    print(f"{'aggregate gen tok/s, %d stream%s' % (c, '' if c == 1 else 's'):34} {a_s:12.1f} {a_o:9.1f} {ratio(a_o, a_s):>9}")
for c in levels:
    d_s, d_o = level(srv, c, "stream_decode_tok_s_median"), level(sov, c, "stream_decode_tok_s_median")
    print(f"{'per-stream decode tok/s, %d' % c:34} {d_s:12.1f} {d_o:9.1f} {ratio(d_o, d_s):>9}")
for c in levels:
    t_s, t_o = level(srv, c, "ttft_median_s"), level(sov, c, "ttft_median_s")
    print(f"{'TTFT p50 ms, %d stream%s' % (c, '' if c == 1 else 's'):34} {t_s*1e3:12.0f} {t_o*1e3:9.0f}")
print(f"{'TTFT p50 ms, %d-token prompt' % level(sov_t, 1, 'mean_prompt_tokens'):34} {level(srv_t, 1, 'ttft_median_s')*1e3:12.0f} {level(sov_t, 1, 'ttft_median_s')*1e3:9.0f}")
print(f"{'prompt tokens per request':34} {level(srv, levels[0], 'mean_prompt_tokens'):12.0f} {level(sov, levels[0], 'mean_prompt_tokens'):9.0f}")
print(f"{'completion tokens per request':34} {level(srv, levels[0], 'mean_completion_tokens'):12.1f} {level(sov, levels[0], 'mean_completion_tokens'):9.1f}")

print()
print("Targets:")
tg = bench.get("tg128", float("nan"))
one = level(sov, 1, "stream_decode_tok_s_median") if 1 in levels else float("nan")
ok = lambda b: "PASS" if b else "MISS"
print(f"  1 stream: Sovra decode {one:.1f} / llama-bench tg128 {tg:.1f} = {one/tg:.2f}x (target >= 0.90x) {ok(one >= 0.9 * tg)}")
if 1 in levels:
    s1 = level(srv, 1, "stream_decode_tok_s_median")
    print(f"            (llama-server itself: {s1:.1f} / {tg:.1f} = {s1/tg:.2f}x; llama-bench decodes from an empty context, without HTTP)")
if 8 in levels:
    a_s, a_o = level(srv, 8, "aggregate_tok_s"), level(sov, 8, "aggregate_tok_s")
    print(f"  8 streams: Sovra {a_o:.1f} / llama-server {a_s:.1f} = {a_o/a_s:.2f}x (target >= 1.00x) {ok(a_o >= a_s)}")
if 1 in levels:
    t = level(sov_t, 1, "ttft_median_s") * 1e3
    n = level(sov_t, 1, "mean_prompt_tokens")
    print(f"  TTFT, 1 stream, {n:.0f}-token prompt: {t:.0f} ms (target < 300 ms) {ok(t < 300)}")
PY
cat "$REPORT"
log "written to $REPORT (raw results in $RESULTS)"
