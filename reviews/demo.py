"""Demo reviews for `seed_demo`: the auditor has accepted one evidence item, rejected another
(with a comment) and accepted one answer, so the review loop is visible from the first login."""

from __future__ import annotations

from aigsec.accounts.models import Team, User
from assessments.models import Response
from evidence.models import EvidenceItem

from .models import Review
from .services import review_create


def seed(stdout) -> None:
    team = Team.objects.filter(name="Demo AI Ltd").first()
    auditor = User.objects.filter(email="auditor@demo.test").first()
    if team is None or auditor is None or Review.objects.filter(team=team).exists():
        return
    items = list(
        EvidenceItem.objects.filter(team=team, withdrawn_at__isnull=True).order_by(
            "created_at", "id"
        )
    )
    response = (
        Response.objects.filter(assessment__team=team, evidence_links__isnull=False)
        .exclude(status__in=["not_started", "not_implemented"])
        .exclude(assessment__status="final")
        .order_by("assessment_id", "control__order")
        .first()
    )
    if len(items) < 2 or response is None:
        return
    review_create(reviewer=auditor, decision="accepted", comment="", evidence=items[0])
    review_create(
        reviewer=auditor,
        decision="rejected",
        comment="The screenshot is undated; upload one that shows the collection date.",
        evidence=items[1],
    )
    review_create(reviewer=auditor, decision="accepted", comment="", response=response)
    stdout.write("  3 demo reviews recorded by the auditor")
