"""reviews/decisions.py: the current-decision rule in its Python form and its SQL form give
the same answer for every case (no review, a review, a review voided by a save or a new
revision, a link or note without revisions), and "Pending" has one label."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Exists, OuterRef

from assessments.models import Response, ResponseStatus
from assessments.services import response_save
from evidence.models import EvidenceItem, EvidenceLink
from evidence.services import evidence_add_revision, evidence_create
from reviews import decisions
from reviews.models import Review
from reviews.services import review_create
from tests.factories import make_assessment

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.4\n%%EOF\n"


def _save(personas, r, justification="Done."):
    r = Response.objects.get(pk=r.pk)
    return response_save(
        response=r,
        expected_version=r.version,
        actor=personas.risk_owner,
        status=ResponseStatus.FULL,
        justification=justification,
    )


def test_python_and_sql_forms_agree_on_every_case(personas):
    a = make_assessment(team=personas.team, actor=personas.risk_owner)
    none, accepted, voided, rejected = list(a.responses.order_by("control__order"))[:4]
    for r in (none, accepted, voided, rejected):
        _save(personas, r)
    review_create(reviewer=personas.auditor, decision="accepted", comment="", response=accepted)
    review_create(reviewer=personas.auditor, decision="accepted", comment="", response=voided)
    _save(personas, voided, justification="Changed after the review.")
    review_create(reviewer=personas.auditor, decision="rejected", comment="No.", response=rejected)

    def item(kind, title):
        extra = (
            {"uploaded_file": SimpleUploadedFile("a.pdf", PDF)} if kind == "file" else {"note": "n"}
        )
        return evidence_create(
            team=personas.team, actor=personas.risk_owner, kind=kind, title=title, **extra
        )

    note, file_ok, file_voided, unreviewed = (
        item("note", "Note"),
        item("file", "File"),
        item("file", "Old file"),
        item("note", "Nobody looked"),
    )
    for i in (note, file_ok, file_voided):
        review_create(reviewer=personas.auditor, decision="accepted", comment="", evidence=i)
    evidence_add_revision(
        item=file_voided,
        actor=personas.risk_owner,
        uploaded_file=SimpleUploadedFile("b.pdf", PDF + b"2"),
    )

    ids = [none.pk, accepted.pk, voided.pk, rejected.pk]
    sql = dict(
        Response.objects.filter(pk__in=ids)
        .annotate(d=decisions.response_decision_sql())
        .values_list("pk", "d")
    )
    py = {
        r.pk: decisions.response_decision(r.latest_review, r.updated_at).decision
        for r in Response.objects.filter(pk__in=ids).select_related("latest_review")
    }
    assert (
        sql
        == py
        == {
            none.pk: "pending",
            accepted.pk: "accepted",
            voided.pk: "pending",
            rejected.pk: "rejected",
        }
    )
    # The accepted-only filter (used by the verified score) picks the same responses.
    accepted_q = Exists(
        Review.objects.filter(
            decisions.response_review_accepted(OuterRef("latest_review_id"), OuterRef("updated_at"))
        )
    )
    assert set(Response.objects.filter(accepted_q, pk__in=ids).values_list("pk", flat=True)) == {
        accepted.pk
    }

    item_ids = [note.pk, file_ok.pk, file_voided.pk, unreviewed.pk]
    sql = dict(
        EvidenceItem.objects.filter(pk__in=item_ids)
        .annotate(d=decisions.item_decision_sql())
        .values_list("pk", "d")
    )
    py = {
        i.pk: decisions.item_decision(i.latest_review, i.latest_revision_id).decision
        for i in EvidenceItem.objects.filter(pk__in=item_ids).select_related("latest_review")
    }
    assert (
        sql
        == py
        == {
            note.pk: "accepted",
            file_ok.pk: "accepted",
            file_voided.pk: "pending",
            unreviewed.pk: "pending",
        }
    )
    for i in (note, file_ok, file_voided, unreviewed):
        EvidenceLink.objects.create(item=i, response=accepted)
    linked_ok = set(
        EvidenceLink.objects.filter(
            decisions.item_accepted_q("item__"), response=accepted
        ).values_list("item_id", flat=True)
    )
    assert linked_ok == {note.pk, file_ok.pk}


def test_pending_has_one_label():
    assert decisions.decision_label("pending") == "Pending"
    assert decisions.decision_label("changes_requested") == "Changes requested"
    assert decisions.DECISION_FILTERS[0] == decisions.PENDING
