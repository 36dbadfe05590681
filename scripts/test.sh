#!/usr/bin/env bash
# Runs every test of the workspace: unit tests beside the code, the engine's rule tests, the end-to-end
# tests in tests/ (they start the real `weir` binary) and the examples. Installs what the tests need when
# it is missing. This is the README's test command; .ci/run calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== toolchain"
cargo --version

echo "== build"
# The whole build log goes to target/build-output.txt; on failure every error is printed with its context
# (a short tail would hide which line failed).
mkdir -p target
if ! cargo build --workspace --all-targets --locked >target/build-output.txt 2>&1; then
    grep -E -A 25 '^error' target/build-output.txt | head -n 300
    echo "build failed: the full log is target/build-output.txt" >&2
    exit 1
fi
tail -n 3 target/build-output.txt

echo "== services"
# PostgreSQL for the `sql` kind's tests: installed from Debian when missing, a fresh cluster on
# 127.0.0.1, stopped by its PID when this script ends. Without it the PostgreSQL tests fail under
# CI=true and are skipped elsewhere.
source scripts/postgres.sh
trap postgres_stop EXIT
postgres_start || echo "warning: no PostgreSQL for the tests (WEIR_TEST_POSTGRES_URL unset)" >&2
# MongoDB cannot be installed here: its tests run against WEIR_TEST_MONGODB_URI (a replica set, see
# loader/mongo/README.md) and are reported as ignored without it.
[ -n "${WEIR_TEST_MONGODB_URI:-}" ] ||
    echo "note: WEIR_TEST_MONGODB_URI unset: the MongoDB store's live tests are ignored" >&2

echo "== test"
set +e
cargo test --workspace --locked --no-fail-fast -- --color never 2>&1 | tee target/test-output.txt
status=${PIPESTATUS[0]}
set -e
passed=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' target/test-output.txt | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' target/test-output.txt | awk '{s+=$6} END {print s+0}')
ignored=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed; [0-9]+ ignored' target/test-output.txt | awk '{s+=$8} END {print s+0}')
echo "$passed passed, $failed failed, $ignored ignored"
exit "$status"
