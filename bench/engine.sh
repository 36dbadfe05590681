#!/usr/bin/env bash
# Engine benchmarks, each beside its baseline in the same run, printed as ratios (issue #2 goals):
#   stream         weir / 10-stage tokio mpsc pipeline, packets/s        goal >= 0.5
#   request_reply  weir / 10-stage oneshot-relay chain, processes/s      goal >= 0.5
#   round_trip     one packet through one node and back                  reported
#   memory         RSS at 1M and at 5M packets into a 2 us consumer       goal: within 10%
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p weir-engine --bench chain -- --noplot "$@" 2>&1 | grep -E '^[a-z_]+/|time:|thrpt:' || true
mean() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['mean']['point_estimate'])" "target/criterion/$1/new/estimates.json"; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[2])/float(sys.argv[1]):.2f}')" "$1" "$2"; }
echo
echo "stream:        weir/mpsc throughput ratio    $(ratio "$(mean stream/weir)" "$(mean stream/mpsc)")"
echo "request_reply: weir/oneshot throughput ratio $(ratio "$(mean request_reply/weir)" "$(mean request_reply/oneshot)")"
python3 -c "import sys; print(f'round_trip:    one node {float(sys.argv[1])/1000:.2f} us')" "$(mean round_trip/weir_one_node)"
cargo bench -p weir-engine --bench memory 2>&1 | grep '^memory:'
