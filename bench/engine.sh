#!/usr/bin/env bash
# Engine benchmarks, each beside its baseline in the same run, printed as ratios (issue #2 goals):
#   stream         weir / 10-stage tokio mpsc pipeline, packets/s        goal >= 0.5
#   request_reply  weir / 10-stage oneshot-relay chain, processes/s      goal >= 0.5
#   round_trip     one packet through one node and back                  reported
#   memory         RSS at 1M and at 5M packets into a 2 us consumer       goal: within 10%
# RUNS=N repeats the chain bench N times and reports each run's ratios and their median: on a busy
# machine the baselines alone move by half from run to run. WORKERS=N sets the tokio worker threads.
# Each run prints the machine's cross-core round trip before and after (examples/pingpong.rs): on these VMs it
# moves between ~60 and ~320 ns, and the ratios move with it.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-1}
mean() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['mean']['point_estimate'])" "target/criterion/$1/new/estimates.json"; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[2])/float(sys.argv[1]):.2f}')" "$1" "$2"; }
median() { python3 -c "import statistics,sys; print(f'{statistics.median(map(float, sys.argv[1:])):.2f}')" "$@"; }
stream=() request=()
for run in $(seq 1 "$runs"); do
    [ "$runs" -gt 1 ] && echo "== run $run of $runs"
    cargo run -q --release -p weir-engine --example pingpong
    cargo bench -p weir-engine --bench chain -- --noplot "$@" 2>&1 | grep -E '^[a-z_]+/|time:|thrpt:' || true
    # Again after: a phase can change within a run.
    cargo run -q --release -p weir-engine --example pingpong
    stream+=("$(ratio "$(mean stream/weir)" "$(mean stream/mpsc)")")
    request+=("$(ratio "$(mean request_reply/weir)" "$(mean request_reply/oneshot)")")
done
echo
echo "stream:        weir/mpsc throughput ratio    $(median "${stream[@]}")  (runs: ${stream[*]})"
echo "request_reply: weir/oneshot throughput ratio $(median "${request[@]}")  (runs: ${request[*]})"
python3 -c "import sys; print(f'round_trip:    one node {float(sys.argv[1])/1000:.2f} us')" "$(mean round_trip/weir_one_node)"
# Twice: as the weir binary runs (mimalloc may back its arena with 2 MiB transparent huge pages, so
# RSS moves in 2 MiB steps), and on 4 KiB pages, where RSS follows what is live.
cargo bench -p weir-engine --bench memory 2>&1 | grep '^memory:'
MIMALLOC_ALLOW_THP=0 cargo bench -p weir-engine --bench memory 2>&1 | grep '^memory:'
