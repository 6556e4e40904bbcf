#!/usr/bin/env bash
# Scale: one Sovra process routing over 1,000 registered backends while
# 10,000 streams are open at once. Reports the router's decision time
# (p50/p99, from its own histogram) and Sovra's resident memory per open
# stream (RSS with the streams open minus RSS before, over the streams).
#
#   scripts/bench-scale.sh            # about 3 minutes
#
# What it does:
#   a. builds `sovra` (release) unless SOVRA_BIN is set;
#   b. starts BENCH_NODES (4) sim nodes that hold thousands of slow streams
#      each (1 token per second, 30-token answers, batch 4096);
#   c. writes a config with BENCH_BACKENDS (1000) backends, spread over those
#      nodes (several backends per node, each its own name and state), and
#      starts `sovra serve` on it with the default prefix-aware policy;
#   d. warms up with 100 users, reads Sovra's RSS, then runs a closed loop of
#      BENCH_STREAMS (10000) users for BENCH_SECS (45) s while sampling RSS
#      and the streams in flight (`/admin/backends`) every second;
#   e. prints the peak, the memory per stream and the decision-time
#      percentiles; writes target/bench-scale.txt and raw data in
#      target/bench-scale/.
# The load generator speaks HTTP/2 to Sovra (`sovra bench --http2`, about 100
# streams per connection), as an L7 load balancer in front of Sovra would: a
# process here may hold only 20,000 file descriptors, and 10,000 streams
# over HTTP/1.1 would need 10,000 client connections plus 10,000 to the
# backends in the one Sovra process. Sovra to the backends is HTTP/1.1, one
# connection per stream, as with vLLM or llama-server.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source scripts/bench-lib.sh

NODES=${BENCH_NODES:-4}
BACKENDS=${BENCH_BACKENDS:-1000}
STREAMS=${BENCH_STREAMS:-10000}
SECS=${BENCH_SECS:-45}
RESULTS=$ROOT/target/bench-scale
REPORT=$ROOT/target/bench-scale.txt
mkdir -p "$RESULTS"
rm -f "$RESULTS"/*

busy=$(cpu_busy)
[ "$busy" -gt 20 ] && log "warning: the CPUs were ${busy}% busy before starting: numbers will be noisy"
if [ -z "${SOVRA_BIN:-}" ]; then
  log "cargo build --release -p sovra"
  cargo build --release -p sovra
fi

NODE_URLS=()
for i in $(seq 1 "$NODES"); do
  port=$(free_port)
  start_node "$port" "$RESULTS/node-$i.log" --max-batch 4096 --max-waiting 16384 \
    --tokens-per-second 1 --step-per-seq-us 0 --prefill-us-per-token 0 --ttft-ms 0 \
    --answer-tokens 30 --kv-tokens 4000000
  NODE_URLS+=("http://127.0.0.1:$port/v1")
done

config=$RESULTS/fleet.toml
{
  echo '[engine]'
  echo 'kind = "sim"'
  echo '[embeddings]'
  echo 'enabled = false'
  echo '[sovereignty]'
  echo 'allowed_jurisdictions = ["EE"]'
  echo '[router]'
  echo 'policy = "prefix-aware"'
  echo 'probe_interval_ms = 5000'
  echo "queue_depth = $STREAMS"
  for i in $(seq 0 $((BACKENDS - 1))); do
    echo '[[backends]]'
    printf 'name = "gpu-%04d"\n' "$i"
    echo "url = \"${NODE_URLS[$((i % NODES))]}\""
    echo 'models = ["sim"]'
    echo 'jurisdiction = "EE"'
    echo "site = \"site-$((i % 10))\""
  done
} >"$config"

sport=$(free_port)
start_sovra "$sport" "$config" "$RESULTS/sovra.log"
SOVRA_PID=${PIDS[-1]}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$SOVRA_PID/status"; }

log "warm-up: 100 users for 5 s"
"$SOVRA" bench --url "http://127.0.0.1:$sport/v1" --model sim --http2 --users 100 \
  --duration 5 --max-tokens 4 --prompt-words 20 --json "$RESULTS/warmup.json" >/dev/null
sleep 6
idle_rss=$(rss_kb)
log "Sovra RSS after warm-up: $idle_rss kB; $STREAMS users for ${SECS}s"

"$SOVRA" bench --url "http://127.0.0.1:$sport/v1" --model sim --http2 --users "$STREAMS" \
  --duration "$SECS" --max-tokens 30 --prompt-words 20 --timeout-secs 180 \
  --json "$RESULTS/load.json" >"$RESULTS/load.txt" 2>&1 &
BENCH_PID=$!
while kill -0 "$BENCH_PID" 2>/dev/null; do
  open=$(curl -fsS "http://127.0.0.1:$sport/admin/backends" |
    python3 -c 'import json,sys; print(sum(b["in_flight_requests"] for b in json.load(sys.stdin)["backends"]))' ||
    echo 0)
  echo "$(date +%s.%N) $(rss_kb) $open" >>"$RESULTS/samples.txt"
  sleep 1
done
wait "$BENCH_PID" || true
curl -fsS "http://127.0.0.1:$sport/metrics" >"$RESULTS/metrics.txt"
stop_all

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
python3 - "$RESULTS" "$idle_rss" >"$REPORT" <<PY
import json, sys, pathlib
res, idle = pathlib.Path(sys.argv[1]), int(sys.argv[2])
samples = [l.split() for l in (res / "samples.txt").read_text().splitlines() if l.strip()]
samples = [(float(t), int(r), int(o)) for t, r, o in samples]
peak = max(samples, key=lambda s: (s[2], s[1]))
max_rss = max(s[1] for s in samples)
load = json.loads((res / "load.json").read_text())
buckets, count = [], 0
for line in (res / "metrics.txt").read_text().splitlines():
    if line.startswith("sovra_router_decision_seconds_bucket"):
        le = line.split('le="')[1].split('"')[0]
        buckets.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
    elif line.startswith("sovra_router_decision_seconds_count"):
        count = float(line.split()[-1])
def quantile(q):
    for le, c in sorted(buckets):
        if c >= q * count:
            return le
    return float("inf")
us = lambda s: "over 10 ms" if s == float("inf") else f"<= {s * 1e6:.0f} us"
print("Scale: one Sovra process, $BACKENDS backends over $NODES sim nodes, $STREAMS users (closed loop, HTTP/2 to Sovra)")
print("machine: $(nproc) vCPU, $cpu; CPU busy before start: $busy%")
print()
print(f"streams open at the peak sample: {peak[2]} (Sovra RSS then {peak[1] / 1024:.1f} MiB; highest RSS seen {max_rss / 1024:.1f} MiB)")
print(f"Sovra RSS before the load (after warm-up): {idle / 1024:.1f} MiB")
if peak[2]:
    print(f"resident memory per open stream: {(peak[1] - idle) / peak[2]:.1f} kB")
print(f"routing decisions: {count:.0f}; p50 {us(quantile(0.5))}, p99 {us(quantile(0.99))}, p99.9 {us(quantile(0.999))}")
print(f"requests: sent {load['sent']}, ok {load['ok']}, errors {load['error_total']} {load['errors']}")
print(f"ttft p50 {load['ttft_ms']['p50']:.0f} ms, p99 {load['ttft_ms']['p99']:.0f} ms; throughput {load['output_tok_s']:.0f} tok/s")
PY
cat "$REPORT"
