#!/usr/bin/env bash
# Intake benchmark: accepted events/s and latency of POST /hooks/<secret>
# with durable storage (sekoia-notifierd serve, release build), next to a
# bare axum handler that only answers 202 (the ceiling on this machine).
# Loopback only; each cell is the median of RUNS runs of DURATION seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-"1 16 128"}
PORT_DURABLE=${PORT_DURABLE:-18787}
PORT_BARE=${PORT_BARE:-18788}
SECRET=benchsecret-0123456789abcdefghijkl
OUT=target/bench
mkdir -p "$OUT"

cargo build --release -q -p notifier-daemon -p bench
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

printf '[listener]\nbind = "127.0.0.1:%s"\nhook_secret = "%s"\nmax_requests_per_second = 0\n' "$PORT_DURABLE" "$SECRET" > "$work/config.toml"
SEKOIA_NOTIFIER_LOG=warn target/release/sekoia-notifierd --config "$work/config.toml" --data-dir "$work/data" serve 2>"$work/serve.log" &
pids+=($!)
target/release/bare-202 "$PORT_BARE" &
pids+=($!)
for port in "$PORT_DURABLE" "$PORT_BARE"; do
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done

# run URL CONNS -> "rps p50_us p99_us p999_us errors"
run() {
  local threads=$(( $2 < 2 ? 1 : 2 ))
  wrk -t"$threads" -c"$2" -d"${DURATION}s" -s bench/post.lua "$1" | awk '/^RESULT/ {
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    printf "%.0f %d %d %d %d\n", v["requests"] / (v["duration_us"] / 1e6), v["p50_us"], v["p99_us"], v["p999_us"], v["errors"] }'
}

# median of the first column over RUNS runs, keeping that run's other columns
median() { sort -n | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }'; }

printf '%-8s %-6s %12s %10s %10s %10s %8s\n' target conns "events/s" "p50 ms" "p99 ms" "p99.9 ms" errors | tee "$OUT/intake.txt"
declare -A rps
for c in $CONNS; do
  for target in durable bare; do
    port=$PORT_DURABLE; [ "$target" = bare ] && port=$PORT_BARE
    results=""
    mins=""; maxs=""
    for _ in $(seq "$RUNS"); do results+="$(run "http://127.0.0.1:$port/hooks/$SECRET" "$c")"$'\n'; done
    read -r r p50 p99 p999 err <<<"$(printf '%s' "$results" | median)"
    range=$(printf '%s' "$results" | awk 'NR == 1 { lo = hi = $1 } { if ($1 < lo) lo = $1; if ($1 > hi) hi = $1 } END { printf "%d-%d", lo, hi }')
    rps[$target$c]=$r
    printf '%-8s %-6s %12s %10.2f %10.2f %10.2f %8s   (runs: %s)\n' "$target" "$c" "$r" \
      "$(echo "$p50/1000" | bc -l)" "$(echo "$p99/1000" | bc -l)" "$(echo "$p999/1000" | bc -l)" "$err" "$range" | tee -a "$OUT/intake.txt"
  done
done
echo | tee -a "$OUT/intake.txt"
for c in $CONNS; do
  printf 'durable / bare at %s connections: %.0f%%\n' "$c" "$(echo "100*${rps[durable$c]}/${rps[bare$c]}" | bc -l)" | tee -a "$OUT/intake.txt"
done
stored=$(target/release/sekoia-notifierd --config "$work/config.toml" --data-dir "$work/data" feed --json --limit 1000000000 | grep -c '"uuid"' || true)
echo "events in the durable store after the run: $stored" | tee -a "$OUT/intake.txt"
echo "machine: $(nproc) cores, $(uname -sr); results in $OUT/intake.txt"
