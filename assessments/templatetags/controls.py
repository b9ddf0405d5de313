"""A control's state line and its summary on the questionnaire, built in Python.

A pillar page shows up to ~30 controls as summaries; through the template engine each cost
about 1,300 Python calls (variable lookups, localisation, two includes), a third of the page
(docs/benchmarks.md). format_html escapes every value as the template did.
"""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

register = template.Library()

REVIEW_LABELS = {
    "pending": "Review pending",
    "accepted": "Review: accepted",
    "rejected": "Review: rejected",
    "changes_requested": "Review: changes requested",
}
BAD_BADGE = ' <span class="badge badge-bad">{}</span>'
OVERDUE, ALL_EXPIRED = format_html(BAD_BADGE, "overdue"), format_html(BAD_BADGE, "all expired")


@register.simple_tag
def control_meta(r, overdue: bool = False, evidence_expired: bool = False, summary: bool = False):
    """Responsibility, weight, status, owner, due date, overdue, review decision; on a summary
    also the evidence and comment counts (annotated by the questionnaire view)."""
    c = r.control
    parts: list[SafeString] = [
        format_html(
            'Responsibility: {} · weight {} · <span class="badge status-{}">{}</span>',
            c.get_responsibility_display(),
            c.weight,
            r.status,
            r.get_status_display(),
        )
    ]
    if r.owner:
        parts.append(format_html(" · owner {}", r.owner.display_name))
    if r.due_date:
        parts.append(format_html(" · due {}", r.due_date.isoformat()))
    if overdue:
        parts.append(OVERDUE)
    review = getattr(r, "review", None)
    if review and r.status != "not_started":
        label = REVIEW_LABELS.get(review.decision, REVIEW_LABELS["changes_requested"])
        parts.append(
            format_html(' · <span class="badge review-{}">{}</span>', review.decision, label)
        )
    if summary:
        parts.append(format_html(" · {} evidence", r.n_evidence))
        if evidence_expired:
            parts.append(ALL_EXPIRED)
        s = "" if r.n_comments == 1 else "s"
        parts.append(format_html(" · {} comment{}", r.n_comments, s))
    return format_html("<small>{}</small>", format_html_join("", "{}", ((p,) for p in parts)))


@register.simple_tag
def control_summary(card, page_url: str = ""):
    """A control card not opened yet (assessments/cards.py): its state in one line. Opening it
    fetches the whole control (form, evidence, comments) with htmx; without JavaScript the
    link opens it on this page, or on `page_url` (its pillar page) where given."""
    r = card.r
    label = "Open {ref} on its pillar page" if page_url else "Open {ref}"
    return format_html(
        '<article class="control control-summary" id="r{pk}">\n'
        '  <details hx-get="{url}" hx-trigger="toggle once" hx-target="#r{pk}"'
        ' hx-swap="outerHTML">\n'
        '    <summary><h3 class="control-title"><span class="ref">{ref}</span> {title}</h3>\n'
        "      {meta}</summary>\n"
        '    <p><a href="{page}">{label}</a></p>\n'
        "  </details>\n"
        "</article>",
        pk=r.pk,
        url=reverse("response_edit", args=[r.pk]),
        page=page_url or f"?open={r.pk}#r{r.pk}",
        label=format_html(label, ref=r.control.ref),
        ref=r.control.ref,
        title=r.control.title,
        meta=control_meta(r, card.overdue, card.evidence_expired, summary=True),
    )
