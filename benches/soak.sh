#!/usr/bin/env bash
# Soak run (issue 8 §5): `jfmon serve`, three dashboards following the hub over
# WebSocket and one dashboard polling PostgreSQL directly, all real release
# binaries in a detached tmux session, while `jfmon simulate` writes live
# traffic. The VmRSS of every jfmon process is sampled every SAMPLE_SECS into
# a CSV (one row per sample), with the API calls written so far.
#
# Time compression: by *volume*, not by clock. The simulator writes RATE API
# calls/s (default 1,000, five times the 200/s of the target), so each wall
# minute carries RATE/200 minutes of 200 calls/s traffic. Timestamps stay real
# (the store's window is anchored to the database clock, so future-dated rows
# would not be a faithful test); the dashboards use a short WINDOW (default
# 3m) so the window fills and then expires minutes many times during the run.
#
#   benches/soak.sh                       # defaults below
#   MINUTES=12 RATE=1000 WINDOW=3m benches/soak.sh
#
# Needs: a release build (cargo build --release), tmux, PostgreSQL at
# PGHOST/PGUSER (trust auth). Creates database $DB and drops it at the end.
set -euo pipefail

BIN=${BIN:-target/release/jfmon}
MINUTES=${MINUTES:-12}
RATE=${RATE:-1000}
WINDOW=${WINDOW:-3m}
INTERVAL=${INTERVAL:-1s}
SAMPLE_SECS=${SAMPLE_SECS:-60}
PORT=${PORT:-10471}
DB=${DB:-soak}
PGHOST=${PGHOST:-127.0.0.1}
PGUSER=${PGUSER:-postgres}
OUT=${OUT:-target/soak}
SESSION=${SESSION:-jfmon-soak-$$}
URL="postgres://$PGUSER@$PGHOST:5432/$DB"

mkdir -p "$OUT"
CSV="$OUT/rss.csv"
SIM_PID=
HUB_PID=

cleanup() {
    set +e
    tmux -L "$SESSION" kill-server 2>/dev/null
    [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null
    [ -n "$HUB_PID" ] && kill "$HUB_PID" 2>/dev/null
    wait 2>/dev/null
    dropdb -h "$PGHOST" -U "$PGUSER" --if-exists "$DB"
}
trap cleanup EXIT

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

dropdb -h "$PGHOST" -U "$PGUSER" --if-exists "$DB"
createdb -h "$PGHOST" -U "$PGUSER" "$DB"
"$BIN" --database-url "$URL" migrate >/dev/null

"$BIN" --database-url "$URL" simulate --rate "$RATE" --no-progress \
    --duration "$((MINUTES + 1))m" >"$OUT/simulate.log" 2>&1 &
SIM_PID=$!
"$BIN" serve --database-url "$URL" --listen "127.0.0.1:$PORT" \
    --window "$WINDOW" --interval "$INTERVAL" >"$OUT/serve.log" 2>&1 &
HUB_PID=$!
sleep 2

WS="ws://127.0.0.1:$PORT/monitoring/ws"
T=(tmux -L "$SESSION")
"${T[@]}" new-session -d -s "$SESSION" -x 200 -y 50 "exec env -u DATABASE_URL $BIN --ws $WS"
"${T[@]}" new-window -t "$SESSION" "exec env -u DATABASE_URL $BIN --ws $WS"
"${T[@]}" new-window -t "$SESSION" "exec env -u DATABASE_URL $BIN --ws $WS"
"${T[@]}" new-window -t "$SESSION" \
    "exec $BIN --database-url $URL --window $WINDOW --interval $INTERVAL"
sleep 1
mapfile -t DASH < <("${T[@]}" list-panes -s -t "$SESSION" -F '#{pane_pid}')
[ "${#DASH[@]}" -eq 4 ] || { echo "expected 4 dashboards, got ${#DASH[@]}" >&2; exit 1; }

echo "sample,elapsed_s,api_calls_written,hub_kib,ws1_kib,ws2_kib,ws3_kib,direct_kib,simulate_kib" >"$CSV"
start=$(date +%s)
for ((m = 0; m <= MINUTES; m++)); do
    # Wait for the next sample point (the first one is taken at once).
    target=$((start + m * SAMPLE_SECS))
    now=$(date +%s)
    [ "$now" -lt "$target" ] && sleep $((target - now))
    for p in "$HUB_PID" "${DASH[@]}"; do
        kill -0 "$p" 2>/dev/null || { echo "process $p died at minute $m" >&2; exit 1; }
    done
    calls=$(psql -h "$PGHOST" -U "$PGUSER" -d "$DB" -Atc \
        "SELECT coalesce(max(id), 0) FROM monitoring_api_calls")
    line="$m,$(($(date +%s) - start)),$calls,$(rss_kib "$HUB_PID")"
    for p in "${DASH[@]}"; do line+=",$(rss_kib "$p")"; done
    line+=",$(rss_kib "$SIM_PID")"
    echo "$line" | tee -a "$CSV"
done

# A screen of the last dashboard, to show it was live at the end.
"${T[@]}" capture-pane -p -t "$SESSION:3" >"$OUT/direct-screen.txt"
"${T[@]}" capture-pane -p -t "$SESSION:0" >"$OUT/ws1-screen.txt"
echo "CSV: $CSV"
