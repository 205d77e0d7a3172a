#!/usr/bin/env bash
# Intake benchmark: accepted events/s and latency of POST /hooks/<secret> on
# loopback, side by side in one run:
#   durable  sekoia-notifierd serve (release): parse, store durably (SQLite,
#            group commit), enrichment pipeline running beside it
#   intake   the daemon's router and store alone (bench/intake_only.rs): the
#            same durable intake with no pipeline working beside it
#   bare     a bare axum handler answering 202: the ceiling on this machine
#   fastapi  the reference receiver of Sekoia's documentation: FastAPI under
#            uvicorn, parses the payload, schedules a background task
# Each cell is the median of RUNS runs of DURATION seconds (min and max kept),
# wrk as the load generator. Also the server's CPU time per accepted event and
# its peak RSS. Writes target/bench/intake.txt and target/bench/intake.json.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-"1 16 128"}
PORT_DURABLE=${PORT_DURABLE:-18787}
PORT_BARE=${PORT_BARE:-18788}
PORT_FASTAPI=${PORT_FASTAPI:-18789}
PORT_INTAKE=${PORT_INTAKE:-18790}
SECRET=benchsecret-0123456789abcdefghijkl
OUT=target/bench
VENV=$OUT/venv
mkdir -p "$OUT"

command -v wrk >/dev/null || { echo "wrk is missing: make bench-deps installs it" >&2; exit 2; }
cargo build --release -q -p notifier-daemon -p bench
if [ ! -x "$VENV/bin/uvicorn" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r bench/fastapi/requirements.txt
fi

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

printf '[listener]\nbind = "127.0.0.1:%s"\nhook_secret = "%s"\nmax_requests_per_second = 0\n' "$PORT_DURABLE" "$SECRET" > "$work/config.toml"
chmod 600 "$work/config.toml"
SEKOIA_NOTIFIER_LOG=warn target/release/sekoia-notifierd --config "$work/config.toml" --data-dir "$work/data" serve 2>"$work/serve.log" &
pid_durable=$!; pids+=($pid_durable)
target/release/bare-202 "$PORT_BARE" &
pid_bare=$!; pids+=($pid_bare)
target/release/intake-only "$PORT_INTAKE" "$SECRET" "$work/intake-data" &
pid_intake=$!; pids+=($pid_intake)
(cd bench/fastapi && exec "../../$VENV/bin/uvicorn" app:app --host 127.0.0.1 --port "$PORT_FASTAPI" --no-access-log --log-level warning) &
pid_fastapi=$!; pids+=($pid_fastapi)
for port in "$PORT_DURABLE" "$PORT_INTAKE" "$PORT_BARE" "$PORT_FASTAPI"; do
  for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hwm_kb() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)
# x / y with 3 decimals and a leading zero (bc prints ".5"), for the JSON
div() { awk -v x="$1" -v y="$2" 'BEGIN { printf "%.3f", x / y }'; }

# run PID URL CONNS -> "rps p50_us p99_us p999_us errors cpu_us_per_event"
run() {
  local threads=$(( $3 < 2 ? 1 : 2 )) before after
  before=$(ticks "$1")
  wrk -t"$threads" -c"$3" -d"${DURATION}s" -s bench/post.lua "$2" > "$work/wrk.out"
  after=$(ticks "$1")
  awk -v cpu=$((after - before)) -v hz="$hz" '/^RESULT/ {
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    n = v["requests"] - v["errors"]; if (n < 1) n = 1
    printf "%.0f %d %d %d %d %.1f\n", (v["requests"] - v["errors"]) / (v["duration_us"] / 1e6),
      v["p50_us"], v["p99_us"], v["p999_us"], v["errors"], cpu / hz * 1e6 / n }' "$work/wrk.out"
}

# the median line by the first column
median() { sort -n | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }'; }

# Warm-up, not measured: a new store's first seconds grow its files (each
# fsync then also writes the inode: 1-connection p99 of 100-200 ms in the
# first run after start, 2-4 ms afterwards), and uvicorn warms its imports.
for port in "$PORT_DURABLE" "$PORT_INTAKE" "$PORT_BARE" "$PORT_FASTAPI"; do
  wrk -t1 -c16 -d3s -s bench/post.lua "http://127.0.0.1:$port/hooks/$SECRET" > /dev/null
done

printf '%-8s %-6s %10s %15s %8s %8s %9s %7s %12s\n' target conns "events/s" "(min-max)" "p50 ms" "p99 ms" "p99.9 ms" errors "cpu us/event" | tee "$OUT/intake.txt"
json="["
declare -A rps
for c in $CONNS; do
  for target in durable intake bare fastapi; do
    case $target in
      durable) port=$PORT_DURABLE pid=$pid_durable ;;
      intake) port=$PORT_INTAKE pid=$pid_intake ;;
      bare) port=$PORT_BARE pid=$pid_bare ;;
      fastapi) port=$PORT_FASTAPI pid=$pid_fastapi ;;
    esac
    results=""
    for _ in $(seq "$RUNS"); do results+="$(run "$pid" "http://127.0.0.1:$port/hooks/$SECRET" "$c")"$'\n'; done
    read -r r p50 p99 p999 err cpu <<<"$(printf '%s' "$results" | median)"
    read -r lo hi <<<"$(printf '%s' "$results" | awk 'NR == 1 { lo = hi = $1 } { if ($1 < lo) lo = $1; if ($1 > hi) hi = $1 } END { print lo, hi }')"
    all=$(printf '%s' "$results" | awk '{ printf "%s%s", (NR > 1 ? "," : ""), $1 }')
    rps[$target$c]=$r
    printf '%-8s %-6s %10s %15s %8.2f %8.2f %9.2f %7s %12s\n' "$target" "$c" "$r" "($lo-$hi)" \
      "$(echo "$p50/1000" | bc -l)" "$(echo "$p99/1000" | bc -l)" "$(echo "$p999/1000" | bc -l)" "$err" "$cpu" | tee -a "$OUT/intake.txt"
    [ "$json" = "[" ] || json+=","
    json+=$(printf '{"target":"%s","conns":%s,"events_per_s":{"median":%s,"min":%s,"max":%s,"runs":[%s]},"p50_ms":%s,"p99_ms":%s,"p999_ms":%s,"errors":%s,"cpu_us_per_event":%s,"peak_rss_mb":%s}' \
      "$target" "$c" "$r" "$lo" "$hi" "$all" "$(div "$p50" 1000)" "$(div "$p99" 1000)" \
      "$(div "$p999" 1000)" "$err" "$cpu" "$(div "$(hwm_kb "$pid")" 1024)")
  done
done
json+="]"
echo | tee -a "$OUT/intake.txt"
for c in $CONNS; do
  printf 'at %3s connections: durable / bare %3.0f%%   intake only / bare %3.0f%%   durable / fastapi %5.1fx\n' "$c" \
    "$(echo "100*${rps[durable$c]}/${rps[bare$c]}" | bc -l)" "$(echo "100*${rps[intake$c]}/${rps[bare$c]}" | bc -l)" \
    "$(echo "${rps[durable$c]}/${rps[fastapi$c]}" | bc -l)" | tee -a "$OUT/intake.txt"
done
for t in durable intake bare fastapi; do
  p=pid_$t
  printf 'peak RSS %-8s %6.1f MB\n' "$t" "$(echo "$(hwm_kb "${!p}")/1024" | bc -l)" | tee -a "$OUT/intake.txt"
done
stored=$(target/release/sekoia-notifierd --config "$work/config.toml" --data-dir "$work/data" feed --json --limit 1000000000 | grep -c '"uuid"' || true)
echo "events in the durable store after the run: $stored" | tee -a "$OUT/intake.txt"
# What one durable answer costs at least: fsync on the store's file system
# (a request on one connection waits for its own commit).
fsync_ms=$(python3 - "$OUT" <<'PY'
import os, sys, time
path = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
times = []
for _ in range(500):
    os.write(fd, b"x" * 200)
    t = time.perf_counter()
    os.fsync(fd)
    times.append(time.perf_counter() - t)
os.close(fd)
os.unlink(path)
times.sort()
print("%.3f %.3f" % (times[250] * 1e3, times[495] * 1e3))
PY
)
read -r fsync_p50 fsync_p99 <<<"$fsync_ms"
echo "fsync of 200 bytes on this file system: p50 $fsync_p50 ms, p99 $fsync_p99 ms (500 calls)" | tee -a "$OUT/intake.txt"
printf '{"runs":%s,"duration_s":%s,"stored_after_run":%s,"fsync_ms":{"p50":%s,"p99":%s},"cells":%s}\n' "$RUNS" "$DURATION" "$stored" "$fsync_p50" "$fsync_p99" "$json" > "$OUT/intake.json"
echo "results in $OUT/intake.txt and $OUT/intake.json"
