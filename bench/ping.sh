#!/usr/bin/env bash
# The ping example under wrk at 64 connections, beside a minimal hyper server answering the same route
# (extensions/examples/hyper_floor.rs), in the same run. Prints requests/s and CPU per request for both
# and weir's ratios to the floor (issue #3 goal: at least 0.5 of the floor's requests/s).
#   bash bench/ping.sh [seconds]      (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q -p weir --bin weir
cargo build --release -q -p weir-extensions --example hyper_floor
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

# start NAME CMD...: runs CMD, waits for its `listening` line, sets ADDR and PID.
start() {
  local name=$1; shift
  "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  PID=$!; pids+=("$PID")
  for _ in $(seq 1 200); do
    ADDR=$(awk '/^listening /{print $3; exit}' "$tmp/$name.out")
    [ -n "$ADDR" ] && return 0
    sleep 0.05
  done
  echo "$name did not start" >&2; cat "$tmp/$name.err" >&2; exit 1
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run NAME: wrk against $ADDR/ping; prints "requests/s cpu_us_per_request".
run() {
  local before after reqs rps
  wrk -t2 -c64 -d2s "http://$ADDR/ping" >/dev/null   # warm-up
  before=$(cpu_ticks "$PID")
  wrk -t2 -c64 -d"${secs}s" "http://$ADDR/ping" >"$tmp/$1.wrk"
  after=$(cpu_ticks "$PID")
  reqs=$(awk '/requests in/{print $1}' "$tmp/$1.wrk")
  rps=$(awk '/^Requests\/sec/{print $2}' "$tmp/$1.wrk")
  local hz; hz=$(getconf CLK_TCK)
  python3 -c "import sys; t,r,hz=float(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]); print(sys.argv[4], t/hz*1e6/max(r,1))" "$((after - before))" "$reqs" "$hz" "$rps"
}

start floor ./target/release/examples/hyper_floor 0
read -r floor_rps floor_cpu < <(run floor)
kill -TERM "$PID"

start weir ./target/release/weir start --store memory:// --from-specs examples/ping.yaml --env PORT=0 --log-level warn
read -r weir_rps weir_cpu < <(run weir)

printf 'floor (hyper):  %10.0f req/s  %6.1f us CPU/request\n' "$floor_rps" "$floor_cpu"
printf 'weir ping:      %10.0f req/s  %6.1f us CPU/request\n' "$weir_rps" "$weir_cpu"
python3 -c "import sys; a,b,c,d=map(float,sys.argv[1:]); print(f'ratio: weir/floor requests/s {c/a:.2f}; CPU per request {d/b:.2f}x the floor')" "$floor_rps" "$floor_cpu" "$weir_rps" "$weir_cpu"
