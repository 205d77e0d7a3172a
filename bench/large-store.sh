#!/usr/bin/env bash
# Large-store benchmark: a year of alerts (EVENTS, default 1,000,000 events)
# written directly into a store file before start, then side by side with
# an empty store:
#   reads     the feed (100 and 1000 rows), unread count, the pipeline's
#             reads, the store's open (bench/large_store.rs)
#   feed      `sekoia-notifierd feed --json --limit 100`, the whole command
#   start-up  `sekoia-notifierd serve` from exec to the first HTTP answer
#   intake    p50/p99 of POST /hooks/<secret> at CONNS connections, the full
#             daemon (pipeline running) on each store; on the large store
#             also with SQLite's checkpoint inside the writer's commits
#             (SEKOIA_NOTIFIER_CHECKPOINT=inline, the behaviour before #17)
#             to show the tail it caused
#   retention intake at 16 connections while the daemon's own 90-day pass
#             runs; then a whole pass (bench/large_store.rs): size before
#             and after, each step's duration
# Writes target/bench/large-store.txt and target/bench/large-store.json.
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS=${EVENTS:-1000000}
RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-"1 16 128"}
PORT=${PORT_LARGE:-18791}
SECRET=benchsecret-0123456789abcdefghijkl
OUT=target/bench
mkdir -p "$OUT"

command -v wrk >/dev/null || { echo "wrk is missing: make bench-deps installs it" >&2; exit 2; }
cargo build --release -q -p notifier-daemon -p bench

work=$(mktemp -d)
pid=""
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
# keep_days = 0: no retention pass overlaps the plain intake cells; the
# "during retention" cell uses config-retain.toml (90 days).
for keep in 0 90; do
  printf '[listener]\nbind = "127.0.0.1:%s"\nhook_secret = "%s"\nmax_requests_per_second = 0\n[store]\nkeep_days = %s\n' \
    "$PORT" "$SECRET" "$keep" > "$work/config-$keep.toml"
  chmod 600 "$work/config-$keep.toml"
done
CONFIG=$work/config-0.toml
daemon() { target/release/sekoia-notifierd --config "$CONFIG" --data-dir "$1" "${@:2}"; }
ms_now() { echo $(( $(date +%s%N) / 1000000 )); }
# median of numbers on stdin
median() { sort -n | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }'; }

echo "generating $EVENTS events into a store file..." >&2
target/release/large-store generate "$work/large" "$EVENTS" > "$work/generated.json"
mkdir -p "$work/empty"
# A small store of the same shapes (1,000 events): an empty store's feed
# returns no row, so per-row costs are compared with this one.
target/release/large-store generate "$work/small" 1000 > /dev/null
for store in empty small large; do
  target/release/large-store reads "$work/$store" > "$work/reads-$store.json"
done

# feed --json --limit 100, the whole command (process start, open, query, JSON)
cli_feed() {
  for _ in 1 2 3 4 5; do
    local t0; t0=$(ms_now)
    daemon "$1" feed --json --limit 100 > /dev/null
    echo $(( $(ms_now) - t0 ))
  done | median
}
feed_empty=$(cli_feed "$work/empty")
feed_small=$(cli_feed "$work/small")
feed_large=$(cli_feed "$work/large")

start() { # DATA_DIR CHECKPOINT -> ms from exec to the first answer
  local t0; t0=$(ms_now)
  # The binary itself in the background (not the `daemon` function, whose
  # subshell would be what `stop` kills).
  SEKOIA_NOTIFIER_CHECKPOINT=$2 SEKOIA_NOTIFIER_LOG=warn target/release/sekoia-notifierd \
    --config "$CONFIG" --data-dir "$1" serve >/dev/null 2>>"$work/serve.log" &
  pid=$!
  for _ in $(seq 3000); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.01; done
  echo $(( $(ms_now) - t0 ))
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }
startup() {
  for _ in 1 2 3; do start "$1" after; stop; done | median
}
startup_empty=$(startup "$work/empty")
startup_large=$(startup "$work/large")

# run CONNS -> "rps p50_us p99_us p999_us errors"
run() {
  local threads=$(( $1 < 2 ? 1 : 2 ))
  wrk -t"$threads" -c"$1" -d"${DURATION}s" -s bench/post.lua "http://127.0.0.1:$PORT/hooks/$SECRET" > "$work/wrk.out"
  awk '/^RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    printf "%.0f %d %d %d %d\n", (v["requests"] - v["errors"]) / (v["duration_us"] / 1e6),
      v["p50_us"], v["p99_us"], v["p999_us"], v["errors"] }' "$work/wrk.out"
}
div() { awk -v x="$1" -v y="$2" 'BEGIN { printf "%.3f", x / y }'; }

printf '%-6s %-10s %-6s %10s %8s %8s %9s %7s\n' store checkpoint conns "events/s" "p50 ms" "p99 ms" "p99.9 ms" errors | tee "$OUT/large-store.txt"
cells=""
for case in "empty after $CONNS" "large after $CONNS" "large inline $CONNS" "large retention 16"; do
  read -r store mode conns <<<"$case"
  if [ "$mode" = retention ]; then
    # The daemon's first retention pass starts 60 s after the engine and
    # takes minutes on this store: the runs fall inside it.
    CONFIG=$work/config-90.toml start "$work/$store" after > /dev/null
    sleep 62
  else
    start "$work/$store" "$mode" > /dev/null
    # Warm-up, not measured (the first seconds of a new store grow its files).
    wrk -t1 -c16 -d3s -s bench/post.lua "http://127.0.0.1:$PORT/hooks/$SECRET" > /dev/null
  fi
  for c in $conns; do
    results=""
    for _ in $(seq "$RUNS"); do results+="$(run "$c")"$'\n'; done
    read -r r p50 p99 p999 err <<<"$(printf '%s' "$results" | sort -k3 -n | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }')"
    all_p99=$(printf '%s' "$results" | awk '{ printf "%s%.3f", (NR > 1 ? "," : ""), $3 / 1000 }')
    printf '%-6s %-10s %-6s %10s %8.2f %8.2f %9.2f %7s\n' "$store" "$mode" "$c" "$r" \
      "$(div "$p50" 1000)" "$(div "$p99" 1000)" "$(div "$p999" 1000)" "$err" | tee -a "$OUT/large-store.txt"
    [ -z "$cells" ] || cells+=","
    cells+=$(printf '{"store":"%s","checkpoint":"%s","conns":%s,"events_per_s":%s,"p50_ms":%s,"p99_ms":%s,"p999_ms":%s,"errors":%s,"p99_ms_runs":[%s]}' \
      "$store" "$mode" "$c" "$r" "$(div "$p50" 1000)" "$(div "$p99" 1000)" "$(div "$p999" 1000)" "$err" "$all_p99")
  done
  stop
done

target/release/large-store retain "$work/large" 90 > "$work/retention.json"

printf '{"events":%s,"runs":%s,"duration_s":%s,"generated":%s,"reads":{"empty":%s,"small":%s,"large":%s},"cli_feed_ms":{"empty":%s,"small":%s,"large":%s},"startup_ms":{"empty":%s,"large":%s},"intake":[%s],"retention":%s}\n' \
  "$EVENTS" "$RUNS" "$DURATION" "$(cat "$work/generated.json")" "$(cat "$work/reads-empty.json")" "$(cat "$work/reads-small.json")" "$(cat "$work/reads-large.json")" \
  "$feed_empty" "$feed_small" "$feed_large" "$startup_empty" "$startup_large" "$cells" "$(cat "$work/retention.json")" > "$OUT/large-store.json"
{
  echo
  echo "feed --json --limit 100 (whole command, ms): empty $feed_empty, small $feed_small, large $feed_large"
  echo "start-up to the first answer (ms): empty $startup_empty, large $startup_large"
  echo "reads (empty): $(cat "$work/reads-empty.json")"
  echo "reads (small): $(cat "$work/reads-small.json")"
  echo "reads (large): $(cat "$work/reads-large.json")"
  echo "retention: $(cat "$work/retention.json")"
} | tee -a "$OUT/large-store.txt"
echo "results in $OUT/large-store.txt and $OUT/large-store.json"
