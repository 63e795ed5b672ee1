#!/usr/bin/env bash
# Queue throughput with 1 and 2 local `aura worker`s on the same plan (docs/distributed.md, "Measured").
# Each run gets a fresh loopback redis-server (AOF on, noeviction) and a fresh store in a temp dir; the time
# is the coordinator's wall time. Run from the repository root after `npm ci`:
#   bash bench/queue_scaling.sh [extra `aura bench` options, default: --tasks ess-easy --no-horizons --no-ablation]
set -euo pipefail
PLAN=("$@")
[ ${#PLAN[@]} -eq 0 ] && PLAN=(--tasks ess-easy --no-horizons --no-ablation)
PORT=${PORT:-6391}
for W in 1 2; do
  dir=$(mktemp -d)
  redis-server --port "$PORT" --bind 127.0.0.1 --dir "$dir" --appendonly yes --maxmemory-policy noeviction \
    --daemonize yes --logfile "$dir/redis.log"
  sleep 1
  pids=()
  for i in $(seq 1 "$W"); do
    node dist/src/cli/main.js worker --queue "redis://127.0.0.1:$PORT/0" --concurrency 1 > "$dir/worker$i.log" 2>&1 &
    pids+=($!)
  done
  sleep 2
  t0=$(date +%s.%N)
  node dist/src/cli/main.js bench "${PLAN[@]}" --queue "redis://127.0.0.1:$PORT/0" --store "$dir/store" --out "$dir/out" > "$dir/coord.log" 2>&1
  t1=$(date +%s.%N)
  echo "workers $W: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s (results: $dir/out/results.json)"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  redis-cli -p "$PORT" shutdown nosave > /dev/null 2>&1 || true
done
