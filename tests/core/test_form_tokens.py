"""One-time form tokens (aigsec/core/formtoken.py): every HTML create form carries a token, and
sending it twice (a double click, Back and submit again) creates one object; the second send
is taken to what the first created. A refused form leaves its token usable. The browser
journey is tests/e2e/test_double_submit.py."""

from __future__ import annotations

import re
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse

from aigsec.accounts.models import User
from aigsec.core.formtoken import ALREADY_SENT, FIELD
from assessments.models import AISystem, Assessment
from evidence.models import EvidenceItem, EvidenceRevision
from reviews.models import ResponseComment
from tests.conftest import login_with_second_factor
from tests.evidence.test_evidence import PDF
from tests.factories import AISystemFactory, make_assessment, make_framework_version

pytestmark = pytest.mark.django_db
TOKEN = re.compile(rf'name="{FIELD}" value="([A-Za-z0-9_-]+)"')


def _token(client: Client, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200
    tokens = TOKEN.findall(page.content.decode())
    assert tokens, f"no one-time token on {url}"
    return tokens[0]


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture
def world(personas):
    version = make_framework_version()
    system = AISystemFactory(team=personas.team, name="Chatbot", created_by=personas.risk_owner)
    a = make_assessment(ai_system=system, version=version, actor=personas.risk_owner)
    return system, version, a


def test_every_create_form_carries_a_fresh_token(personas, world):
    system, _version, a = world
    c = personas.client(personas.risk_owner)
    from evidence import services

    item = services.evidence_create(
        team=personas.team, actor=personas.risk_owner, kind="file", title="Policy",
        uploaded_file=SimpleUploadedFile("p.pdf", PDF),
    )  # fmt: skip
    r = a.responses.select_related("control__guideline__pillar").order_by("control__order")[0]
    pages = [
        reverse("ai_system_create"),
        reverse("assessment_create", args=[system.pk]),
        reverse("evidence_create"),
        reverse("evidence_detail", args=[item.pk]),  # the new-revision form
        r.get_absolute_url(),  # the comment form of the opened control
    ]
    for url in pages:
        assert _token(c, url) != _token(c, url), url  # one per rendering


def test_a_second_send_of_the_assessment_form_creates_nothing(personas, world):
    system, version, _a = world
    c = personas.client(personas.risk_owner)
    url = reverse("assessment_create", args=[system.pk])
    body = {"title": "Q3 review", "framework_version": version.pk, FIELD: _token(c, url)}
    first = c.post(url, body)
    assert first.status_code == 302
    second = c.post(url, body, follow=True)
    assert Assessment.objects.filter(title="Q3 review").count() == 1
    assert second.redirect_chain[0][0] == first.url
    assert ALREADY_SENT in _messages(second)


def test_a_second_send_of_the_ai_system_form_goes_to_the_system(personas):
    c = personas.client(personas.risk_owner)
    url = reverse("ai_system_create")
    body = {
        "name": "Scorer", "model_source": "in_house", "criticality": "high", "status": "design",
        FIELD: _token(c, url),
    }  # fmt: skip
    first = c.post(url, body)
    assert first.status_code == 302, first.content
    second = c.post(url, body)
    assert second.status_code == 302 and second.url == first.url  # not "name taken"
    assert AISystem.objects.filter(name="Scorer").count() == 1


def test_a_second_send_of_a_note_creates_one_item(personas):
    c = personas.client(personas.risk_owner)
    url = reverse("evidence_create")
    body = {"kind": "note", "title": "Pen test", "note": "Passed.", FIELD: _token(c, url)}
    first = c.post(url, body)
    second = c.post(url, body)
    assert first.status_code == second.status_code == 302
    assert second.url == first.url
    assert EvidenceItem.objects.filter(title="Pen test").count() == 1


def test_a_second_send_of_a_revision_creates_one_revision(personas):
    c = personas.client(personas.risk_owner)
    from evidence import services

    item = services.evidence_create(
        team=personas.team, actor=personas.risk_owner, kind="file", title="Policy",
        uploaded_file=SimpleUploadedFile("p.pdf", PDF),
    )  # fmt: skip
    token = _token(c, reverse("evidence_detail", args=[item.pk]))
    url = reverse("evidence_revision", args=[item.pk])
    for _ in range(2):
        f = SimpleUploadedFile("p2.pdf", PDF + b"%v2", content_type="application/pdf")
        assert c.post(url, {"file": f, FIELD: token}).status_code == 302
    assert EvidenceRevision.objects.filter(item=item).count() == 2  # revision 1 and one new


def test_a_refused_form_leaves_its_token_usable(personas):
    c = personas.client(personas.risk_owner)
    url = reverse("evidence_create")
    token = _token(c, url)
    refused = c.post(url, {"kind": "note", "title": "", "note": "x", FIELD: token})
    assert refused.status_code == 400
    ok = c.post(url, {"kind": "note", "title": "Fixed", "note": "x", FIELD: token})
    assert ok.status_code == 302
    assert EvidenceItem.objects.filter(title="Fixed").count() == 1


def test_a_comment_sent_twice_is_posted_once_htmx_or_not(personas, world):
    _system, _version, a = world
    r = a.responses.order_by("control__order").first()
    c = personas.client(personas.risk_owner)
    url = reverse("response_comment", args=[r.pk])
    token = "A" * 32
    htmx = {"HTTP_HX_REQUEST": "true"}
    one = c.post(url, {"body": "Please check.", FIELD: token}, **htmx)
    two = c.post(url, {"body": "Please check.", FIELD: token}, **htmx)
    assert one.status_code == two.status_code == 200
    assert two.content.decode().count("Please check.") == 1  # the thread, with it once
    again = c.post(url, {"body": "Please check.", FIELD: token})
    assert again.status_code == 302
    assert ResponseComment.objects.filter(response=r).count() == 1


def test_the_token_is_the_senders_own(personas, world):
    """Another person's send with the same token value is theirs: each creates one."""
    system, version, _a = world
    url = reverse("assessment_create", args=[system.pk])
    for user in (personas.risk_owner, personas.admin):
        c = personas.client(user)
        body = {"title": f"By {user.pk}", "framework_version": version.pk, FIELD: "B" * 32}
        assert c.post(url, body).status_code == 302
    assert Assessment.objects.filter(title__startswith="By ").count() == 2


def test_without_a_token_forms_work_as_before(personas):
    c = personas.client(personas.risk_owner)
    for _ in range(2):
        r = c.post(reverse("evidence_create"), {"kind": "note", "title": "Plain", "note": "x"})
        assert r.status_code == 302
    assert EvidenceItem.objects.filter(title="Plain").count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_sends_at_the_same_moment_create_one_assessment(personas):
    if connection.vendor != "postgresql":
        pytest.skip("the row lock is PostgreSQL's; SQLite serialises writers")
    version = make_framework_version()
    system = AISystemFactory(team=personas.team, name="Raced", created_by=personas.risk_owner)
    user = User.objects.get(pk=personas.risk_owner.pk)
    url = reverse("assessment_create", args=[system.pk])
    body = {"title": "Twice", "framework_version": version.pk, FIELD: "C" * 32}
    barrier = threading.Barrier(3)
    codes: list[tuple[int, str]] = []

    def send() -> None:
        try:
            c = login_with_second_factor(Client(), user)
            barrier.wait()
            r = c.post(url, body)
            codes.append((r.status_code, r["Location"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert Assessment.objects.filter(title="Twice").count() == 1
    assert len(codes) == 3 and {code for code, _ in codes} == {302}
    assert len({where for _, where in codes}) == 1
