"""Server-rendered SVG charts: the same markup goes into pages and into the PDF report.

Presentation attributes only (no style attributes), so the strict CSP is kept."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString


def _colour(score: float | None) -> str:
    if score is None:
        return "#9aa3ad"
    if score >= 75:
        return "#1e7b34"
    if score >= 40:
        return "#b26a00"
    return "#b3261e"


def pillar_chart(pillars: Sequence[dict[str, Any]], *, width: int = 560) -> SafeString:
    """Horizontal bars, one per pillar, 0-100. Each item needs ref, title and score.

    Built with format_html only, so every interpolated value is escaped and nothing is marked
    safe by hand (team-defined pillar titles end up in pages and in signed reports)."""
    bar_h, gap, top = 22, 12, 8
    # Room for the longest label (about 6.7 px per character at 12 px), at most 55% of the width.
    longest = max((len(f"{p['ref']} {p['title']}") for p in pillars), default=10)
    label_w = min(int(longest * 6.7) + 14, int(width * 0.55))
    height = top + len(pillars) * (bar_h + gap) + 18
    plot_w = width - label_w - 50
    parts = [
        format_html(
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" '
            'width="100%" role="img" class="chart" aria-labelledby="chart-title">'
            '<title id="chart-title">Score per pillar, 0 to 100</title>',
            width,
            height,
        )
    ]
    for tick in (0, 25, 50, 75, 100):
        x = f"{label_w + plot_w * tick / 100:.1f}"
        parts.append(
            format_html(
                '<line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}" '
                'stroke="#d5d9de" stroke-width="1"/>'
                '<text x="{x}" y="{text_y}" font-size="10" text-anchor="middle" '
                'fill="#555">{tick}</text>',
                x=x,
                top=top,
                bottom=height - 16,
                text_y=height - 4,
                tick=tick,
            )
        )
    for i, p in enumerate(pillars):
        y = top + i * (bar_h + gap)
        score = p.get("score")
        parts.append(
            format_html(
                '<text x="{label_x}" y="{text_y}" font-size="12" '
                'text-anchor="end" fill="#222">{label}</text>'
                '<rect x="{label_w}" y="{y}" width="{plot_w}" height="{bar_h}" fill="#eef1f4"/>'
                '<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" '
                'fill="{colour}"><title>{label}: {value}</title></rect>'
                '<text x="{value_x}" y="{text_y}" font-size="12" '
                'fill="#222">{value}</text>',
                label_x=label_w - 8,
                text_y=f"{y + bar_h * 0.7:.1f}",
                label=f"{p['ref']} {p['title']}",
                label_w=label_w,
                y=y,
                plot_w=plot_w,
                bar_h=bar_h,
                w=f"{plot_w * (score or 0) / 100:.1f}",
                colour=_colour(score),
                value="n/a" if score is None else f"{score:.0f}",
                value_x=label_w + plot_w + 6,
            )
        )
    return format_html("{}</svg>", format_html_join("", "{}", ((part,) for part in parts)))
