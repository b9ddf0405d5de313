"""The review form (accept, reject, request changes), built in Python.

The review queue shows one per row, 50 a page: through the template engine (an include with
a URL reversal, the CSRF token and the current path each) they were a fifth of the page's
work (docs/benchmarks.md). The form carries the version of its target and the latest review
the page showed, so a decision from a stale page is refused (reviews/services.py). Reject is
styled as the dangerous action.
"""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.html import format_html

register = template.Library()

FORM = (
    '<form method="post" action="{action}" class="inline-form review-form">\n'
    '  <input type="hidden" name="csrfmiddlewaretoken" value="{csrf}">\n'
    '  <input type="hidden" name="target_type" value="{target_type}">\n'
    '  <input type="hidden" name="target_id" value="{target_id}">\n'
    '  <input type="hidden" name="version" value="{version}">\n'
    '  <input type="hidden" name="seen_review" value="{seen_review}">\n'
    '  <input type="hidden" name="next" value="{next}">\n'
    '  <label>Comment <textarea name="comment" rows="1" cols="24" maxlength="5000"{described}>'
    "{comment}</textarea></label>\n"
    '  <button type="submit" name="decision" value="accepted">Accept</button>\n'
    '  <button type="submit" name="decision" value="rejected" class="danger">Reject</button>\n'
    '  <button type="submit" name="decision" value="changes_requested" class="secondary">'
    "Request changes</button>\n"
    "</form>"
)


@register.simple_tag(takes_context=True)
def review_form(
    context,
    target_type: str,
    target_id: int,
    next_url: str = "",
    *,
    version: int | None = None,
    seen_review: int | None = None,
    comment: str = "",
    error_id: str = "",
):
    """Record a review of one target ("evidence" or "response"); after it, back to `next_url`
    (default: this page). `version` and `seen_review` (0: none) are what the page shows of the
    target; `comment` refills the form after an error whose element `error_id` names."""
    request = context["request"]
    cache = context.render_context  # reversed and read once per page, not once per form
    if "review_form" not in cache:
        cache["review_form"] = (reverse("review_create"), str(context.get("csrf_token", "")))
    action, csrf = cache["review_form"]
    described = ""
    if error_id:
        described = format_html(
            ' aria-describedby="error-{}" aria-invalid="true"', error_id.replace(":", "-")
        )
    return format_html(
        FORM,
        action=action,
        csrf=csrf,
        target_type=target_type,
        target_id=target_id,
        version="" if version is None else version,
        seen_review="" if seen_review is None else seen_review,
        next=next_url or request.get_full_path(),
        comment=comment,
        described=described,
    )
