#!/usr/bin/env bash
# Soak run (issue 8 §5): `jfmon serve`, three dashboards following the hub over
# WebSocket and one dashboard polling PostgreSQL directly, all real release
# binaries in a detached tmux session, while `jfmon simulate` writes live
# traffic. Every SAMPLE_SECS the memory of every jfmon process is sampled
# from /proc/PID/status (VmRSS into rss.csv, RssAnon — the heap part — into
# anon.csv) with the API calls written so far, and glibc's own account of
# the heap (bytes in use by live allocations vs bytes the allocator holds)
# goes into heap.csv: a hub's every sample from its own /metrics
# (`jfmon_heap_in_use_bytes`, mallinfo2), a dashboard's every HEAP_EVERY
# samples through gdb (`malloc_stats()`). That tells a leak (in-use bytes
# grow) from allocator retention (in use flat, held grows). At the end
# `malloc_trim(0)` is called in each
# process and the RSS sampled again (trim.csv).
#
# jfmon tunes glibc malloc at start-up (src/memory.rs: a fixed 128 KiB mmap
# threshold and malloc_trim(0) every minute) unless the environment tunes it.
# CONTROL=1 adds the same-run comparison with glibc's defaults: a second hub
# (`hub_glibc`, on PORT+1, no dashboards) and a direct dashboard
# (`direct_glibc`), both started with MALLOC_ARENA_MAX=16 — glibc's own
# default on a 2-core machine (8 per core), whose presence makes jfmon leave
# the allocator alone.
# The machine's load average goes into load.csv with every sample.
#
# Time compression: by *volume*, not by clock. The simulator writes RATE API
# calls/s (five to ten times the 200/s of the target), so each wall minute
# carries RATE/200 minutes of 200 calls/s traffic. Timestamps stay real (the
# store's window is anchored to the database clock, so future-dated rows
# would not be a faithful test); the WINDOW (default 15m) fills after WINDOW
# and from then on expires a minute every minute.
#
#   benches/soak.sh                       # defaults below
#   MINUTES=72 RATE=4000 CONTROL=1 benches/soak.sh
#
# Autovacuum: a production PostgreSQL runs autovacuum, which keeps the
# planner's statistics current and the updated sessions table free of dead
# rows. A test cluster may run without it (this workplace's has
# autovacuum = off): the tables then stay "never analyzed" and the poll
# reads get sequential-scan plans whose cost grows with the table. So the
# script does autovacuum's work itself: `VACUUM (ANALYZE)` of the database
# every VACUUM_SECS (default 60; 0 turns it off), in the background.
#
# Needs: a release build (cargo build --release), tmux, gdb, PostgreSQL at
# PGHOST/PGUSER (trust auth). Creates database $DB and drops it at the end.
set -euo pipefail

BIN=$(realpath "${BIN:-target/release/jfmon}")
MINUTES=${MINUTES:-60}
RATE=${RATE:-1000}
WINDOW=${WINDOW:-15m}
INTERVAL=${INTERVAL:-1s}
SAMPLE_SECS=${SAMPLE_SECS:-60}
HEAP_EVERY=${HEAP_EVERY:-5}
CONTROL=${CONTROL:-0}
PORT=${PORT:-10471}
DB=${DB:-soak}
PGHOST=${PGHOST:-127.0.0.1}
PGUSER=${PGUSER:-postgres}
OUT=${OUT:-target/soak}
SESSION=${SESSION:-jfmon-soak-$$}
URL="postgres://$PGUSER@$PGHOST:5432/$DB"

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SIM_PID=
HUB_PID=
HUB_GLIBC_PID=
VACUUM_PID=
VACUUM_SECS=${VACUUM_SECS:-60}

cleanup() {
    set +e
    tmux -L "$SESSION" kill-server 2>/dev/null
    [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null
    [ -n "$HUB_PID" ] && kill "$HUB_PID" 2>/dev/null
    [ -n "$HUB_GLIBC_PID" ] && kill "$HUB_GLIBC_PID" 2>/dev/null
    [ -n "$VACUUM_PID" ] && kill "$VACUUM_PID" 2>/dev/null
    wait 2>/dev/null
    dropdb -h "$PGHOST" -U "$PGUSER" --if-exists "$DB"
}
trap cleanup EXIT

status_kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# glibc's heap account of process $1, whose stderr goes to file $2:
# "in_use_bytes,system_bytes" (totals including mmap'd chunks), or "," when
# gdb did not get through (a timeout under load): an empty sample, never
# the previous block read again.
heap_stats() {
    local before
    before=$(grep -c '^Total (incl. mmap):' "$2" 2>/dev/null || true)
    timeout "${GDB_SECS:-120}" gdb -p "$1" -batch -ex 'call (void)malloc_stats()' >/dev/null 2>&1 || true
    awk -v skip="${before:-0}" '/^Total \(incl. mmap\):/ {n++; t = n > skip; next}
         t && /^system bytes/ {s = $NF}
         t && /^in use bytes/ {u = $NF; t = 0}
         END {print u "," s}' "$2"
}

# The same account from a hub's own /metrics (jfmon_heap_in_use_bytes,
# jfmon_heap_held_bytes: mallinfo2 in the process, no debugger needed).
hub_heap() {
    curl -sf --max-time 10 "http://127.0.0.1:$1/metrics" |
        awk '$1 == "jfmon_heap_in_use_bytes" {u = $2} $1 == "jfmon_heap_held_bytes" {s = $2}
             END {if (u != "") printf "%d,%d\n", u, s; else print ","}'
}

dropdb -h "$PGHOST" -U "$PGUSER" --if-exists "$DB"
createdb -h "$PGHOST" -U "$PGUSER" "$DB"
"$BIN" --database-url "$URL" migrate >/dev/null

if [ "$VACUUM_SECS" -gt 0 ]; then
    while sleep "$VACUUM_SECS"; do
        psql -h "$PGHOST" -U "$PGUSER" -d "$DB" -qc 'VACUUM (ANALYZE)' >/dev/null 2>&1
    done &
    VACUUM_PID=$!
fi

"$BIN" --database-url "$URL" simulate --rate "$RATE" --no-progress \
    --duration "$((MINUTES * SAMPLE_SECS / 60 + 2))m" >"$OUT/simulate.log" 2>&1 &
SIM_PID=$!
"$BIN" serve --database-url "$URL" --listen "127.0.0.1:$PORT" \
    --window "$WINDOW" --interval "$INTERVAL" >"$OUT/serve.log" 2>&1 &
HUB_PID=$!
HUB_NAMES=(hub)
HUB_PIDS=("$HUB_PID")
HUB_ERRS=("$OUT/serve.log")
HUB_PORTS=("$PORT")
if [ "$CONTROL" = 1 ]; then
    env MALLOC_ARENA_MAX=$((8 * $(nproc))) "$BIN" serve --database-url "$URL" \
        --listen "127.0.0.1:$((PORT + 1))" --window "$WINDOW" --interval "$INTERVAL" \
        >"$OUT/serve_glibc.log" 2>&1 &
    HUB_GLIBC_PID=$!
    HUB_NAMES+=(hub_glibc)
    HUB_PIDS+=("$HUB_GLIBC_PID")
    HUB_ERRS+=("$OUT/serve_glibc.log")
    HUB_PORTS+=("$((PORT + 1))")
fi
sleep 2

WS="ws://127.0.0.1:$PORT/monitoring/ws"
NAMES=(ws1 ws2 ws3 direct)
T=(tmux -L "$SESSION")
# Each dashboard draws on stdout; its stderr (where malloc_stats writes)
# goes to a file.
"${T[@]}" new-session -d -s "$SESSION" -x 200 -y 50 \
    "exec env -u DATABASE_URL $BIN --ws $WS 2>$OUT/ws1.err"
"${T[@]}" new-window -t "$SESSION" "exec env -u DATABASE_URL $BIN --ws $WS 2>$OUT/ws2.err"
"${T[@]}" new-window -t "$SESSION" "exec env -u DATABASE_URL $BIN --ws $WS 2>$OUT/ws3.err"
"${T[@]}" new-window -t "$SESSION" \
    "exec $BIN --database-url $URL --window $WINDOW --interval $INTERVAL 2>$OUT/direct.err"
if [ "$CONTROL" = 1 ]; then
    NAMES+=(direct_glibc)
    "${T[@]}" new-window -t "$SESSION" "exec env MALLOC_ARENA_MAX=$((8 * $(nproc))) $BIN \
        --database-url $URL --window $WINDOW --interval $INTERVAL 2>$OUT/direct_glibc.err"
fi
sleep 1
mapfile -t DASH < <("${T[@]}" list-panes -s -t "$SESSION" -F '#{pane_pid}')
[ "${#DASH[@]}" -eq "${#NAMES[@]}" ] ||
    { echo "expected ${#NAMES[@]} dashboards, got ${#DASH[@]}" >&2; exit 1; }
PIDS=("${HUB_PIDS[@]}" "${DASH[@]}")
ERRS=("${HUB_ERRS[@]}")
for n in "${NAMES[@]}"; do ERRS+=("$OUT/$n.err"); done
ALL=("${HUB_NAMES[@]}" "${NAMES[@]}")

head="sample,elapsed_s,api_calls_written"
for n in "${ALL[@]}"; do head+=",${n}_kib"; done
echo "$head,simulate_kib" >"$OUT/rss.csv"
echo "$head" | sed 's/_kib/_anon_kib/g' >"$OUT/anon.csv"
hhead="sample,elapsed_s"
for n in "${ALL[@]}"; do hhead+=",${n}_in_use,${n}_held"; done
echo "$hhead" >"$OUT/heap.csv"
echo "sample,elapsed_s,load1,load5,load15" >"$OUT/load.csv"

start=$(date +%s)
for ((m = 0; m <= MINUTES; m++)); do
    # Wait for the next sample point (the first one is taken at once).
    target=$((start + m * SAMPLE_SECS))
    now=$(date +%s)
    [ "$now" -lt "$target" ] && sleep $((target - now))
    for p in "${PIDS[@]}"; do
        kill -0 "$p" 2>/dev/null || { echo "process $p died at sample $m" >&2; exit 1; }
    done
    calls=$(psql -h "$PGHOST" -U "$PGUSER" -d "$DB" -Atc \
        "SELECT coalesce(max(id), 0) FROM monitoring_api_calls")
    elapsed=$(($(date +%s) - start))
    rss="$m,$elapsed,$calls"
    anon="$m,$elapsed,$calls"
    for p in "${PIDS[@]}"; do
        rss+=",$(status_kib "$p" VmRSS)"
        anon+=",$(status_kib "$p" RssAnon)"
    done
    echo "$rss,$(status_kib "$SIM_PID" VmRSS)" | tee -a "$OUT/rss.csv"
    echo "$anon" >>"$OUT/anon.csv"
    echo "$m,$elapsed,$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' ,)" >>"$OUT/load.csv"
    # The hubs' heap every sample (a scrape); the dashboards' every
    # HEAP_EVERY samples (a debugger attach), empty cells in between.
    heap="$m,$elapsed"
    for i in "${!PIDS[@]}"; do
        if [ "$i" -lt "${#HUB_PORTS[@]}" ]; then
            heap+=",$(hub_heap "${HUB_PORTS[$i]}")"
        elif ((m % HEAP_EVERY == 0)); then
            heap+=",$(heap_stats "${PIDS[$i]}" "${ERRS[$i]}")"
        else
            heap+=",,"
        fi
    done
    echo "$heap" >>"$OUT/heap.csv"
done

# A screen of two dashboards, to show they were live at the end.
"${T[@]}" capture-pane -p -t "$SESSION:3" >"$OUT/direct-screen.txt"
"${T[@]}" capture-pane -p -t "$SESSION:0" >"$OUT/ws1-screen.txt"

# What the allocator gives back when asked: RSS before and after malloc_trim(0).
echo "process,rss_before_kib,rss_after_trim_kib" >"$OUT/trim.csv"
for i in "${!PIDS[@]}"; do
    name=${ALL[$i]}
    before=$(status_kib "${PIDS[$i]}" VmRSS)
    timeout 60 gdb -p "${PIDS[$i]}" -batch -ex 'call (int)malloc_trim(0)' >/dev/null 2>&1 || true
    echo "$name,$before,$(status_kib "${PIDS[$i]}" VmRSS)" >>"$OUT/trim.csv"
done
cat "$OUT/trim.csv"
echo "CSV: $OUT/rss.csv $OUT/anon.csv $OUT/heap.csv $OUT/trim.csv"
