#!/usr/bin/env python3
"""History benchmarks (issue 9): one database per run, real release binaries.

    benches/history.py open     DB   # windows without rollups, backfill, with rollups
    benches/history.py rollups  DB   # only the backfill and the windows with rollups
    benches/history.py idle     DB   # dashboard at 24 h: first screen, RSS, idle CPU
    benches/history.py prune    DB   # prune --older-than 6d with simulate --rate 200
    benches/history.py storage  DB   # rollup storage per day
    benches/history.py tier     DB   # windows from the minutes against the 5-minute tier
    benches/history.py short    DB   # short windows without rollups against the naive SQL

`open`, per window (15m 1h 6h 24h 7d, or WINDOWS=...): the naive
percentile_cont query (psql), `jfmon snapshot --json` (wall and peak RSS from
/usr/bin/time), and the dashboard in a detached tmux session (first full
screen: the header names the window's history; complete: no "… of …"
progress left; VmHWM/VmRSS of the process from /proc), each RUNS times, first
with no rollups (their tables emptied), then after `jfmon rollup --backfill
BACKFILL` (timed: raw rows/s), again with them. `idle` keeps a dashboard open on
unchanged data and reads its CPU time from /proc/PID/stat over IDLE_SECS.
`prune` deletes the rows older than 6 days while `jfmon simulate --rate 200`
writes, and pgbench inserts one API call every 50 ms (-R 20) as a probe of
the writers' insert latency (its per-transaction log gives the worst).

Environment: BIN (default target/release/jfmon; copy it out of a shared
target dir first), PGHOST/PGPORT/PGUSER (127.0.0.1, 5432, postgres), RUNS (3),
BUSINESS_TZ (UTC; the business strip's "today"),
WINDOWS, IDLE_SECS (180), BACKFILL (how far `open` backfills: 30d when
WINDOWS holds 30d, else 7d). Prints one JSON line per measurement and a
summary table (medians) on stderr; `uptime` goes with every table.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

BIN = os.path.realpath(os.environ.get("BIN", "target/release/jfmon"))
HOST = os.environ.get("PGHOST", "127.0.0.1")
PORT = os.environ.get("PGPORT", "5432")
USER = os.environ.get("PGUSER", "postgres")
RUNS = int(os.environ.get("RUNS", "3"))
WINDOWS = os.environ.get("WINDOWS", "15m,1h,6h,24h,7d").split(",")
IDLE_SECS = int(os.environ.get("IDLE_SECS", "180"))
# How far `open` backfills the rollups: the longest window measured.
BACKFILL = os.environ.get("BACKFILL", "30d" if "30d" in WINDOWS else "7d")
SECS = {"m": 60, "h": 3600, "d": 86400}

# "Today" in the business time zone for `short`: BUSINESS_TZ (default UTC),
# passed to jfmon as JFMON_BUSINESS_TIMEZONE. A zone where the day is nearly
# over (Etc/GMT+7 at 06:30 UTC is 23:30) measures a day's worth of "today"
# at any hour.
BUSINESS_TZ = os.environ.get("BUSINESS_TZ", "UTC")
NAIVE_TODAY = ("SELECT metric, sum(value) FROM monitoring_business_metrics "
               f"WHERE recorded_at >= (SELECT date_trunc('day', now() AT TIME ZONE '{BUSINESS_TZ}') "
               f"AT TIME ZONE '{BUSINESS_TZ}') GROUP BY 1")  # (once, not per row)
NAIVE = (
    "SELECT endpoint, method, count(*), "
    "count(*) FILTER (WHERE status_code >= 500 OR btrim(coalesce(error, '')) <> ''), "
    "percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time) "
    "FROM monitoring_api_calls WHERE timestamp >= now()::timestamp - interval '{w}' "
    "GROUP BY 1, 2"
)


# The naive SQL for the main parts of what a load shows (dashboard and
# snapshot alike), one statement after another on one connection, as a tool
# without jfmon's machinery would read them: per endpoint and per
# integration the window's percentiles and their per-minute series (two
# scans each, where jfmon reads one bucketed aggregate), the business series
# and today's totals since midnight (in BUSINESS_TZ, as jfmon's), sessions
# started per minute and open now, the newest errors and the slowest calls
# among the newest 200,000 (as jfmon's load looks). Not in it, but in a
# load: the usage ends and credits, alerts, integration health, the active
# sessions' list, the integrations' last success and error, and the tails'
# id arrays.
NAIVE_ALL = [
    NAIVE,
    "SELECT date_trunc('minute', timestamp), endpoint, method, count(*), "
    "count(*) FILTER (WHERE status_code >= 500 OR btrim(coalesce(error, '')) <> '') "
    "FROM monitoring_api_calls WHERE timestamp >= now()::timestamp - interval '{w}' "
    "GROUP BY 1, 2, 3",
    "SELECT integration, count(*), count(*) FILTER (WHERE NOT success), "
    "percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration_ms) "
    "FROM monitoring_integration_metrics WHERE created_at >= now() - interval '{w}' GROUP BY 1",
    "SELECT date_trunc('minute', created_at), integration, count(*), "
    "count(*) FILTER (WHERE NOT success) FROM monitoring_integration_metrics "
    "WHERE created_at >= now() - interval '{w}' GROUP BY 1, 2",
    "SELECT date_trunc('minute', recorded_at), metric, sum(value) FROM monitoring_business_metrics "
    "WHERE recorded_at >= now() - interval '{w}' GROUP BY 1, 2",
    NAIVE_TODAY,
    "SELECT date_trunc('minute', started_at), service, count(*) FROM monitoring_sessions "
    "WHERE started_at >= now() - interval '{w}' GROUP BY 1, 2",
    "SELECT count(*) FROM monitoring_sessions WHERE status = 'active'",
    "SELECT * FROM monitoring_api_calls WHERE timestamp >= now()::timestamp - interval '{w}' "
    "AND id > (SELECT max(id) FROM monitoring_api_calls) - 200000 "
    "AND (status_code >= 500 OR btrim(coalesce(error, '')) <> '') ORDER BY id DESC LIMIT 100",
    "SELECT * FROM monitoring_api_calls WHERE timestamp >= now()::timestamp - interval '{w}' "
    "AND id > (SELECT max(id) FROM monitoring_api_calls) - 200000 "
    "AND response_time IS NOT NULL ORDER BY response_time DESC LIMIT 50",
]


def url(db):
    return f"postgres://{USER}@{HOST}:{PORT}/{db}"


def psql(db, sql):
    out = subprocess.run(
        ["psql", "-h", HOST, "-p", PORT, "-U", USER, "-d", db, "-XAtq", "-v",
         "ON_ERROR_STOP=1", "-c", sql],
        check=True, capture_output=True, text=True)
    return out.stdout.strip()


def load():
    return open("/proc/loadavg").read().split()[:3]


def emit(**kv):
    kv["load"] = load()
    print(json.dumps(kv), flush=True)
    return kv


def interval(w):
    return f"{int(w[:-1]) * SECS[w[-1]]} seconds"


def naive(db, w):
    t = time.monotonic()
    psql(db, "SET statement_timeout = 0; SET jit = off; " + NAIVE.format(w=interval(w)))
    return time.monotonic() - t


def naive_all(db, w):
    t = time.monotonic()
    psql(db, "SET statement_timeout = 0; SET jit = off; "
         + "; ".join(q.format(w=interval(w)) for q in NAIVE_ALL))
    return time.monotonic() - t


def naive_today(db):
    t = time.monotonic()
    psql(db, "SET statement_timeout = 0; SET jit = off; " + NAIVE_TODAY)
    return time.monotonic() - t


def snapshot(db, w):
    with tempfile.NamedTemporaryFile("r") as f:
        t = time.monotonic()
        out = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", f.name, BIN, "snapshot", "--json",
             "--window", w, "--database-url", url(db)],
            capture_output=True, text=True)
        wall = time.monotonic() - t
        rss_mb = int(f.read().split()[-1]) / 1024
    if out.returncode != 0:
        # Failed (the error line says why): recorded, not a number.
        emit(what="snapshot-failed", db=db, window=w, wall=round(wall, 1),
             error=out.stderr.strip().splitlines()[-1:])
        return None, rss_mb, None
    j = json.loads(out.stdout)
    return wall, rss_mb, history_of(j)


def history_of(j):
    """The history the snapshot names (wherever the JSON keeps it)."""
    if isinstance(j, dict):
        for k, v in j.items():
            if k == "history" and isinstance(v, str):
                return v
            h = history_of(v)
            if h:
                return h
    if isinstance(j, list):
        for v in j:
            h = history_of(v)
            if h:
                return h
    return None


def proc_status(pid):
    out = {}
    try:
        for line in open(f"/proc/{pid}/status"):
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) / 1024
    except FileNotFoundError:
        pass
    return out


def cpu_secs(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def tmux(*args):
    return subprocess.run(["tmux", *args], capture_output=True, text=True).stdout


def jfmon_pid(session):
    """The jfmon process in the session's pane (the pane runs it directly)."""
    return int(tmux("display", "-p", "-t", session, "#{pane_pid}").strip())


def dashboard(db, w, keep=None, timeout=600):
    """Open the dashboard at window `w` in tmux; times to first and complete
    screen, peak and steady RSS. `keep(session, pid)` runs before it is closed."""
    session = f"histbench{os.getpid()}"
    tmux("kill-session", "-t", session)
    t0 = time.monotonic()
    tmux("new-session", "-d", "-s", session, "-x", "250", "-y", "50",
         BIN, "--database-url", url(db), "--window", w, "--interval", "2s")
    pid = jfmon_pid(session)
    first = done = None
    label = None
    while time.monotonic() - t0 < timeout:
        screen = tmux("capture-pane", "-p", "-t", session)
        head = screen.splitlines()[0] if screen else ""
        if " from " in head:
            label = head.split(" from ", 1)[1].split("  ")[0].strip()
            now = time.monotonic() - t0
            first = first or now
            if " of " not in label:
                done = now
                break
        time.sleep(0.05)
    time.sleep(5)
    steady = proc_status(pid)
    out = {"first_s": first, "complete_s": done, "label": label,
           "peak_mb": steady.get("VmHWM"), "rss_5s_mb": steady.get("VmRSS")}
    if keep:
        out.update(keep(session, pid))
    tmux("kill-session", "-t", session)
    return out


def med(xs):
    xs = [x for x in xs if x is not None]
    return round(statistics.median(xs), 3) if xs else None


def truncate_rollups(db):
    psql(db, "DO $$ BEGIN IF to_regclass('jfmon_rollup_state') IS NOT NULL THEN "
             "TRUNCATE jfmon_rollup_api, jfmon_rollup_integrations, jfmon_rollup_business, "
             "jfmon_rollup_sessions, jfmon_rollup_state; END IF; END $$")
    psql(db, "DO $$ BEGIN IF to_regclass('jfmon_rollup_api_5m') IS NOT NULL THEN "
             "TRUNCATE jfmon_rollup_api_5m, jfmon_rollup_integrations_5m; END IF; END $$")
    psql(db, "DO $$ BEGIN IF to_regclass('jfmon_rollup_usage_state') IS NOT NULL THEN "
             "TRUNCATE jfmon_rollup_usage, jfmon_rollup_usage_state; END IF; END $$")


def open_windows(db, kind, naive_of=None):
    """`naive_of`: the naive times already taken per window in this run (the
    data is unchanged): not taken again."""
    rows = []
    for w in WINDOWS:
        r = {"naive": [], "snap": [], "snap_mb": [], "first": [], "complete": [],
             "peak": [], "rss": []}
        hist = label = None
        for _ in range(RUNS):
            if naive_of and w in naive_of:
                r["naive"] = naive_of[w]
            else:
                r["naive"].append(naive(db, w))
            wall, mb, hist = snapshot(db, w)
            r["snap"].append(wall)
            r["snap_mb"].append(mb)
            d = dashboard(db, w)
            label = d["label"]
            r["first"].append(d["first_s"])
            r["complete"].append(d["complete_s"])
            r["peak"].append(d["peak_mb"])
            r["rss"].append(d["rss_5s_mb"])
        m = {k: med(v) for k, v in r.items()}
        rows.append(emit(what="open", db=db, rollups=kind, window=w, history=hist,
                         dashboard_label=label, runs=RUNS, **m, raw=r))
    return rows


def cmd_open(db, skip_without=False):
    psql(db, "SELECT 1")
    subprocess.run([BIN, "migrate", "--database-url", url(db)], check=True,
                   capture_output=True)
    truncate_rollups(db)
    print(f"uptime: {subprocess.getoutput('uptime')}", file=sys.stderr)
    without = [] if skip_without else open_windows(db, "none")
    rows = int(psql(db, "SELECT (SELECT count(*) FROM monitoring_api_calls) + "
                        "(SELECT count(*) FROM monitoring_integration_metrics) + "
                        "(SELECT count(*) FROM monitoring_business_metrics) + "
                        "(SELECT count(*) FROM monitoring_sessions)"))
    t = time.monotonic()
    # BACKFILL_ARGS: e.g. "--statement-timeout 10m" for a build without --backfill-timeout.
    extra = os.environ.get("BACKFILL_ARGS", "").split()
    b = subprocess.run([BIN, "rollup", "--backfill", BACKFILL, "--no-progress", "--database-url",
                        url(db), *extra], capture_output=True, text=True)
    if b.returncode != 0:
        emit(what="backfill-failed", db=db, after_s=round(time.monotonic() - t, 1),
             error=b.stderr.strip().splitlines()[-1:])
        sys.exit(1)
    secs = time.monotonic() - t
    emit(what="backfill", db=db, rows=rows, secs=round(secs, 1), rows_per_s=round(rows / secs))
    with_ = open_windows(db, "rollups", {x["window"]: x["raw"]["naive"] for x in without})
    if without:
        summary(db, without, with_)


def summary(db, without, with_):
    print(f"\n{db}   (uptime load at the end: {' '.join(load())})", file=sys.stderr)
    print("| window | naive | snapshot, no rollups | its peak RSS | dashboard first / complete, "
          "no rollups | snapshot, rollups | its peak RSS | dashboard first, rollups | "
          "dashboard peak / steady RSS (no rollups; rollups) |", file=sys.stderr)
    for a, b in zip(without, with_):
        print(f"| {a['window']} | {a['naive']} s | {a['snap']} s | {a['snap_mb']:.0f} MB | "
              f"{a['first']} / {a['complete']} s | {b['snap']} s | {b['snap_mb']:.0f} MB | "
              f"{b['first']} s | {a['peak']:.0f} / {a['rss']:.0f}; {b['peak']:.0f} / "
              f"{b['rss']:.0f} MB |", file=sys.stderr)


def cmd_idle(db):
    w = os.environ.get("WINDOW", "24h")

    def idle(session, pid):
        time.sleep(30)  # let the load settle
        c0, t0 = cpu_secs(pid), time.monotonic()
        samples = []
        while time.monotonic() - t0 < IDLE_SECS:
            time.sleep(10)
            samples.append(proc_status(pid).get("VmRSS"))
        c1, t1 = cpu_secs(pid), time.monotonic()
        return {"idle_cpu_pct": round(100 * (c1 - c0) / (t1 - t0), 3),
                "idle_secs": round(t1 - t0), "rss_steady_mb": med(samples),
                "peak_after_mb": proc_status(pid).get("VmHWM")}

    emit(what="idle", db=db, window=w, bin=BIN, **dashboard(db, w, keep=idle))


def cmd_storage(db):
    out = psql(db, "SELECT t, pg_total_relation_size(t::regclass) FROM unnest(ARRAY["
                   "'jfmon_rollup_api','jfmon_rollup_integrations','jfmon_rollup_business',"
                   "'jfmon_rollup_sessions','jfmon_rollup_api_5m','jfmon_rollup_integrations_5m',"
                   "'jfmon_rollup_usage']) AS t WHERE to_regclass(t) IS NOT NULL")
    every = {l.split("|")[0]: int(l.split("|")[1]) for l in out.splitlines()}
    # mb_per_day: the four minute rollups, as in earlier runs; the others apart.
    extra = {t: every.pop(t) for t in list(every)
             if t.endswith("_5m") or t == "jfmon_rollup_usage"}
    sizes = every
    days = float(psql(db, "SELECT extract(epoch FROM max(minute) - min(minute)) / 86400 "
                          "FROM jfmon_rollup_api"))
    raw = int(psql(db, "SELECT pg_total_relation_size('monitoring_api_calls')"))
    emit(what="storage", db=db, days=round(days, 2), bytes=sizes,
         mb_per_day=round(sum(sizes.values()) / days / 2**20, 2),
         other_mb_per_day={t: round(b / days / 2**20, 2) for t, b in extra.items()},
         api_raw_mb_per_day=round(raw / days / 2**20, 1))


def cmd_tier(db):
    """Windows read from the rollups' minutes against their 5-minute tier,
    alternating in one run, on unchanged data (run after `rollups`, with no
    follower: each measurement first marks the rollups current, and the tier
    kept or not)."""
    print(f"uptime: {subprocess.getoutput('uptime')}", file=sys.stderr)
    rows = []
    for w in WINDOWS:
        r = {"window": w, "naive": [], "minutes": [], "minutes_mb": [], "tier": [], "tier_mb": []}
        for _ in range(RUNS):
            r["naive"].append(naive(db, w))
            for kind, tier_at in (("minutes", "NULL"), ("tier", "now()")):
                psql(db, f"UPDATE jfmon_rollup_state SET updated_at = now(), tier_at = {tier_at}")
                wall, mb, hist = snapshot(db, w)
                if hist != "rollups":
                    emit(what="tier-not-from-rollups", db=db, window=w, kind=kind, history=hist)
                r[kind].append(wall)
                r[kind + "_mb"].append(mb)
        emit(what="tier", db=db, **r)
        rows.append({k: (v if k == "window" else med(v)) for k, v in r.items()})
    print(f"\n{db}   (uptime load at the end: {' '.join(load())})", file=sys.stderr)
    print("| window | naive | snapshot from minutes | its peak RSS | snapshot from the 5-minute tier "
          "| its peak RSS | ratio |", file=sys.stderr)
    for r in rows:
        ratio = round(r["minutes"] / r["tier"], 2) if r["minutes"] and r["tier"] else None
        print(f"| {r['window']} | {r['naive']} s | {r['minutes']} s | {r['minutes_mb']:.0f} MB | "
              f"{r['tier']} s | {r['tier_mb']:.0f} MB | {ratio}x |", file=sys.stderr)


def cmd_short(db):
    """Windows without rollups (their tables emptied), alternating in one
    run: the naive API query alone, today's business totals alone, the naive
    SQL for the main parts of what the load shows (`NAIVE_ALL`), and `jfmon
    snapshot`, their order rotated from run to run (so no one always follows
    the same predecessor's cache). A snapshot not read from raw rows is left
    out of its median, and so is a failed one; the counts are printed."""
    os.environ["JFMON_BUSINESS_TIMEZONE"] = BUSINESS_TZ
    truncate_rollups(db)
    hours = float(psql(db, f"SELECT extract(epoch FROM now() - date_trunc('day', now() "
                           f"AT TIME ZONE '{BUSINESS_TZ}') AT TIME ZONE '{BUSINESS_TZ}') / 3600"))
    print(f"uptime: {subprocess.getoutput('uptime')}; today holds {hours:.1f} h",
          file=sys.stderr)
    rows = []
    for w in WINDOWS:
        r = {"window": w, "naive": [], "today": [], "naive_all": [], "snap": []}

        def snap():
            wall, _, hist = snapshot(db, w)
            if hist != "raw rows":
                emit(what="short-not-from-raw-rows", db=db, window=w, history=hist)
                return None
            return wall

        steps = [("naive", lambda: naive(db, w)), ("today", lambda: naive_today(db)),
                 ("naive_all", lambda: naive_all(db, w)), ("snap", snap)]
        for run in range(RUNS):
            for k, f in steps[run % 4:] + steps[:run % 4]:
                r[k].append(f())
        emit(what="short", db=db, today_hours=round(hours, 2), **r)
        rows.append({k: (v if k == "window" else med(v)) for k, v in r.items()})
        rows[-1]["snaps"] = len([x for x in r["snap"] if x is not None])
    print(f"\n{db}   (today in {BUSINESS_TZ}: {hours:.1f} h; uptime load at the end: {' '.join(load())})",
          file=sys.stderr)
    print("| window | naive API query | today's totals alone | naive SQL for all the load shows "
          "| `snapshot --json` (runs counted) | / naive API | / naive all |", file=sys.stderr)
    for r in rows:
        a = round(r["snap"] / r["naive"], 2) if r["snap"] and r["naive"] else None
        b = round(r["snap"] / r["naive_all"], 2) if r["snap"] and r["naive_all"] else None
        print(f"| {r['window']} | {r['naive']} s | {r['today']} s | {r['naive_all']} s | "
              f"{r['snap']} s ({r['snaps']}) | {a}x | {b}x |", file=sys.stderr)


def cmd_prune(db):
    older = os.environ.get("OLDER_THAN", "6d")
    probe = tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False)
    probe.write("INSERT INTO monitoring_api_calls (endpoint, method, status_code, "
                "response_time, timestamp) VALUES ('/probe', 'GET', 200, 1, now()::timestamp);\n")
    probe.close()
    logdir = tempfile.mkdtemp()
    sim = subprocess.Popen([BIN, "simulate", "--rate", "200", "--database-url", url(db)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bench = subprocess.Popen(
        ["pgbench", "-h", HOST, "-p", PORT, "-U", USER, "-n", "-f", probe.name, "-R", "20",
         "-T", "100000", "-l", "--log-prefix", f"{logdir}/probe", db],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(10)
    before = int(psql(db, "SELECT count(*) FROM monitoring_api_calls"))
    t = time.monotonic()
    p = subprocess.run([BIN, "prune", "--older-than", older, "--no-progress",
                        "--database-url", url(db)], capture_output=True, text=True)
    secs = time.monotonic() - t
    time.sleep(5)
    bench.terminate()
    sim.terminate()
    bench.wait()
    sim.wait()
    lat = []
    for f in os.listdir(logdir):
        for line in open(os.path.join(logdir, f)):
            lat.append(int(line.split()[2]) / 1000.0)  # µs -> ms
    # "jfmon prune: N rows deleted in S s (R rows/s)": the delete phase alone
    # (the wall `secs` includes counting the rows into the rollups first).
    summary_line = [l for l in p.stderr.splitlines() if " rows deleted in " in l]
    emit(what="prune", db=db, older_than=older, rc=p.returncode, secs=round(secs, 1),
         api_rows_before=before, stderr_tail=p.stderr.strip().splitlines()[-6:],
         summary=summary_line[-1] if summary_line else None,
         probe_inserts=len(lat), probe_p50_ms=med(lat),
         probe_p99_ms=round(sorted(lat)[int(len(lat) * 0.99)], 2) if lat else None,
         probe_max_ms=round(max(lat), 2) if lat else None)


if __name__ == "__main__":
    modes = {"open": cmd_open, "idle": cmd_idle, "prune": cmd_prune, "storage": cmd_storage,
             "tier": cmd_tier, "short": cmd_short,
             "rollups": lambda db: cmd_open(db, skip_without=True)}
    if len(sys.argv) != 3 or sys.argv[1] not in modes:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    modes[sys.argv[1]](sys.argv[2])
