#!/usr/bin/env python3
"""report.py RECORDS OUTBASE BENCHMARKS... - the benchmark report.

RECORDS holds the figures the benchmarks recorded (tests/bench/record.sh,
record.c: one JSON object a line). Writes OUTBASE.json (the machine, the
run, every figure with its ratio to the peer and whether its target was
met), OUTBASE.md (the same as tables) and, with gnuplot,
OUTBASE-cpu-vs-rate.png (capture CPU per packet against the rate sent) and
OUTBASE-merge-vs-streams.png (merge throughput against the stream count)
when those benchmarks ran.
"""
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile


def number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def judge(rec):
    """Adds ratio (ours / peer) and met (True, False or None: no target)."""
    ours, peer = rec.get("ours_value"), rec.get("peer_value")
    rec["ratio"] = round(ours / peer, 3) if number(ours) and number(peer) and peer else None
    rec["met"] = None
    m = re.fullmatch(r"(ratio)?(<=|>=)(-?[0-9.]+)", rec.get("target") or "")
    if not m:
        rec.pop("target", None)
        return rec
    v = rec["ratio"] if m.group(1) else ours
    if number(v):
        bound = float(m.group(3))
        rec["met"] = v <= bound if m.group(2) == "<=" else v >= bound
    return rec


def machine():
    cmdline = open("/proc/cmdline").read()
    accel = re.search(r"vmtest\.accel=(\w+)", cmdline)
    model = ""
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        # inside vmtest/run: the guest's CPU is QEMU's, emulated under TCG
        "vm": ("QEMU " + accel.group(1).upper() + (" (emulated)" if accel.group(1) == "tcg" else ""))
        if accel else None,
        "commit": commit,
    }


def fmt(v):
    if v is None or v == "":
        return "-"
    if number(v):
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.3g}" if isinstance(v, float) else str(v)
    return str(v)


def markdown(run, recs):
    m = run["machine"]
    out = [f"# Benchmarks, {run['date']}", ""]
    where = f"Linux {m['kernel']}, {m['cpus']} CPUs ({m['cpu_model']})"
    if m["vm"]:
        where += f", in a VM: {m['vm']}; figures are not comparable with a host's"
    out += [where + (f"; commit {m['commit']}" if m["commit"] else "") + ".", ""]
    out += ["Each row: our figure, the peer measured in the same run, ours / peer, and "
            "the target where the issue sets one.", ""]
    targets = [r for r in recs if r["met"] is not None]
    out += [f"Targets met: {sum(r['met'] for r in targets)} of {len(targets)}.", ""]
    for bench in run["benchmarks"]:
        rows = [r for r in recs if r["bench"] == bench]
        if not rows:
            out += [f"## {bench}", "", "(no figures recorded)", ""]
            continue
        out += [f"## {bench}", "",
                "| case | metric | ours | value | peer | peer value | ratio | target | met |",
                "|---|---|---|---:|---|---:|---:|---|---|"]
        for r in rows:
            met = {True: "met", False: "**not met**", None: "-"}[r["met"]]
            out.append("| " + " | ".join([
                str(r.get("case", "")).replace("|", "\\|"), r.get("metric", ""), r.get("ours", ""),
                fmt(r.get("ours_value")), r.get("peer", "-"), fmt(r.get("peer_value")),
                fmt(r["ratio"]), r.get("target", "-"), met]) + " |")
        out.append("")
    return "\n".join(out)


def plot(base, recs, title):
    """The two plots, where their figures exist. Returns the files written."""
    made = []
    with tempfile.TemporaryDirectory() as tmp:
        cap = [r for r in recs if r["bench"] == "capture" and "x" in r and number(r.get("ours_value"))]
        if cap:
            # one line per tool and snaplen, the peer's from the edgecap rows
            lines = {}
            for r in cap:
                lines.setdefault((r["ours"], r["series"]), {})[r["x"]] = r["ours_value"]
                if r["ours"] == "edgecap" and number(r.get("peer_value")):
                    lines.setdefault((r["peer"], r["series"]), {})[r["x"]] = r["peer_value"]
            plots = curves(tmp, "cap", {f"{t}, {s}": p for (t, s), p in lines.items()}, "($1/1000):2")
            png = base + "-cpu-vs-rate.png"
            gnuplot(f"""set output '{png}'
set title "Capture: CPU per captured packet against the offered rate\\n{title}"
set xlabel 'packets per second sent (thousands)'
set ylabel 'ns of CPU per captured packet (above the baseline)'
set yrange [0:*]
plot {", ".join(plots)}""")
            made.append(png)
        mer = [r for r in recs if r["bench"] == "merge" and "x" in r and number(r.get("ours_value"))]
        if mer:
            lines = {}
            for r in mer:
                lines.setdefault(r["ours"], {})[r["x"]] = r["ours_value"] / 1e6
                lines.setdefault(r["peer"], {})[r["x"]] = r["peer_value"] / 1e6
            plots = curves(tmp, "merge", lines, "1:2")
            png = base + "-merge-vs-streams.png"
            gnuplot(f"""set output '{png}'
set title "Merge: throughput against the number of streams, one core\\n{title}"
set xlabel 'streams'
set ylabel 'million packets per second'
set logscale x 2
set yrange [0:*]
plot {", ".join(plots)}""")
            made.append(png)
    return made


def curves(tmp, prefix, lines, using):
    """A data file per curve ({title: {x: y}}); the gnuplot plot clauses."""
    plots = []
    for i, (title, pts) in enumerate(sorted(lines.items())):
        dat = os.path.join(tmp, f"{prefix}{i}.dat")
        with open(dat, "w") as f:
            for x in sorted(pts):
                f.write(f"{x} {pts[x]}\n")
        plots.append(f"'{dat}' using {using} with linespoints title '{title}'")
    return plots


def gnuplot(script):
    subprocess.run(["gnuplot"], input="set terminal pngcairo size 960,600\nset key outside below\n"
                   "set grid\n" + script + "\n", text=True, check=True)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__.split("\n")[0])
    records, base, benchmarks = sys.argv[1], sys.argv[2], sys.argv[3:]
    recs = []
    with open(records) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    recs.append(judge(json.loads(line)))
                except json.JSONDecodeError as e:
                    sys.exit(f"{records}:{n}: {e}")
    run = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "benchmarks": benchmarks,
        "figures": recs,
    }
    with open(base + ".json", "w") as f:
        json.dump(run, f, indent=1)
        f.write("\n")
    m = run["machine"]
    title = f"Linux {m['kernel']}, {m['cpus']} CPUs" + (f", {m['vm']}" if m["vm"] else "")
    made = plot(base, recs, title)
    text = markdown(run, recs)
    if made:
        text += "\nPlots: " + ", ".join(os.path.basename(p) for p in made) + "\n"
    with open(base + ".md", "w") as f:
        f.write(text)
    print(text)
    print(f"report: {base}.json, {base}.md" + "".join(", " + p for p in made))


if __name__ == "__main__":
    main()
