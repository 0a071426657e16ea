#!/usr/bin/env python3
"""Render a picture of deploy/grafana/novaflow.json without Grafana.

Grafana itself is not used (it cannot be installed here). This script reads
the dashboard's panels, runs each panel's own PromQL on a Prometheus server
(query_range, with Grafana's $__rate_interval replaced by --rate-interval),
and draws the results with matplotlib at the panels' grid positions. The
picture says what it is in its footer.

  python3 render.py --prometheus http://127.0.0.1:9090 --start <unix> --end <unix> \
      --dashboard ../novaflow.json --out ../../../docs/grafana-dashboard.png \
      --note "novaflow dev, 5 fake compute hosts, a load of builds and calls"

The docs' picture came from a Prometheus 2.42 (Debian's) scraping a
`novaflow dev` every 5 s while a script built, rebooted and terminated
instances, made calls that fail, ran the periodic tasks and forced a host
down.
"""
import argparse
import datetime
import json
import re
import urllib.parse
import urllib.request

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402


def query_range(prom, expr, start, end, step):
    q = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prom}/api/v1/query_range?{q}", timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    return body["data"]["result"]


def legend(fmt, metric):
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: metric.get(m.group(1), ""), fmt or str(metric))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prometheus", required=True)
    ap.add_argument("--start", type=float, required=True)
    ap.add_argument("--end", type=float, required=True)
    ap.add_argument("--step", default="10s")
    ap.add_argument("--rate-interval", default="1m")
    ap.add_argument("--dashboard", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--note", default="")
    a = ap.parse_args()

    dash = json.load(open(a.dashboard))
    panels = dash["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    unit_h = 0.42  # inches per grid row
    fig = plt.figure(figsize=(20, rows * unit_h + 1.6), dpi=80, facecolor="#111217")
    total_h = rows * unit_h + 1.6

    def axes_for(gp):
        left = 0.01 + 0.98 * gp["x"] / 24
        width = 0.98 * gp["w"] / 24
        top = 1 - (0.9 + gp["y"] * unit_h) / total_h
        height = gp["h"] * unit_h / total_h
        return [left + 0.025, top - height + 0.03, width - 0.035, height - 0.055]

    fig.text(0.01, 1 - 0.45 / total_h, dash["title"] + " — " + dash.get("uid", ""), color="white", fontsize=18, weight="bold")
    for p in panels:
        gp = p["gridPos"]
        if p["type"] == "row":
            y = 1 - (0.9 + gp["y"] * unit_h) / total_h
            fig.text(0.01, y - 0.3 / total_h, p["title"], color="#ccccdc", fontsize=14, weight="bold")
            continue
        ax = fig.add_axes(axes_for(gp), facecolor="#181b1f")
        ax.set_title(p["title"], color="#ccccdc", fontsize=11, loc="left")
        for s in ax.spines.values():
            s.set_color("#2c3235")
        ax.tick_params(colors="#8e8e8e", labelsize=8)
        series = []
        for t in p.get("targets", []):
            expr = t["expr"].replace("$__rate_interval", a.rate_interval)
            for r in query_range(a.prometheus, expr, a.start, a.end, a.step):
                xs = [datetime.datetime.fromtimestamp(float(v[0])) for v in r["values"]]
                ys = [float(v[1]) for v in r["values"]]
                series.append((legend(t.get("legendFormat"), r["metric"]), xs, ys))
        if p["type"] == "stat":
            ax.set_xticks([])
            ax.set_yticks([])
            text = "\n".join(f"{name}: {ys[-1]:g}" for name, xs, ys in series) or "No data"
            bad = any(ys[-1] >= 1 for _, _, ys in series)
            ax.set_facecolor("#c4162a" if bad else "#1a7311")
            ax.text(0.5, 0.5, text, color="white", fontsize=16, ha="center", va="center", transform=ax.transAxes, weight="bold")
            continue
        if not series:
            ax.text(0.5, 0.5, "No data", color="#8e8e8e", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlim(datetime.datetime.fromtimestamp(a.start), datetime.datetime.fromtimestamp(a.end))
        for name, xs, ys in series:
            ax.plot(xs, ys, linewidth=1.2, label=name)
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
        ax.grid(color="#2c3235", linewidth=0.5)
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        if unit:
            ax.set_ylabel(unit, color="#8e8e8e", fontsize=8)
        if series:
            ax.legend(fontsize=7, loc="upper left", ncol=2, framealpha=0.3, labelcolor="#ccccdc", facecolor="#181b1f", edgecolor="#2c3235")

    when = datetime.datetime.utcfromtimestamp(a.end).strftime("%Y-%m-%d %H:%M UTC")
    minutes = round((a.end - a.start) / 60)
    fig.text(0.01, 0.25 / total_h,
             f"NOT a Grafana screenshot: each panel's own PromQL from deploy/grafana/novaflow.json, run by Prometheus "
             f"(query_range, $__rate_interval = {a.rate_interval}) on {minutes} minutes of real /metrics scrapes, drawn by "
             f"deploy/grafana/render/render.py with matplotlib, {when}. {a.note}",
             color="#ff9830", fontsize=10, wrap=True)
    fig.savefig(a.out, facecolor=fig.get_facecolor())


if __name__ == "__main__":
    main()
