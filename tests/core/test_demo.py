"""seed_demo with the framework loaded: the demo a new user sees after `make run`."""

import hashlib
import io

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command

from assessments.models import AISystem, Response
from evidence.models import EvidenceItem, EvidenceRevision

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = io.StringIO()
    call_command("load_framework", stdout=io.StringIO())
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_demo_has_a_partly_answered_assessment_with_evidence(monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "demo-passphrase-for-tests-42")
    _seed()
    system = AISystem.objects.get(name="Support chatbot", team__name="Demo AI Ltd")
    assert system.model_source == "external_api"
    assessment = system.assessments.get()
    assert assessment.status == "in_progress"
    responses = Response.objects.filter(assessment=assessment)
    answered = responses.exclude(status="not_started")
    share = answered.count() / responses.count()
    assert 0.25 <= share <= 0.4, share
    assert answered.values("updated_by").distinct().count() == 2  # two owners answered
    revisions = EvidenceRevision.objects.filter(item__team=system.team)
    assert sorted(r.content_type for r in revisions) == ["application/pdf", "image/png", "text/csv"]
    for rev in revisions:
        with default_storage.open(rev.storage_name) as fh:
            assert hashlib.sha256(fh.read()).hexdigest() == rev.sha256
    assert all(item.links.exists() for item in EvidenceItem.objects.filter(team=system.team))
    # Idempotent: a second run adds nothing.
    counts = (AISystem.objects.count(), Response.objects.count(), EvidenceItem.objects.count())
    _seed()
    assert counts == (
        AISystem.objects.count(),
        Response.objects.count(),
        EvidenceItem.objects.count(),
    )
