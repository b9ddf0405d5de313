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
