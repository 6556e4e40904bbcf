#!/usr/bin/env bash
# Property-based fuzz of Sovra's HTTP surface against its own OpenAPI
# document (GET /openapi.json), with schemathesis: the real binary, the
# simulated engine (fast, exact) plus the real embedding model, a bounded
# number of examples per operation and a fixed seed (reproducible in CI).
#
# Fails on any 5xx, any response whose body breaks the documented schema
# (SSE events included), any status or content type the document does not
# list for the operation, or a server that does not shut down cleanly.
#
#   tests/fuzz/run.sh                 # SOVRA_BIN defaults to target/debug/sovra
#   FUZZ_EXAMPLES=200 FUZZ_SEED=7 tests/fuzz/run.sh
#
# Needs a Python with tests/fuzz/requirements.txt installed (PYTHON, default
# .venv/bin/python) and the default embedding model pulled (`sovra models pull`).
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN="${SOVRA_BIN:-$PWD/target/debug/sovra}"
PYTHON="${PYTHON:-$PWD/.venv/bin/python}"
EXAMPLES="${FUZZ_EXAMPLES:-50}"
SEED="${FUZZ_SEED:-20261129}"
# One worker: with two, Hypothesis' lambda-source cache races between the
# threads and schemathesis reports a spurious FlakyFailure (KeyError in
# hypothesis/internal/lambda_sources.py; hypothesis 6.170.17).
WORKERS="${FUZZ_WORKERS:-1}"

data="$(mktemp -d -t sovra-fuzz-XXXXXX)"
port="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"

SOVRA_ENGINE_SIM_TTFT_MS=0 SOVRA_ENGINE_SIM_TOKENS_PER_SECOND=0 SOVRA_EMBEDDINGS_ENABLED=true \
  "$BIN" serve --engine sim --listen "127.0.0.1:$port" --data-dir "$data" >"$data/sovra.log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
}
trap cleanup EXIT

for _ in $(seq 1 600); do
  if "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$base/readyz" 2>/dev/null; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "sovra exited during start:" >&2
    tail -40 "$data/sovra.log" >&2
    exit 1
  fi
  sleep 0.1
done

# Run from the scratch dir: schemathesis keeps a cache (.schemathesis/) in
# its working directory, and a run should not depend on earlier ones.
status=0
hooks="$PWD/tests/fuzz"
cd "$data"
PYTHONPATH="$hooks" SCHEMATHESIS_HOOKS=hooks "$PYTHON" -m schemathesis.cli run "$base/openapi.json" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "$EXAMPLES" \
  --seed "$SEED" \
  --workers "$WORKERS" \
  --request-timeout 30 \
  --suppress-health-check too_slow,filter_too_much \
  --no-color \
  --report junit --report-dir "$data/report" || status=$?
cd - >/dev/null

kill -TERM "$pid"
if ! wait "$pid"; then
  echo "sovra did not shut down cleanly" >&2
  status=1
fi
trap - EXIT
if grep -q "panicked" "$data/sovra.log"; then
  echo "sovra panicked during the fuzz:" >&2
  grep -A5 "panicked" "$data/sovra.log" >&2
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "fuzz failed; server log and report in $data" >&2
else
  rm -rf "$data"
fi
exit "$status"
