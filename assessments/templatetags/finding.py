"""`{% control_filter a owners %}`: the empty filter form of an assessment's controls, on the
questionnaire's pillar pages (it leads to the results page, assessments/views_find.py)."""

from __future__ import annotations

from typing import Any

from django import template

from assessments.filters import ControlFilterForm

register = template.Library()


@register.inclusion_tag("assessments/_control_filter.html")
def control_filter(a: Any, owners: list[Any]) -> dict[str, Any]:
    # Not live (no htmx): the pillar page has no results to swap; submitting opens them.
    return {"a": a, "form": ControlFilterForm(owners=owners), "live": False}


@register.filter
def with_system(a: Any) -> str:
    """An assessment named with its AI system once: "Support chatbot — 2026 baseline", not
    "Support chatbot — Support chatbot — 2026 baseline" (default titles start with the
    system's name)."""
    system, title = a.ai_system.name, a.title
    if not title:
        return system
    if title.casefold().startswith(system.casefold()):
        return title
    return f"{system} — {title}"
