#!/usr/bin/env python3
"""Draws the benchmark's growth figures (its scaling mode) as an SVG, with no dependencies.

Reads the CSV the scaling mode writes (MONGOTIC_BENCH_SCALING=1 MONGOTIC_BENCH_CSV=path) and
draws, for each workload, the time, the client CPU and the peak memory per document of
mongotic and of the driver against the number of documents (a logarithmic axis). Flat lines
mean costs that grow linearly with the documents.

    python3 scripts/plot-scaling.py                      # the checked-in figures
    python3 scripts/plot-scaling.py scaling.csv -o out.svg

Defaults: mongotic/benches/results/scaling.csv in, mongotic/src/guide/scaling.svg out. The
SVG has no blank lines, so Markdown (and rustdoc) can embed it as one HTML block.
"""

import argparse
import csv
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CSV = ROOT / "mongotic" / "benches" / "results" / "scaling.csv"
DEFAULT_SVG = ROOT / "mongotic" / "src" / "guide" / "scaling.svg"

# (title of the row, CSV column of mongotic, CSV column of the driver, unit)
METRICS = [
    ("time", "mongotic_us_per_doc", "driver_us_per_doc", "µs per document"),
    ("client CPU", "mongotic_cpu_us_per_doc", "driver_cpu_us_per_doc", "µs per document"),
    ("peak memory", "mongotic_peak_bytes_per_doc", "driver_peak_bytes_per_doc", "bytes per document"),
]
SIDES = [
    # (label, colour, dash pattern, marker)
    ("mongotic", "#1f6fb4", None, "circle"),
    ("driver", "#d9711c", "6 4", "square"),
]
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"

PANEL_W, PANEL_H = 210, 150
MARGIN_LEFT, MARGIN_TOP = 100, 92
GAP_X, GAP_Y = 38, 62
PLOT_LEFT, PLOT_BOTTOM = 44, 24  # space inside a panel for the axes' labels


def short_name(workload):
    """The workload's name without the parenthesis that says what each side runs."""
    return workload.split(" (")[0]


def nice_ceiling(value):
    """A round number at or above `value`, and a tick step that divides it in 3 to 5."""
    if value <= 0:
        return 1.0, 0.25
    exponent = math.floor(math.log10(value))
    for mantissa in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        top = mantissa * 10**exponent
        if top >= value:
            break
    for ticks in (4, 5, 3, 6):
        step = top / ticks
        digits = step / 10 ** math.floor(math.log10(step))
        if any(abs(digits - d) < 1e-9 for d in (1, 2, 2.5, 5)):
            return top, step
    return top, top / 4


def label(value):
    if value >= 1000:
        return f"{value:,.0f}"
    if value == int(value):
        return f"{value:.0f}"
    return f"{value:g}"


def size_label(n):
    for unit, scale in (("M", 1_000_000), ("k", 1_000)):
        if n >= scale:
            return f"{n / scale:g}{unit}"
    return str(n)


def escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def read_rows(source):
    rows = list(csv.DictReader(source))
    if not rows:
        sys.exit("plot-scaling: the CSV has no rows")
    return rows


def marker(kind, x, y, colour):
    if kind == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.2" fill="{colour}"/>'
    return f'<rect x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6" fill="white" stroke="{colour}" stroke-width="1.6"/>'


def draw(rows):
    workloads = list(dict.fromkeys(row["workload"] for row in rows))
    sizes = sorted({int(row["documents"]) for row in rows})
    by_key = {(row["workload"], int(row["documents"])): row for row in rows}
    low, high = math.log10(sizes[0]), math.log10(sizes[-1])
    span = (high - low) or 1.0

    width = MARGIN_LEFT + len(workloads) * PANEL_W + (len(workloads) - 1) * GAP_X + 24
    height = MARGIN_TOP + len(METRICS) * PANEL_H + (len(METRICS) - 1) * GAP_Y + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" style="max-width: 100%; height: auto" font-family="{FONT}" '
        f'font-size="11" role="img" '
        f'aria-label="mongotic and the driver, cost per document from {size_label(sizes[0])} '
        f'to {size_label(sizes[-1])} documents">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2:.0f}" y="26" text-anchor="middle" font-size="16" font-weight="bold" '
        f'fill="#222">Cost per document, {size_label(sizes[0])} to {size_label(sizes[-1])} documents</text>',
    ]
    # Legend.
    legend_x = width / 2 - 110
    for i, (name, colour, dash, kind) in enumerate(SIDES):
        x = legend_x + i * 130
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<line x1="{x:.0f}" y1="48" x2="{x + 34:.0f}" y2="48" stroke="{colour}" stroke-width="2"{dash_attr}/>'
        )
        out.append(marker(kind, x + 17, 48, colour))
        out.append(f'<text x="{x + 42:.0f}" y="52" fill="#222" font-size="12">{escape(name)}</text>')

    for column, workload in enumerate(workloads):
        left = MARGIN_LEFT + column * (PANEL_W + GAP_X)
        out.append(
            f'<text x="{left + (PANEL_W + PLOT_LEFT) / 2:.0f}" y="{MARGIN_TOP - 14}" text-anchor="middle" '
            f'font-size="12" font-weight="bold" fill="#222">{escape(short_name(workload))}</text>'
        )
        for line, (title, orm_column, raw_column, unit) in enumerate(METRICS):
            top = MARGIN_TOP + line * (PANEL_H + GAP_Y)
            x0, x1 = left + PLOT_LEFT, left + PANEL_W
            y0, y1 = top + PANEL_H - PLOT_BOTTOM, top
            values = [
                float(by_key[(workload, n)][c])
                for n in sizes
                for c in (orm_column, raw_column)
                if (workload, n) in by_key
            ]
            ceiling, step = nice_ceiling(max(values) * 1.05)

            def px(n):
                return x0 + (math.log10(n) - low) / span * (x1 - x0)

            def py(v):
                return y0 - v / ceiling * (y0 - y1)

            if column == 0:
                out.append(
                    f'<text x="{MARGIN_LEFT - 62}" y="{(y0 + y1) / 2:.0f}" text-anchor="middle" fill="#222" '
                    f'font-size="12" transform="rotate(-90 {MARGIN_LEFT - 62} {(y0 + y1) / 2:.0f})">'
                    f"{escape(title)}, {escape(unit)}</text>"
                )
            # Grid and y ticks.
            ticks = round(ceiling / step)
            for t in range(ticks + 1):
                value = t * step
                y = py(value)
                out.append(
                    f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="#e3e3e3" stroke-width="1"/>'
                )
                out.append(
                    f'<text x="{x0 - 5}" y="{y + 3.5:.1f}" text-anchor="end" fill="#555">{label(value)}</text>'
                )
            # x ticks.
            for n in sizes:
                x = px(n)
                out.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y0 + 4}" stroke="#888"/>')
                out.append(
                    f'<text x="{x:.1f}" y="{y0 + 16}" text-anchor="middle" fill="#555">{size_label(n)}</text>'
                )
            out.append(f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#888"/>')
            out.append(f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#888"/>')
            # The two sides.
            for (name, colour, dash, kind), data_column in zip(SIDES, (orm_column, raw_column)):
                points = [
                    (px(n), py(float(by_key[(workload, n)][data_column]))) for n in sizes if (workload, n) in by_key
                ]
                dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
                out.append(
                    f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash_attr}>'
                    f"<title>{escape(name)}: {escape(title)}</title></polyline>"
                )
                out.extend(marker(kind, x, y, colour) for x, y in points)
    out.append(
        f'<text x="{width - 24}" y="{height - 12}" text-anchor="end" fill="#777" font-size="10">'
        "documents (logarithmic); time and CPU: median run; memory: largest peak</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", default=str(DEFAULT_CSV), help="the scaling CSV, or - for stdin")
    parser.add_argument("-o", "--output", default=str(DEFAULT_SVG), help="the SVG to write, or - for stdout")
    args = parser.parse_args()
    if args.csv == "-":
        rows = read_rows(sys.stdin)
    else:
        with open(args.csv, newline="", encoding="utf-8") as source:
            rows = read_rows(source)
    svg = draw(rows)
    if args.output == "-":
        sys.stdout.write(svg)
    else:
        Path(args.output).write_text(svg, encoding="utf-8")
        print(f"plot-scaling: wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
