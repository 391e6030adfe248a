"""The activity charts: one bar per minute, scaled to the busiest, drawn without script or inline style."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from service.web.console.charts import HEIGHT, WIDTH, bar_chart

SVG = "{http://www.w3.org/2000/svg}"


def bars(svg: str) -> list[ET.Element]:
    return ET.fromstring(svg).findall(f"{SVG}rect")


def test_one_bar_per_nonzero_minute_scaled_to_the_busiest() -> None:
    svg = bar_chart([0, 5, 10, 0], "Events")
    drawn = bars(svg)
    assert len(drawn) == 2
    heights = [float(bar.attrib["height"]) for bar in drawn]
    assert heights[1] == HEIGHT - 2
    assert heights[0] == (HEIGHT - 2) / 2
    xs = [float(bar.attrib["x"]) for bar in drawn]
    assert xs == [WIDTH / 4, WIDTH / 2]
    assert [bar.find(f"{SVG}title").text for bar in drawn] == ["5", "10"]  # type: ignore[union-attr]


def test_a_quiet_hour_is_a_baseline_only() -> None:
    svg = bar_chart([0] * 60, "Syncs")
    assert bars(svg) == []
    assert ET.fromstring(svg).find(f"{SVG}line") is not None
    assert bars(bar_chart([], "Nothing")) == []


def test_a_single_event_still_shows() -> None:
    (bar,) = bars(bar_chart([1] + [0] * 59, "Callbacks"))
    assert float(bar.attrib["height"]) >= 1


def test_the_label_is_text_and_nothing_is_inline() -> None:
    svg = bar_chart([1, 2], '<b>"quoted"</b>')
    root = ET.fromstring(svg)
    assert root.attrib["aria-label"] == '<b>"quoted"</b>'
    assert "<b>" not in svg
    assert re.search(r"\sstyle=|<script|\son[a-z]+=", svg) is None
