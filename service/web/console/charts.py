"""Small bar charts of per-minute counts, drawn on the server as SVG: no script, no inline style (the CSP
forbids both); the colours come from console.css through the class names."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

WIDTH = 240
HEIGHT = 48


def bar_chart(counts: Sequence[int], label: str) -> str:
    """An SVG of one bar per count, left to right, scaled to the largest (an all-zero series draws a baseline
    only). `label` names the chart for screen readers and as its tooltip."""
    text = escape(label, {'"': "&quot;"})
    peak = max(counts, default=0)
    slot = WIDTH / max(len(counts), 1)
    bars = []
    for index, count in enumerate(counts):
        if count <= 0:
            continue
        height = max(1.0, (HEIGHT - 2) * count / peak)
        bars.append(
            f'<rect class="bar" x="{index * slot:.1f}" y="{HEIGHT - height:.1f}" '
            f'width="{max(slot - 1, 1):.1f}" height="{height:.1f}"><title>{count}</title></rect>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{text}"><title>{text}</title>'
        f'<line class="baseline" x1="0" y1="{HEIGHT - 0.5}" x2="{WIDTH}" y2="{HEIGHT - 0.5}"/>'
        + "".join(bars)
        + "</svg>"
    )
