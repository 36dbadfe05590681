#!/usr/bin/env bash
# Store benchmarks on SQLite with a 10,000-spec namespace (issue #4 goals), in the release profile
# (shared with the `weir` binary the cross-process case starts, so nothing is built twice):
#   store/in_process_write_to_answer_10k     store write → new answer served, same process   goal < 20 ms
#   store/cross_process_write_to_answer_10k  the same, written from another process          goal < 100 ms
#   store/cold_load_10k                      loading the whole namespace into a fresh table  goal < 1 s
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p weir 2>&1 | tail -n 1
cargo bench --profile release -p weir-tests --bench store -- --noplot "$@" 2>&1 | grep -E '^store/|time:|cross_process:' || true
