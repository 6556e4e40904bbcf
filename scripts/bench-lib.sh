# Shared helpers of scripts/bench-gateway.sh and scripts/bench-routing.sh
# (sourced, not run): start and stop servers, wait for them, pick ports.

SOVRA=${SOVRA_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/sovra}
PIDS=()

log() { echo "== $*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}
trap stop_all EXIT

# wait_http URL PID LOG: poll until URL answers 200, or fail if PID died.
wait_http() {
  local url=$1 pid=$2 logfile=$3
  for _ in $(seq 1 600); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "the server exited before it was ready; its log ($logfile):" >&2
      tail -30 "$logfile" >&2
      exit 1
    fi
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then
      return
    fi
    sleep 0.2
  done
  echo "timed out waiting for $url; log:" >&2
  tail -30 "$logfile" >&2
  exit 1
}

# start_node PORT LOG ARGS...: a sim node; its pid is appended to PIDS.
start_node() {
  local port=$1 logfile=$2
  shift 2
  "$SOVRA" sim-node --listen "127.0.0.1:$port" --model sim --log-format json "$@" \
    >"$logfile" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$port/readyz" "$!" "$logfile"
}

# start_sovra PORT CONFIG LOG: Sovra serving the fleet of CONFIG.
start_sovra() {
  local port=$1 config=$2 logfile=$3 data
  data=$(mktemp -d)
  RUST_LOG=warn "$SOVRA" serve --config "$config" --listen "127.0.0.1:$port" \
    --data-dir "$data" --log-format json >"$logfile" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$port/readyz" "$!" "$logfile"
}

# fleet_config FILE POLICY URL...: a Sovra config routing to these sim nodes.
fleet_config() {
  local file=$1 policy=$2 i=0 url
  shift 2
  {
    echo '[engine]'
    echo 'kind = "sim"'
    echo '[embeddings]'
    echo 'enabled = false'
    echo '[sovereignty]'
    echo 'allowed_jurisdictions = ["EE"]'
    echo '[router]'
    echo "policy = \"$policy\""
    for url in "$@"; do
      i=$((i + 1))
      echo '[[backends]]'
      echo "name = \"sim-$i\""
      echo "url = \"$url\""
      echo 'models = ["sim"]'
      echo 'jurisdiction = "EE"'
      echo "site = \"site-$(((i + 1) / 2))\""
    done
  } >"$file"
}

cpu_busy() {
  python3 -c '
import time
def snap():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(v), v[3] + v[4]
t0, i0 = snap(); time.sleep(2); t1, i1 = snap()
print(round(100 * (1 - (i1 - i0) / max(t1 - t0, 1))))'
}
