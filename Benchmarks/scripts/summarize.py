#!/usr/bin/env python3
"""Medians of jobkit-bench / peer JSON lines (run_jobkit.sh's output), and jobkit's ratio to each peer.

Usage: summarize.py RAW.jsonl [more.jsonl ...]
Groups by (workload, variant, peer) (workload "commit" is run_jobkit.sh's pgbench calibration); prints a markdown table with the median, min, max and every
run, then, per workload and variant, the ratio of jobkit's median to each other peer's median
(for C: the peer's p50/p99 over jobkit's, so > 1 means jobkit is faster in every column).
"""
import json
import statistics
import sys

rows = []
for path in sys.argv[1:]:
    rows += [json.loads(line) for line in open(path) if line.strip().startswith("{")]
groups: dict = {}
for r in rows:
    if "workload" in r:
        groups.setdefault((r["workload"], r["variant"], r["peer"]), []).append(r)


def fmt(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:.2f}"


def median(rs, key):
    return statistics.median(float(r[key]) for r in rs)


print("| workload | variant | peer | figure | runs | median | min | max | all runs |")
print("|---|---|---|---|---|---|---|---|---|")
for (wl, variant, peer), rs in sorted(groups.items()):
    keys = {"C": ["p50_ms", "p95_ms", "p99_ms", "max_ms"], "commit": ["tps", "latency_ms"]}.get(wl, ["jobs_per_sec"])
    for key in keys:
        vals = [float(r[key]) for r in rs]
        print(f"| {wl} | {variant} | {peer} | {key} | {len(vals)} | {fmt(statistics.median(vals))} | "
              f"{fmt(min(vals))} | {fmt(max(vals))} | {', '.join(fmt(v) for v in vals)} |")

print()
for (wl, variant, peer), rs in sorted(groups.items()):
    if peer == "jobkit" or wl == "commit" or (wl, variant, "jobkit") not in groups:
        continue
    jk = groups[(wl, variant, "jobkit")]
    if wl == "C":
        parts = [f"{k[:-3]} {median(rs, k) / median(jk, k):.2f}x" for k in ("p50_ms", "p95_ms", "p99_ms")]
        print(f"- {wl} ({variant}): {peer} latency / jobkit latency: " + ", ".join(parts))
    else:
        print(f"- {wl} ({variant}): jobkit / {peer} = {median(jk, 'jobs_per_sec') / median(rs, 'jobs_per_sec'):.2f}x "
              f"({fmt(median(jk, 'jobs_per_sec'))} vs {fmt(median(rs, 'jobs_per_sec'))} jobs/s, medians of {len(jk)} and {len(rs)})")

# Paired ratios: the same round of the same session, so slow spells of a shared machine cancel out.
for (wl, variant, peer), rs in sorted(groups.items()):
    if peer == "jobkit" or wl in ("commit", "C") or (wl, variant, "jobkit") not in groups:
        continue
    jk = {r["run"]: float(r["jobs_per_sec"]) for r in groups[(wl, variant, "jobkit")]}
    pairs = [(r["run"], jk[r["run"]] / float(r["jobs_per_sec"])) for r in rs if r["run"] in jk]
    if len(pairs) > 1:
        print(f"- {wl} ({variant}): per-round jobkit / {peer}: " + ", ".join(f"r{run} {q:.2f}x" for run, q in pairs)
              + f"; median {statistics.median(q for _, q in pairs):.2f}x")
