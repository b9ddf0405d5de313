"""The audit trail as sentences (aigsec/audit/sentences.py): names instead of ids, the target
a link, every recorded action covered, a generic sentence for an unknown one, and a fixed
number of queries whatever the page names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aigsec.audit.models import AuditEvent
from aigsec.audit.sentences import GENERIC, SENTENCES, Names, describe, sentence
from aigsec.audit.services import audit_record
from assessments import services
from tests.factories import AISystemFactory, UserFactory, make_assessment

ROOT = Path(__file__).resolve().parents[2]
TRAIL = reverse("audit_trail")


def _recorded_actions() -> set[str]:
    """Every action string the code passes to audit_record (or to an integrity Incident)."""
    found: set[str] = set()
    pattern = re.compile(r'(?:audit_record\(\s*|action=)"([a-z_]+\.[a-z_.]+)"')
    for app in ("aigsec", "assessments", "evidence", "reports"):
        for path in (ROOT / app).rglob("*.py"):
            found |= set(pattern.findall(path.read_text()))
    return found


def test_every_recorded_action_has_a_sentence():
    actions = _recorded_actions()
    assert len(actions) > 40  # the scan itself works
    missing = sorted(actions - set(SENTENCES))
    assert not missing, f"actions recorded without a sentence: {missing}"


def _ev(action, actor=None, target=None, data=None, seq=1):
    return AuditEvent(seq=seq, action=action, actor=actor, target=target, data=data or {})


@pytest.mark.django_db
def test_an_answer_reads_as_a_sentence_with_names_and_a_link(personas):
    personas.risk_owner.full_name = "Robin Owner"
    personas.risk_owner.save()
    a = make_assessment(actor=personas.risk_owner, team=personas.team)
    r = a.responses.select_related("control").get(control__ref="2.1.2")
    services.response_save(
        response=r,
        expected_version=r.version,
        actor=personas.risk_owner,
        status="full",
        justification="",
        owner=None,
        due_date=None,
    )
    ev = AuditEvent.objects.filter(action="response.answered").latest("seq")
    describe([ev])
    url = reverse("response_edit", args=[r.pk])
    assert ev.sentence == (
        f'Robin Owner answered <a href="{url}">2.1.2</a>: Not started → Fully implemented'
    )


@pytest.mark.django_db
def test_names_for_people_and_objects(personas):
    system = AISystemFactory(team=personas.team, name="Fraud <scorer>")
    events = [
        _ev("ai_system.created", personas.admin.pk, f"aisystem:{system.pk}"),
        _ev(
            "member.role_changed",
            personas.admin.pk,
            f"user:{personas.auditor.pk}",
            {"old": "auditor", "new": "manager"},
        ),
        _ev("member.removed", personas.admin.pk, "user:999999", {"role": "risk_owner"}),
        _ev("review.recorded", personas.auditor.pk, "response:999999", {"decision": "rejected"}),
        _ev("made.up_action", None, "thing:7"),
        _ev("response.answered", personas.admin.pk, "response:1", {"old": 5, "new": None}),
    ]
    describe(events)
    admin, auditor = personas.admin.display_name, personas.auditor.display_name
    s = [str(e.sentence) for e in events]
    link = reverse("ai_system_detail", args=[system.pk])
    assert s[0] == f'{admin} added the AI system <a href="{link}">“Fraud &lt;scorer&gt;”</a>'
    assert s[1] == f"{admin} changed the role of {auditor}: Auditor → Manager"
    assert s[2] == f"{admin} removed a removed user (#999999) (was Risk owner)"
    assert s[3] == f"{auditor} rejected response:999999"  # a deleted target: no link
    assert s[4] == "The system: made.up_action on thing:7"  # the generic fallback
    assert s[5].endswith(": 5 → —")  # odd data never breaks the page


@pytest.mark.django_db
def test_every_sentence_renders_from_empty_data(personas):
    """A pattern naming a value an (older) event lacks shows a dash, never an error."""
    names = Names([])
    for action in [*SENTENCES, "unknown.action"]:
        text = str(sentence(_ev(action, personas.admin.pk, "assessment:1"), names))
        assert text and "{" not in text
    assert GENERIC.startswith("{actor}")


@pytest.mark.django_db
def test_the_page_shows_sentences_and_keeps_the_raw_event(personas):
    personas.risk_owner.full_name = "Robin Owner"
    personas.risk_owner.save()
    a = make_assessment(actor=personas.risk_owner, team=personas.team)
    html = personas.client(personas.auditor).get(TRAIL).content.decode()
    link = reverse("assessment_detail", args=[a.pk])
    assert f'Robin Owner started the assessment <a href="{link}">“{a.title}”</a>' in html
    assert '<details class="raw-event"><summary>Recorded as <code>assessment.created</code>' in html
    assert f"user:{personas.risk_owner.pk}" not in html.split("raw-event")[0]


@pytest.mark.django_db
def test_query_count_is_constant_whatever_the_page_names(personas):
    c = personas.client(personas.auditor)

    def seed(n: int) -> None:
        for i in range(n):
            user = UserFactory()
            system = AISystemFactory(team=personas.team, created_by=user)
            audit_record(
                "ai_system.updated",
                actor=user,
                team=personas.team,
                target=f"aisystem:{system.pk}",
                data={"changes": {"name": {"old": "a", "new": str(i)}}},
            )
            audit_record(
                "member.added",
                actor=user,
                team=personas.team,
                target=f"user:{personas.risk_owner.pk}",
                data={"role": "auditor"},
            )

    def count() -> int:
        from django.core.cache import cache

        cache.clear()  # the page is cached: measure its building
        with CaptureQueriesContext(connection) as ctx:
            assert c.get(TRAIL).status_code == 200
        return len(ctx.captured_queries)

    seed(2)
    few = count()
    seed(20)
    assert count() == few
