"""The shared chart colours stay distinguishable: twelve lines on one chart are told apart."""

from __future__ import annotations

import itertools
import math

from flywheel.ui.charts import PALETTE, line_chart


def _lab(hex_colour: str) -> tuple[float, float, float]:
    """sRGB → CIELAB (D65)."""
    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    r, g, b = ((c / 12.92) if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b))
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883
    f = lambda v: v ** (1 / 3) if v > 0.008856 else 7.787 * v + 16 / 116  # noqa: E731
    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def test_the_palette_has_twelve_colours_each_at_least_delta_e_25_from_the_others():
    assert len(PALETTE) >= 12
    for a, b in itertools.combinations(PALETTE[:12], 2):
        assert math.dist(_lab(a), _lab(b)) >= 25, f"{a} and {b} are too alike"


def test_every_colour_stands_apart_from_the_black_headline_line_and_the_white_page():
    for colour in PALETTE[:12]:
        assert math.dist(_lab(colour), _lab("#212121")) >= 25
        assert math.dist(_lab(colour), _lab("#ffffff")) >= 30


def test_lines_are_drawn_straight_between_measured_points():
    chart = line_chart([1, 2], {"a": [1, 2], "b": [2, 1]})
    assert all(dataset["tension"] == 0 for dataset in chart["data"]["datasets"])
