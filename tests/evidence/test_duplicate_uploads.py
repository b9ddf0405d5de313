"""Uploading a file the team already has (same SHA-256) creates nothing and offers the
existing item instead (evidence/duplicates.py): on the page, a "link the existing item"
action for the controls the upload was for; through the API, a 409 with `duplicate_of`.
Another team's identical file is not a duplicate, and is never revealed."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from aigsec.accounts.models import User
from evidence import services
from evidence.models import EvidenceItem, EvidenceLink, EvidenceRevision
from tests.evidence.test_evidence import PDF, media_files
from tests.factories import make_assessment

pytestmark = pytest.mark.django_db


def _upload(client, name: str, data: bytes, **extra):
    f = SimpleUploadedFile(name, data, content_type="application/pdf")
    body = {"kind": "file", "title": extra.pop("title", "Policy"), "file": f, **extra}
    return client.post(reverse("evidence_create"), body)


def _existing(personas, team=None, actor=None, title="Security policy"):
    return services.evidence_create(
        team=team or personas.team,
        actor=actor or personas.risk_owner,
        kind="file",
        title=title,
        uploaded_file=SimpleUploadedFile("policy.pdf", PDF),
    )


def test_the_same_file_again_offers_to_link_the_existing_item(personas):
    item = _existing(personas)
    a = make_assessment(actor=personas.risk_owner, team=personas.team)
    response = a.responses.select_related("control").order_by("control__order").first()
    files_before = len(media_files())
    client = personas.client(personas.risk_owner)

    page = _upload(client, "renamed copy.pdf", PDF, title="Another title", responses=[response.pk])

    assert page.status_code == 409
    html = page.content.decode()
    assert "This file is already evidence" in html
    assert f"#{item.pk} “Security policy”" in html
    assert f"Link the existing item to {response.control.ref}" in html
    assert EvidenceItem.objects.count() == 1 and EvidenceRevision.objects.count() == 1
    assert len(media_files()) == files_before  # nothing stored

    # The action on that page links the existing item to the control and returns to it.
    main = html.split("<main", 1)[1]
    action = re.search(r'<form method="post" action="([^"]+)"', main).group(1)
    assert action == reverse("response_evidence", args=[response.pk])
    r = client.post(action, {"item": item.pk, "action": "link"})
    assert r.status_code == 302 and r.url == response.get_absolute_url()
    assert EvidenceLink.objects.filter(item=item, response=response).exists()


def test_without_controls_chosen_the_page_offers_the_item_itself(personas):
    item = _existing(personas)
    page = _upload(personas.client(personas.risk_owner), "p.pdf", PDF)
    assert page.status_code == 409
    html = page.content.decode()
    assert reverse("evidence_detail", args=[item.pk]) in html
    assert "Link the existing item" not in html


def test_another_teams_identical_file_is_no_duplicate_and_is_not_revealed(personas):
    theirs = _existing(personas, team=personas.other_team, actor=personas.stranger, title="Theirs")
    r = _upload(personas.client(personas.risk_owner), "policy.pdf", PDF)
    assert r.status_code == 302
    ours = EvidenceItem.objects.exclude(pk=theirs.pk).get()
    assert ours.team == personas.team
    assert "Theirs" not in personas.client(personas.risk_owner).get(r.url).content.decode()


def test_a_withdrawn_item_does_not_count(personas):
    item = _existing(personas)
    services.evidence_withdraw(item=item, actor=personas.admin, reason="Superseded.")
    r = _upload(personas.client(personas.risk_owner), "policy.pdf", PDF)
    assert r.status_code == 302
    assert EvidenceItem.objects.count() == 2


def test_an_older_revision_counts_too(personas):
    item = _existing(personas)
    services.evidence_add_revision(
        item=item,
        actor=personas.risk_owner,
        uploaded_file=SimpleUploadedFile("v2.pdf", PDF + b"%v2"),
    )
    assert _upload(personas.client(personas.risk_owner), "old.pdf", PDF).status_code == 409


def test_different_content_is_a_new_item(personas):
    _existing(personas)
    r = _upload(personas.client(personas.risk_owner), "policy.pdf", PDF + b"% changed\n")
    assert r.status_code == 302
    assert EvidenceItem.objects.count() == 2


# --- API --------------------------------------------------------------------------------------


def _api(user: User) -> APIClient:
    c = APIClient()
    c.force_authenticate(user=User.objects.get(pk=user.pk))
    return c


def _api_upload(c: APIClient, team_id: int):
    return c.post(
        "/api/v1/evidence/",
        {
            "kind": "file",
            "title": "Copy",
            "team": team_id,
            "file": SimpleUploadedFile("c.pdf", PDF),
        },
        format="multipart",
    )


def test_the_api_answers_409_with_duplicate_of_and_creates_nothing(personas):
    item = _existing(personas)
    r = _api_upload(_api(personas.risk_owner), personas.team.pk)
    assert r.status_code == 409
    body = r.json()
    assert body["duplicate_of"] == item.pk
    assert f"#{item.pk}" in body["detail"] and "link" in body["detail"]
    assert EvidenceItem.objects.count() == 1


def test_the_api_ignores_another_teams_identical_file(personas):
    _existing(personas, team=personas.other_team, actor=personas.stranger)
    r = _api_upload(_api(personas.risk_owner), personas.team.pk)
    assert r.status_code == 201
    assert "duplicate_of" not in r.json()


def test_the_409_is_documented_with_duplicate_of():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    conflict = schema["paths"]["/api/v1/evidence/"]["post"]["responses"]["409"]
    ref = conflict["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "duplicate_of" in schema["components"]["schemas"][ref]["properties"]
