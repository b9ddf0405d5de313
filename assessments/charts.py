"""Server-rendered SVG charts: the same markup goes into pages and into the PDF report.

Presentation attributes only (no style attributes), so the strict CSP is kept."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def _colour(score: float | None) -> str:
    if score is None:
        return "#9aa3ad"
    if score >= 75:
        return "#1e7b34"
    if score >= 40:
        return "#b26a00"
    return "#b3261e"


def pillar_chart(pillars: Sequence[dict[str, Any]], *, width: int = 560) -> SafeString:
    """Horizontal bars, one per pillar, 0-100. Each item needs ref, title and score."""
    bar_h, gap, top = 22, 12, 8
    # Room for the longest label (about 6.7 px per character at 12 px), at most 55% of the width.
    longest = max((len(f"{p['ref']} {p['title']}") for p in pillars), default=10)
    label_w = min(int(longest * 6.7) + 14, int(width * 0.55))
    height = top + len(pillars) * (bar_h + gap) + 18
    plot_w = width - label_w - 50
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" class="chart" aria-labelledby="chart-title">',
        '<title id="chart-title">Score per pillar, 0 to 100</title>',
    ]
    for tick in (0, 25, 50, 75, 100):
        x = label_w + plot_w * tick / 100
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - 16}" '
            'stroke="#d5d9de" stroke-width="1"/>'
            f'<text x="{x:.1f}" y="{height - 4}" font-size="10" text-anchor="middle" '
            f'fill="#555">{tick}</text>'
        )
    for i, p in enumerate(pillars):
        y = top + i * (bar_h + gap)
        score = p.get("score")
        w = plot_w * (score or 0) / 100
        label = escape(f"{p['ref']} {p['title']}")
        value = "n/a" if score is None else f"{score:.0f}"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + bar_h * 0.7:.1f}" font-size="12" '
            f'text-anchor="end" fill="#222">{label}</text>'
            f'<rect x="{label_w}" y="{y}" width="{plot_w}" height="{bar_h}" fill="#eef1f4"/>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" '
            f'fill="{_colour(score)}"><title>{label}: {value}</title></rect>'
            f'<text x="{label_w + plot_w + 6}" y="{y + bar_h * 0.7:.1f}" font-size="12" '
            f'fill="#222">{value}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  every interpolated text is escaped above
