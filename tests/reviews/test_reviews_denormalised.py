"""The current decision of a target is computed from its denormalised `latest_review` (and the
queue orders and pages on it in SQL): it must never drift from the rule computed the slow way
from the Review table. A long, repeatable random walk through the real services, views and API
(reviews, answers saved again, guidelines assigned, new revisions, new and withdrawn evidence,
an assessment started from another) is checked against a reference implementation after every
step: the stored column, the current decisions, the queue's decisions, filters and order."""

from __future__ import annotations

import random

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from assessments import services as assessment_services
from assessments.models import Assessment, Response, ResponseStatus
from assessments.scoring import verified_condition
from evidence.models import EvidenceItem, EvidenceLink, EvidenceRevision
from evidence.services import (
    evidence_add_revision,
    evidence_create,
    evidence_link,
    evidence_withdraw,
)
from reviews import decisions as review_decisions
from reviews import selectors as review_selectors
from reviews import services as review_services
from reviews.models import Review, ReviewDecision
from tests.factories import make_assessment

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
ANSWERS = [s for s in ResponseStatus.values if s != ResponseStatus.NOT_STARTED]


# --- The reference: the rule, the slow way, from the Review table ---------------------------


def _slow_latest(**target) -> Review | None:
    return Review.objects.filter(**target).order_by("-created_at", "-id").first()


def _slow_response(r: Response) -> tuple[str, str, int | None]:
    review = _slow_latest(response_id=r.pk)
    if review is None or review.created_at < r.updated_at:
        return ("pending", "", None)
    return (review.decision, review.comment, review.reviewer_id)


def _slow_item(item: EvidenceItem) -> tuple[str, str, int | None]:
    review = _slow_latest(evidence_id=item.pk)
    newest = EvidenceRevision.objects.filter(item_id=item.pk).order_by("-number").first()
    if review is None or (newest is not None and newest.pk != review.revision_id):
        return ("pending", "", None)
    return (review.decision, review.comment, review.reviewer_id)


def _as_tuple(d: review_decisions.CurrentDecision) -> tuple[str, str, int | None]:
    return (d.decision, d.comment, d.reviewer.pk if d.reviewer else None)


def _check(personas) -> int:
    """Everything computed from the columns equals the reference; returns how many answers
    are verified now."""
    responses = list(Response.objects.filter(assessment__team=personas.team))
    items = list(EvidenceItem.objects.filter(team=personas.team))
    # The stored column is the newest review, exactly.
    for r in responses:
        want = _slow_latest(response_id=r.pk)
        assert r.latest_review_id == (want.pk if want else None), f"response {r.pk}"
    for i in items:
        want = _slow_latest(evidence_id=i.pk)
        assert i.latest_review_id == (want.pk if want else None), f"item {i.pk}"
    # The current decisions (questionnaire, evidence pages, reports, exports).
    slow_r = {r.pk: _slow_response(r) for r in responses}
    slow_i = {i.pk: _slow_item(i) for i in items}
    fast_r = review_selectors.current_decisions_for_responses(slow_r)
    fast_i = review_selectors.current_decisions_for_evidence(slow_i)
    assert {pk: _as_tuple(d) for pk, d in fast_r.items()} == slow_r
    assert {pk: _as_tuple(d) for pk, d in fast_i.items()} == slow_i
    # The queue: what it holds, each row's decision, the documented order (pending first;
    # answers by assessment and control order before evidence, newest first), the filters.
    answered = [r for r in responses if r.status != ResponseStatus.NOT_STARTED]
    live = [i for i in items if i.withdrawn_at is None]
    order = {r.pk: (r.assessment_id, r.control.order) for r in answered}

    def group(decision: str, kind: int) -> int:
        return kind if decision == "pending" else kind + 2

    expected = sorted(
        [
            (group(slow_r[r.pk][0], 0), *order[r.pk], "response", r.pk, slow_r[r.pk])
            for r in answered
        ]
        + [(group(slow_i[i.pk][0], 1), 0, -i.pk, "evidence", i.pk, slow_i[i.pk]) for i in live]
    )
    want = [(kind, pk, decision) for *_, kind, pk, decision in expected]
    queue = review_selectors.review_queue_page(personas.auditor, size=10_000)
    assert [(row.kind, row.target_id, _as_tuple(row.current)) for row in queue.rows] == want
    assert queue.total == len(want)
    for decision in review_decisions.DECISION_FILTERS:
        only = review_selectors.review_queue_page(personas.auditor, decision=decision, size=10_000)
        assert [(row.kind, row.target_id) for row in only.rows] == [
            (kind, pk) for kind, pk, d in want if d[0] == decision
        ], decision
    # The verified score's condition (assessments/selectors.py), the same rule in SQL.
    today = timezone.localdate()
    slow_verified = {
        r.pk: slow_r[r.pk][0] == "accepted"
        and any(
            slow_i[link.item_id][0] == "accepted"
            and link.item.withdrawn_at is None
            and (link.item.valid_until is None or link.item.valid_until >= today)
            for link in EvidenceLink.objects.filter(response=r).select_related("item")
        )
        for r in responses
    }
    fast_verified = dict(
        Response.objects.filter(assessment__team=personas.team)
        .annotate(v=verified_condition())
        .values_list("pk", "v")
    )
    assert fast_verified == slow_verified
    # Paged in SQL: pages of 7 put together are the whole queue.
    pages = -(-len(want) // 7)
    paged = [
        (row.kind, row.target_id)
        for n in range(1, pages + 1)
        for row in review_selectors.review_queue_page(personas.auditor, page=n, size=7).rows
    ]
    assert paged == [(kind, pk) for kind, pk, _ in want]
    return sum(slow_verified.values())


# --- The walk -------------------------------------------------------------------------------


class Walk:
    def __init__(self, personas, seed: int):
        self.p = personas
        self.rng = random.Random(seed)
        self.a = make_assessment(team=personas.team, actor=personas.risk_owner)
        self.auditor = personas.client(personas.auditor)
        self.owner = personas.client(personas.risk_owner)
        self.files = 0

    def responses(self, answered: bool = True) -> list[Response]:
        qs = Response.objects.filter(
            assessment__team=self.p.team, assessment__status__in=["draft", "in_progress"]
        ).order_by("pk")
        if answered:
            qs = qs.exclude(status=ResponseStatus.NOT_STARTED)
        return list(qs)

    def items(self, kind: str | None = None) -> list[EvidenceItem]:
        qs = EvidenceItem.objects.filter(team=self.p.team, withdrawn_at__isnull=True)
        return list(qs.filter(kind=kind) if kind else qs.order_by("pk"))

    def decision(self) -> tuple[str, str]:
        d = self.rng.choice(ReviewDecision.values)
        return d, "" if d == ReviewDecision.ACCEPTED else f"Because {self.rng.randint(1, 99)}."

    def png(self) -> SimpleUploadedFile:
        self.files += 1
        return SimpleUploadedFile(f"f{self.files}.png", PNG + bytes([self.files % 256]))

    # Each step does one thing through a real entry point; it may find nothing to do.

    def answer(self) -> None:
        r = self.rng.choice(self.responses(answered=False))
        status = self.rng.choice(ANSWERS)
        if self.rng.random() < 0.3 and r.status != ResponseStatus.NOT_STARTED:
            status = r.status  # saved unchanged: no new version, the decision stands
        justification = r.justification or "Because."
        resp = self.owner.post(
            reverse("response_edit", args=[r.pk]),
            {
                "version": r.version,
                "status": status,
                "justification": justification,
                "owner": r.owner_id or "",
                "due_date": r.due_date.isoformat() if r.due_date else "",
            },
        )
        assert resp.status_code == 302, resp.content[:500]

    def review_response(self) -> None:
        answered = self.responses()
        if not answered:
            return
        r = self.rng.choice(answered)
        decision, comment = self.decision()
        how = self.rng.randrange(3)
        if how == 0:
            review_services.review_create(
                reviewer=self.p.auditor, decision=decision, comment=comment, response=r
            )
        elif how == 1:
            resp = self.auditor.post(
                reverse("review_create"),
                {
                    "target_type": "response",
                    "target_id": r.pk,
                    "decision": decision,
                    "comment": comment,
                },
            )
            assert resp.status_code == 302
        else:
            resp = self.auditor.post(
                "/api/v1/reviews/",
                {"response": r.pk, "decision": decision, "comment": comment},
                content_type="application/json",
            )
            assert resp.status_code == 201, resp.content

    def review_item(self) -> None:
        items = self.items()
        if not items:
            return
        item = self.rng.choice(items)
        decision, comment = self.decision()
        if self.rng.random() < 0.5:
            review_services.review_create(
                reviewer=self.p.auditor, decision=decision, comment=comment, evidence=item
            )
        else:
            resp = self.auditor.post(
                "/api/v1/reviews/",
                {"evidence": item.pk, "decision": decision, "comment": comment},
                content_type="application/json",
            )
            assert resp.status_code == 201, resp.content

    def new_item(self) -> None:
        kind = self.rng.choice(["file", "note"])
        linked = self.responses(answered=False)[: self.rng.randint(0, 2)]
        evidence_create(
            team=self.p.team,
            actor=self.p.risk_owner,
            kind=kind,
            title=f"Item {self.files}",
            note="Seen." if kind == "note" else "",
            uploaded_file=self.png() if kind == "file" else None,
            responses=linked,
        )

    def new_revision(self) -> None:
        files = self.items("file")
        if not files:
            return
        item = self.rng.choice(files)
        if self.rng.random() < 0.5:
            evidence_add_revision(item=item, actor=self.p.risk_owner, uploaded_file=self.png())
        else:
            resp = self.owner.post(
                reverse("evidence_revision", args=[item.pk]), {"file": self.png()}
            )
            assert resp.status_code == 302, resp.content[:500]

    def assign(self) -> None:
        rows = self.responses(answered=False)
        chosen = self.rng.sample(rows, min(len(rows), 3))
        assessment_services.responses_assign(
            assessment=chosen[0].assessment,
            responses=chosen,
            owner=self.p.risk_owner,
            due_date=None,
            actor=self.p.risk_owner,
        )

    def withdraw(self) -> None:
        items = self.items()
        if len(items) > 2:
            evidence_withdraw(item=self.rng.choice(items), actor=self.p.risk_owner, reason="Old.")

    def accept_linked(self) -> None:
        """Link evidence to an answer and accept both: a verified answer, for later steps to
        void (a save, a new revision, an expiry is not needed)."""
        answered, items = self.responses(), self.items()
        if not answered or not items:
            return
        r, item = self.rng.choice(answered), self.rng.choice(items)
        evidence_link(item=item, response=r, actor=self.p.risk_owner)
        for target in ({"evidence": item}, {"response": r}):
            review_services.review_create(
                reviewer=self.p.auditor, decision="accepted", comment="", **target
            )

    def start_from_last(self) -> None:
        # A new assessment copies the answers, never the reviews: its answers start pending.
        if Assessment.objects.filter(team=self.p.team).count() < 2:
            make_assessment(actor=self.p.risk_owner, ai_system=self.a.ai_system, based_on=self.a)

    STEPS = (
        ("answer", 6),
        ("review_response", 6),
        ("review_item", 5),
        ("new_item", 2),
        ("new_revision", 3),
        ("assign", 1),
        ("withdraw", 1),
        ("accept_linked", 2),
        ("start_from_last", 1),
    )

    def plan(self, n: int) -> list[str]:
        """Every kind of step once (so the walk goes everywhere), then n weighted at random."""
        names = [name for name, _ in self.STEPS]
        self.rng.shuffle(names)
        weighted = [name for name, weight in self.STEPS for _ in range(weight)]
        return names + [self.rng.choice(weighted) for _ in range(n)]


@pytest.mark.parametrize("seed", [1, 2])
def test_current_decisions_never_drift_from_the_review_table(personas, seed):
    walk = Walk(personas, seed)
    for _ in range(3):
        walk.new_item()
    for _ in range(4):
        walk.answer()
    verified = 0
    for name in walk.plan(40):
        getattr(walk, name)()
        verified += _check(personas)
    # A walk that never decides, never verifies or never voids a review would prove little.
    assert verified
    decisions = [
        _slow_response(r)[0] for r in Response.objects.filter(assessment__team=personas.team)
    ]
    assert "pending" in decisions and set(decisions) - {"pending"}
    voided = [
        r
        for r in Response.objects.filter(
            assessment__team=personas.team, latest_review__isnull=False
        )
        if r.latest_review.created_at < r.updated_at
    ]
    assert voided, "no review was voided by a later save"


def test_recording_a_review_does_not_touch_the_response(personas):
    """review_create sets latest_review with a queryset update: the response's updated_at and
    version stay, so the new review is current and not void at once."""
    a = make_assessment(team=personas.team, actor=personas.risk_owner)
    r = a.responses.order_by("pk").first()
    r = assessment_services.response_save(
        response=r,
        expected_version=r.version,
        actor=personas.risk_owner,
        status="full",
        justification="",
    )
    before = Response.objects.values_list("updated_at", "version").get(pk=r.pk)
    review = review_services.review_create(
        reviewer=personas.auditor, decision="accepted", comment="", response=r
    )
    after = Response.objects.get(pk=r.pk)
    assert (after.updated_at, after.version) == before
    assert after.latest_review_id == review.pk
    assert review_selectors.current_decisions_for_responses([r.pk])[r.pk].decision == "accepted"
