#!/usr/bin/env python3
"""Summarise a soak run of benches/soak.sh for BENCHMARKS.md.

    python3 benches/soak_report.py [OUT_DIR] [--warmup MIN] [--every N] [--svg PATH]

Reads OUT_DIR/rss.csv, anon.csv, heap.csv and trim.csv (default target/soak)
and prints: a markdown table of VmRSS every N samples, the least-squares
slope (KiB/h) of VmRSS, RssAnon and glibc's in-use heap bytes of each
process over the samples after the warm-up (default: 20 minutes), and the
trim table. With --svg, also draws the VmRSS curves as an SVG line chart.
"""

import csv
import sys


def read(path):
    try:
        with open(path) as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        return []


def slope_per_hour(points):
    """Least-squares slope of (seconds, value) points, per hour."""
    n = len(points)
    if n < 2:
        return float("nan")
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    return sxy / sxx * 3600 if sxx else float("nan")


def processes(rows, suffix):
    return [k[: -len(suffix)] for k in rows[0] if k.endswith(suffix)] if rows else []


def svg(rows, names, path, warmup_s):
    w, h, left, bottom, top, right = 760, 360, 60, 40, 20, 150
    xs = [int(r["elapsed_s"]) / 60 for r in rows]
    vals = {n: [int(r[n + "_kib"]) / 1024 for r in rows] for n in names}
    ymax = max(max(v) for v in vals.values()) * 1.1
    xmax = max(xs) or 1
    px = lambda x: left + x / xmax * (w - left - right)
    py = lambda y: h - bottom - y / ymax * (h - top - bottom)
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#7f7f7f"]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="black"/>',
        f'<line x1="{px(warmup_s / 60):.1f}" y1="{top}" x2="{px(warmup_s / 60):.1f}" '
        f'y2="{h - bottom}" stroke="#aaa" stroke-dasharray="4"/>',
        f'<text x="{px(warmup_s / 60) + 3:.1f}" y="{top + 10}" fill="#777">warm-up ends</text>',
        f'<text x="{(left + w - right) / 2}" y="{h - 8}" text-anchor="middle">minutes</text>',
        f'<text x="14" y="{(top + h - bottom) / 2}" transform="rotate(-90 14 '
        f'{(top + h - bottom) / 2})" text-anchor="middle">VmRSS (MiB)</text>',
    ]
    step = 10 if xmax > 30 else 5
    for m in range(0, int(xmax) + 1, step):
        out.append(f'<text x="{px(m):.1f}" y="{h - bottom + 14}" text-anchor="middle">{m}</text>')
    ystep = 10 if ymax > 40 else 5
    for y in range(0, int(ymax) + 1, ystep):
        out.append(f'<text x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y}</text>')
        out.append(f'<line x1="{left}" y1="{py(y):.1f}" x2="{w - right}" y2="{py(y):.1f}" stroke="#eee"/>')
    for i, n in enumerate(names):
        c = colours[i % len(colours)]
        pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, vals[n]))
        # Controls left on glibc's defaults (CONTROL=1) are dashed.
        dash = ' stroke-dasharray="5 3"' if n.endswith("_glibc") else ""
        out.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.5"{dash} points="{pts}"/>')
        out.append(f'<text x="{w - right + 8}" y="{top + 14 * (i + 1)}" fill="{c}">{n}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    args = sys.argv[1:]
    warmup_min, every, svg_path = 20, 5, None
    rest = []
    i = 0
    while i < len(args):
        if args[i] == "--warmup":
            warmup_min = float(args[i + 1]); i += 2
        elif args[i] == "--every":
            every = int(args[i + 1]); i += 2
        elif args[i] == "--svg":
            svg_path = args[i + 1]; i += 2
        else:
            rest.append(args[i]); i += 1
    out = rest[0] if rest else "target/soak"
    rss, anon, heap, trim = (read(f"{out}/{n}.csv") for n in ("rss", "anon", "heap", "trim"))
    names = processes(rss, "_kib")
    warm = warmup_min * 60

    print("| min | API calls written | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 2) + "|")
    for r in rss:
        if int(r["sample"]) % every == 0 or r is rss[-1]:
            cells = [f"{int(r[n + '_kib']):,}" for n in names]
            print(f"| {int(r['elapsed_s']) / 60:.0f} | {int(r['api_calls_written']):,} | " + " | ".join(cells) + " |")

    print("\nSlopes after warm-up (KiB/h, least squares over samples at t >= "
          f"{warmup_min:g} min):\n")
    print("| process | VmRSS | RssAnon | glibc heap in use | glibc heap held |")
    print("|---|---|---|---|---|")
    for n in names:
        pick = lambda rows, col, div=1: [
            (int(r["elapsed_s"]), int(r[col]) / div)
            for r in rows
            if int(r["elapsed_s"]) >= warm and r.get(col) not in (None, "")
        ]
        s_rss = slope_per_hour(pick(rss, n + "_kib"))
        s_anon = slope_per_hour(pick(anon, n + "_anon_kib")) if n != "simulate" else float("nan")
        s_use = slope_per_hour(pick(heap, n + "_in_use", 1024))
        s_held = slope_per_hour(pick(heap, n + "_held", 1024))
        print(f"| {n} | {s_rss:+,.0f} | {s_anon:+,.0f} | {s_use:+,.0f} | {s_held:+,.0f} |")

    if heap:
        print("\nglibc heap (KiB in use / held; hubs from /metrics, dashboards by malloc_stats):\n")
        hn = processes(heap, "_in_use")
        print("| min | " + " | ".join(hn) + " |")
        print("|---" * (len(hn) + 1) + "|")
        for r in heap:
            if int(r["sample"]) % every and r is not heap[-1]:
                continue
            cells = []
            for n in hn:
                u, s = r.get(n + "_in_use"), r.get(n + "_held")
                cells.append(f"{int(u) // 1024:,} / {int(s) // 1024:,}" if u and s else "–")
            print(f"| {int(r['elapsed_s']) / 60:.0f} | " + " | ".join(cells) + " |")
    if trim:
        print("\nmalloc_trim(0) at the end (VmRSS KiB before → after):\n")
        for r in trim:
            print(f"- {r['process']}: {int(r['rss_before_kib']):,} → {int(r['rss_after_trim_kib']):,}")
    if svg_path and rss:
        svg(rss, [n for n in names if n != "simulate"], svg_path, warm)
        print(f"\nSVG: {svg_path}")


if __name__ == "__main__":
    main()
