#!/usr/bin/env bash
# Allocator retention in minutes instead of hours (issue 8): two dashboards
# polling one database with a few hours of traffic, one as shipped (jfmon
# tunes glibc malloc: src/memory.rs) and one with glibc's defaults
# (MALLOC_ARENA_MAX=8×cores, glibc's own default, whose presence makes jfmon
# leave the allocator alone). Both get the same treatment in the same run,
# CYCLES times: stopped (SIGSTOP) for PAUSE seconds while `jfmon simulate`
# writes LIVE calls/s, so the next poll is a large catch-up, then the window
# widened step by step to 24h and narrowed back to 15m (each step reloads
# the window); VmRSS is sampled after every cycle
# into $OUT/churn.csv, and at the end malloc_trim(0) is called through gdb
# to show what glibc was holding.
#
#   BIN=/path/to/jfmon CYCLES=10 benches/rss_churn.sh
set -euo pipefail

BIN=$(realpath "${BIN:-target/release/jfmon}")
CYCLES=${CYCLES:-10}
SETTLE=${SETTLE:-8}
PAUSE=${PAUSE:-15}
LIVE=${LIVE:-1000}
BACKFILL=${BACKFILL:-2h}
RATE=${RATE:-300}
DB=${DB:-soak_churn}
PGHOST=${PGHOST:-127.0.0.1}
PGUSER=${PGUSER:-postgres}
OUT=${OUT:-target/churn}
SESSION=jfmon-churn-$$
URL="postgres://$PGUSER@$PGHOST:5432/$DB"
T=(tmux -L "$SESSION")

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SIM_PID=
cleanup() {
    set +e
    "${T[@]}" kill-server 2>/dev/null
    [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null
    wait 2>/dev/null
    dropdb -h "$PGHOST" -U "$PGUSER" --if-exists "$DB"
}
trap cleanup EXIT
rss() { awk '$1 == "VmRSS:" {print $2}' "/proc/$1/status"; }

dropdb -h "$PGHOST" -U "$PGUSER" --if-exists "$DB"
createdb -h "$PGHOST" -U "$PGUSER" "$DB"
"$BIN" --database-url "$URL" migrate >/dev/null
"$BIN" --database-url "$URL" simulate --rate "$RATE" --backfill "$BACKFILL" --no-progress \
    >"$OUT/backfill.log" 2>&1
"$BIN" --database-url "$URL" simulate --rate "$LIVE" --no-progress >"$OUT/simulate.log" 2>&1 &
SIM_PID=$!

ARENAS=$((8 * $(nproc)))
"${T[@]}" new-session -d -s "$SESSION" -x 160 -y 48 \
    "exec $BIN --database-url $URL --window 15m --interval 1s 2>$OUT/tuned.err"
"${T[@]}" new-window -t "$SESSION" \
    "exec env MALLOC_ARENA_MAX=$ARENAS $BIN --database-url $URL --window 15m --interval 1s 2>$OUT/glibc.err"
sleep 3
mapfile -t P < <("${T[@]}" list-panes -s -t "$SESSION" -F '#{pane_pid}')

keys() { for w in 0 1; do "${T[@]}" send-keys -t "$SESSION:$w" "$1"; done; }
echo "cycle,tuned_kib,glibc_kib" | tee "$OUT/churn.csv"
echo "0,$(rss "${P[0]}"),$(rss "${P[1]}")" | tee -a "$OUT/churn.csv"
for ((c = 1; c <= CYCLES; c++)); do
    kill -STOP "${P[@]}"
    sleep "$PAUSE"
    kill -CONT "${P[@]}"
    sleep "$SETTLE"
    for _ in 1 2 3; do keys ']'; sleep "$SETTLE"; done # 1h, 6h, 24h
    for _ in 1 2 3; do keys '['; sleep "$SETTLE"; done # back to 15m
    echo "$c,$(rss "${P[0]}"),$(rss "${P[1]}")" | tee -a "$OUT/churn.csv"
done
# After the last cycle: a minute idle (the tuned one trims once a minute).
sleep 65
echo "idle,$(rss "${P[0]}"),$(rss "${P[1]}")" | tee -a "$OUT/churn.csv"
for i in 0 1; do
    timeout 60 gdb -p "${P[$i]}" -batch -ex 'call (int)malloc_trim(0)' >/dev/null 2>&1 || true
done
echo "trimmed,$(rss "${P[0]}"),$(rss "${P[1]}")" | tee -a "$OUT/churn.csv"
"${T[@]}" capture-pane -p -t "$SESSION:0" >"$OUT/tuned-screen.txt"
