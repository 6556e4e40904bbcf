#!/usr/bin/env bash
# Routing quality: 8 simulated GPU nodes behind Sovra's fleet router, a
# multi-turn chat workload at 80% of the fleet's capacity; prefix-aware vs
# round-robin vs least-loaded, side by side in one run.
#
#   scripts/bench-routing.sh            # about 8 minutes with 2 rounds
#
# What it does:
#   a. builds `sovra` (release) unless SOVRA_BIN is set;
#   b. capacity: one node alone under a closed loop of 2 x its batch size
#      (same workload) for BENCH_CAL_SECS s; fleet capacity = 8 x that;
#   c. for each round and each policy (interleaved): 8 fresh nodes (cold
#      caches), Sovra with that `[router] policy`, an open loop (Poisson,
#      seeded) at BENCH_LOAD (0.8) x capacity for BENCH_SECS s, then the
#      nodes' `/sim/stats` (cache hits) summed;
#   d. prints mean/p50/p99 TTFT, goodput under the SLO and the fleet's cache
#      hit rate per policy, with ratios to round-robin; writes
#      target/bench-routing.txt and raw JSON in target/bench-routing/.
# Settings (environment): BENCH_ROUNDS (2), BENCH_SECS (40), BENCH_CAL_SECS
# (20), BENCH_LOAD (0.8), BENCH_SLO_TTFT_MS (1000), BENCH_SLO_ITL_MS (250),
# BENCH_TIME_SCALE (2: every simulated time doubled, SLOs included), SOVRA_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source scripts/bench-lib.sh

ROUNDS=${BENCH_ROUNDS:-2}
SECS=${BENCH_SECS:-40}
CAL_SECS=${BENCH_CAL_SECS:-20}
LOAD=${BENCH_LOAD:-0.8}
SLO_TTFT=${BENCH_SLO_TTFT_MS:-1000}
SLO_ITL=${BENCH_SLO_ITL_MS:-250}
SCALE=${BENCH_TIME_SCALE:-2}
NODES=8
POLICIES=(prefix-aware round-robin least-loaded)
RESULTS=$ROOT/target/bench-routing
REPORT=$ROOT/target/bench-routing.txt
mkdir -p "$RESULTS"
rm -f "$RESULTS"/*.json "$RESULTS"/*.log "$RESULTS"/*.toml

# A small GPU node, slowed down so 8 of them fit on 2 CPU cores: batch of
# 16, 25 ms + 2 ms/sequence per decode step, 1 ms per uncached prompt token
# (+10 ms per prefill step), 32k tokens of KV cache, 24-token answers; all
# times x BENCH_TIME_SCALE.
BATCH=16
NODE_ARGS=(--max-batch "$BATCH" --tokens-per-second 40 --step-per-seq-us 2000
  --prefill-us-per-token 1000 --ttft-ms 10 --kv-tokens 32768 --answer-tokens 24
  --time-scale "$SCALE")
# Multi-turn chat: 4 shared 150-word system prompts, 5 turns of 40 words, 256
# conversations taking turns (each comes back every few seconds).
WORKLOAD=(--model sim --workload multi-turn --system-prompts 4 --system-words 150
  --prompt-words 40 --turns 5 --conversations 256 --max-tokens 24 --timeout-secs 60
  --slo-ttft-ms "$SLO_TTFT" --slo-itl-ms "$SLO_ITL")

busy=$(cpu_busy)
[ "$busy" -gt 20 ] && log "warning: the CPUs were ${busy}% busy before starting: numbers will be noisy"
if [ -z "${SOVRA_BIN:-}" ]; then
  log "cargo build --release -p sovra"
  cargo build --release -p sovra
fi

NODE_URLS=()
NODE_PORTS=()
start_nodes() {
  NODE_URLS=()
  NODE_PORTS=()
  local i port
  for i in $(seq 1 "$NODES"); do
    port=$(free_port)
    start_node "$port" "$RESULTS/node-$i.log" "${NODE_ARGS[@]}"
    NODE_PORTS+=("$port")
    NODE_URLS+=("http://127.0.0.1:$port/v1")
  done
}

# b. one node's capacity
port=$(free_port)
start_node "$port" "$RESULTS/cal-node.log" "${NODE_ARGS[@]}"
log "calibration: one node, closed loop of $((2 * BATCH)) users, ${CAL_SECS}s"
"$SOVRA" bench --url "http://127.0.0.1:$port/v1" "${WORKLOAD[@]}" --users $((2 * BATCH)) \
  --duration "$CAL_SECS" --json "$RESULTS/calibration.json" >/dev/null
stop_all
RATE=$(python3 -c '
import json, sys
cap = json.load(open(sys.argv[1]))["throughput_req_s"]
print(round(cap * int(sys.argv[2]) * float(sys.argv[3]), 2))' "$RESULTS/calibration.json" "$NODES" "$LOAD")
log "fleet capacity x $LOAD = $RATE req/s"

# c. the policies, interleaved
for round in $(seq 1 "$ROUNDS"); do
  for policy in "${POLICIES[@]}"; do
    start_nodes
    sport=$(free_port)
    fleet_config "$RESULTS/$policy.toml" "$policy" "${NODE_URLS[@]}"
    start_sovra "$sport" "$RESULTS/$policy.toml" "$RESULTS/sovra-$policy.$round.log"
    log "round $round: $policy at $RATE req/s for ${SECS}s"
    "$SOVRA" bench --url "http://127.0.0.1:$sport/v1" "${WORKLOAD[@]}" --rate "$RATE" \
      --duration "$SECS" --seed "$round" --json "$RESULTS/$policy.$round.json" >/dev/null
    for i in "${!NODE_PORTS[@]}"; do
      curl -fsS "http://127.0.0.1:${NODE_PORTS[$i]}/sim/stats"
      echo
    done >"$RESULTS/$policy.$round.stats.jsonl"
    stop_all
  done
done

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
python3 - "$RESULTS" "$ROUNDS" >"$REPORT" <<PY
import json, statistics, sys, pathlib
res, rounds = pathlib.Path(sys.argv[1]), int(sys.argv[2])
med = statistics.median
P = ["prefix-aware", "round-robin", "least-loaded"]
cal = json.loads((res / "calibration.json").read_text())
print("Routing quality: 8 sim nodes, multi-turn chat, Sovra's fleet router")
print("machine: $(nproc) vCPU, $cpu; CPU busy before start: $busy%; rounds: $ROUNDS, interleaved")
print(f"one node's capacity: {cal['throughput_req_s']:.2f} req/s (closed loop, {cal['users']} users); "
      f"offered: $RATE req/s = $LOAD x 8 nodes; ${SECS}s per run; SLO ttft <= $SLO_TTFT ms, itl <= $SLO_ITL ms")
print()
rows = {}
for p in P:
    runs = [json.loads((res / f"{p}.{r}.json").read_text()) for r in range(1, rounds + 1)]
    hits = []
    for r in range(1, rounds + 1):
        stats = [json.loads(l) for l in (res / f"{p}.{r}.stats.jsonl").read_text().splitlines() if l.strip()]
        c = sum(s["prompt_tokens_cached"] for s in stats)
        n = sum(s["prompt_tokens_computed"] for s in stats)
        hits.append(c / (c + n) if c + n else 0.0)
    rows[p] = {
        "ttft_mean": med(r["ttft_ms"]["mean"] for r in runs),
        "ttft_p50": med(r["ttft_ms"]["p50"] for r in runs),
        "ttft_p99": med(r["ttft_ms"]["p99"] for r in runs),
        "e2e_p50": med(r["e2e_ms"]["p50"] for r in runs),
        "goodput": med(r["goodput"]["req_s"] for r in runs),
        "good_frac": med(r["goodput"]["fraction"] for r in runs),
        "tput": med(r["throughput_req_s"] for r in runs),
        "errors": sum(r["error_total"] for r in runs),
        "hit": med(hits),
    }
print(f"{'median of %d rounds' % rounds:20} {'ttft mean':>10} {'ttft p50':>9} {'ttft p99':>9} {'e2e p50':>8} {'goodput':>8} {'in SLO':>7} {'req/s':>6} {'hit rate':>9} {'errors':>6}")
for p in P:
    r = rows[p]
    print(f"{p:20} {r['ttft_mean']:9.0f}ms {r['ttft_p50']:7.0f}ms {r['ttft_p99']:7.0f}ms {r['e2e_p50']:6.0f}ms {r['goodput']:8.2f} {r['good_frac']*100:6.1f}% {r['tput']:6.2f} {r['hit']*100:8.1f}% {r['errors']:6}")
pa, rr, ll = rows["prefix-aware"], rows["round-robin"], rows["least-loaded"]
print()
ok = lambda b: "PASS" if b else "MISS"
x = rr["ttft_mean"] / pa["ttft_mean"] if pa["ttft_mean"] else float("inf")
print(f"mean TTFT, round-robin / prefix-aware: {x:.2f}x (target >= 2x) {ok(x >= 2)}")
print(f"mean TTFT, least-loaded / prefix-aware: {ll['ttft_mean'] / pa['ttft_mean']:.2f}x")
print(f"goodput, prefix-aware / round-robin: {pa['goodput'] / rr['goodput'] if rr['goodput'] else float('inf'):.2f}x {ok(pa['goodput'] > rr['goodput'])}")
print(f"cache hit rate: prefix-aware {pa['hit']*100:.1f}% vs round-robin {rr['hit']*100:.1f}% vs least-loaded {ll['hit']*100:.1f}% {ok(pa['hit'] > rr['hit'])}")
PY
cat "$REPORT"
log "written to $REPORT (raw results in $RESULTS)"
