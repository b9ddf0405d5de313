"""The evidence form's way back: after adding evidence from a control ("Upload or record new
evidence" on its card), the person returns to that control, opened on its pillar page."""

from __future__ import annotations

from django.db.models import QuerySet

from assessments.models import Response


def return_to_control(responses: QuerySet[Response], from_response: str | None) -> str | None:
    """The URL of the control named by `from_response`, if it is one of `responses` (the
    team's linkable responses, scoped by the caller); None for anything else, which sends the
    person to the new item instead. One query, none for a value that is not an id."""
    value = (from_response or "").strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 18 or int(value) < 1:
        return None
    r = responses.select_related("control__guideline__pillar").filter(pk=int(value)).first()
    return r.get_absolute_url() if r else None
