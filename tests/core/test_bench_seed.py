"""The benchmark's seeder (bench/seed.py), at a microscopic scale, so that it cannot rot
unnoticed: what it writes must be what the application writes (a hash chain that verifies,
sequences that keep working, the flagship assessment the benchmark measures)."""

import hashlib

import pytest
from django.core.management import call_command
from django.db.models import OuterRef, Subquery

from aigsec.accounts.models import Membership, Team, User
from aigsec.audit.models import AuditChainHead, AuditEvent
from aigsec.audit.services import audit_record
from aigsec.audit.verify import audit_verify_db
from assessments.models import AISystem, Assessment, Control, Response
from bench.scales import SCALES, Scale
from bench.seed import seed
from evidence.models import EvidenceItem, EvidenceLink, EvidenceRevision
from reviews.models import Review

MODELS = {
    "teams": Team,
    "users": User,
    "ai_systems": AISystem,
    "assessments": Assessment,
    "responses": Response,
    "evidence_items": EvidenceItem,
    "evidence_revisions": EvidenceRevision,
    "evidence_links": EvidenceLink,
    "reviews": Review,
    "audit_events": AuditEvent,
}
SCALE = Scale(
    "test",
    teams=2,
    systems=4,
    assessments=8,
    evidence=30,
    reviews=12,
    events=40,
    flagship_evidence=5,
    real_files=2,
    seconds=1,
    upload_mb=1,
    users_per_team=5,
)


@pytest.mark.django_db
def test_seeder_writes_the_counts_and_a_chain_that_verifies(tmp_path):
    call_command("load_framework", verbosity=0)
    # The chain must continue from whatever is there, as audit_record would.
    audit_record("test.before_seed", data={"n": 1})
    before = {name: model.objects.count() for name, model in MODELS.items()}

    result = seed(SCALE, media_root=tmp_path, log=lambda _msg: None)

    for name, model in MODELS.items():
        assert model.objects.count() - before[name] == result.counts[name], name
    assert result.counts["audit_events"] == SCALE.events
    assert result.counts["assessments"] == SCALE.assessments
    assert result.counts["evidence_items"] == SCALE.evidence
    assert Membership.objects.filter(team_id=result.flagship_team_id).count() == 5

    verified, _checkpoint = audit_verify_db()
    assert verified.ok, verified.reason
    assert verified.count == before["audit_events"] + SCALE.events
    head = AuditChainHead.objects.get(pk=1)
    assert (head.seq, head.hash) == (verified.head_seq, verified.head_hash)

    # The flagship: every control answered, the evidence linked, real files that match.
    flagship = Response.objects.filter(assessment_id=result.flagship_id)
    assert flagship.count() == Control.objects.count()
    assert not flagship.filter(status="not_started").exists()
    linked = EvidenceItem.objects.filter(links__response__assessment_id=result.flagship_id)
    assert linked.distinct().count() == SCALE.flagship_evidence
    real = EvidenceRevision.objects.exclude(storage_name__startswith="evidence/missing/")
    assert real.count() == SCALE.real_files
    for rev in real:
        data = (tmp_path / rev.storage_name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == rev.sha256 and len(data) == rev.size

    # The denormalised latest review of every target is the newest of its reviews, as
    # review_create keeps it (the seeder sets it with one UPDATE per table).
    for model, field in ((Response, "response_id"), (EvidenceItem, "evidence_id")):
        newest = (
            Review.objects.filter(**{field: OuterRef("pk")})
            .order_by("-created_at", "-id")
            .values("pk")[:1]
        )
        rows = list(
            model.objects.annotate(want=Subquery(newest)).values_list("latest_review", "want")
        )
        assert [got for got, _ in rows] == [want for _, want in rows], model
        assert any(got for got, _ in rows), model
    assert not flagship.filter(latest_review__isnull=True).exists()  # fully reviewed
    newest = EvidenceRevision.objects.filter(item_id=OuterRef("pk")).order_by("-number")
    rows = list(
        EvidenceItem.objects.annotate(want=Subquery(newest.values("pk")[:1])).values_list(
            "latest_revision", "want"
        )
    )
    assert [got for got, _ in rows] == [want for _, want in rows]
    assert any(got for got, _ in rows)

    # The sequences were moved past the seeded ids: the application keeps inserting.
    audit_record("test.after_seed", team=result.flagship_team_id)
    item = EvidenceItem.objects.create(
        team_id=result.flagship_team_id, kind="note", title="After", note="n"
    )
    assert item.pk > max(EvidenceItem.objects.exclude(pk=item.pk).values_list("pk", flat=True))
    assert audit_verify_db()[0].ok


def test_official_scales_are_the_issue_numbers():
    full, small = SCALES["full"], SCALES["small"]
    assert (full.teams, full.systems, full.assessments) == (100, 1_000, 2_000)
    assert (full.evidence, full.reviews, full.events) == (200_000, 100_000, 500_000)
    for field in ("teams", "systems", "assessments", "evidence", "reviews", "events"):
        assert getattr(small, field) * 10 == getattr(full, field), field
    assert (full.upload_mb, small.upload_mb, full.seconds, small.seconds) == (1024, 200, 60, 20)
