#!/usr/bin/env bash
# Job events over NodeTool's WebSocket protocol against the release binary (issue #7's figures):
#   ws_command_rtt     get_status → reply (the protocol's round trip, a baseline)
#   ws_input_to_event  stream_input → the fed node's output_update at the client (bounds emit → client)
#   cancel_to_event    cancel_job during an llm stream → the `cancelled` job_update at the client
#   cancel_to_close    the same → the token server seeing its connection closed
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p weir 2>&1 | tail -n 1
cargo bench --profile release -p weir-tests --bench jobs_ws 2>&1 | grep -E '^(ws_|cancel_)'
