#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of what Sovra parses from
# untrusted input: chat and legacy completion request bodies, the bearer
# token of the Authorization header, and the SSE decoder that reads remote
# backends' streams (targets in fuzz/fuzz_targets/). Each target runs for a
# bounded time; a crash or a failed invariant fails the script and leaves
# the input in fuzz/artifacts/TARGET/ (replay: cargo fuzz run TARGET FILE).
#
#   tests/fuzz/cargo-fuzz.sh                      # every target, 60 s each
#   FUZZ_SECONDS=600 tests/fuzz/cargo-fuzz.sh     # longer
#   tests/fuzz/cargo-fuzz.sh bearer_token         # one target
#
# cargo-fuzz needs nightly compiler flags (-Zsanitizer); on a stable
# toolchain RUSTC_BOOTSTRAP=1 unlocks them. Installs cargo-fuzz if missing.
# The corpus grows in fuzz/corpus/TARGET/ (not committed) between runs.
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_EACH="${FUZZ_SECONDS:-60}"
export RUSTC_BOOTSTRAP=1
# Its own target dir: the sanitizer flags would otherwise rebuild Sovra's.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/fuzz/target}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

cd fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
logs="$(mktemp -d -t sovra-cargo-fuzz-XXXXXX)"
for t in "${targets[@]}"; do
  echo "== cargo fuzz: $t (${SECONDS_EACH}s)"
  mkdir -p "corpus/$t"
  # -max_len bounds one input (request bodies are larger in life, but the
  # parsers' branches are all reached well within 64 KiB).
  set +e
  cargo fuzz run -O "$t" "corpus/$t" -- \
    -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 >"$logs/$t.log" 2>&1
  rc=$?
  set -e
  grep -E "^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added)" "$logs/$t.log" || true
  if [ "$rc" -ne 0 ]; then
    tail -40 "$logs/$t.log"
    echo "cargo fuzz: $t FAILED (input in fuzz/artifacts/$t/)"
    exit 1
  fi
done
echo "cargo fuzz: ${#targets[@]} targets, ${SECONDS_EACH}s each, no failure"
