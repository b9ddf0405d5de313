"""The evidence form: fields marked by kind, the control picker (checkboxes under a filter
box, not a multi-select), and the way back to the control it was opened from."""

from __future__ import annotations

import pytest
from django.urls import reverse

from evidence.models import EvidenceItem
from tests.factories import make_assessment

pytestmark = pytest.mark.django_db
CREATE = reverse("evidence_create")


@pytest.fixture
def assessment(personas):
    return make_assessment(actor=personas.risk_owner, team=personas.team)


def _response(a, ref="2.1.2"):
    return a.responses.select_related("control__guideline__pillar").get(control__ref=ref)


def test_fields_are_marked_with_their_kind_and_the_picker_is_checkboxes(personas, assessment):
    html = personas.client(personas.risk_owner).get(CREATE).content.decode()
    for kind, name in (("file", "file"), ("link", "url"), ("note", "note")):
        assert f'<div class="kind-field" data-kind="{kind}"><label for="id_{name}"' in html
    assert "<select" not in html.split('class="control-picker"')[1]  # no multi-select
    assert html.count('type="checkbox" name="responses"') == 8
    assert '<div class="picker-filter" hidden>' in html  # shown by app.js only
    assert 'data-search="' in html and "2.1.2 control 2.1.2" in html


def test_opened_from_a_control_it_is_ticked_and_saving_returns_to_it(personas, assessment):
    r = _response(assessment)
    c = personas.client(personas.risk_owner)
    html = c.get(CREATE, {"response": r.pk}).content.decode()
    assert f'name="from_response" value="{r.pk}"' in html
    assert f'value="{r.pk}" id="id_responses_' in html and "checked" in html
    resp = c.post(
        CREATE,
        {"kind": "note", "title": "Seen", "note": "ok", "responses": [r.pk], "from_response": r.pk},
    )
    assert resp.status_code == 302
    assert resp["Location"] == r.get_absolute_url()
    assert list(
        EvidenceItem.objects.get(title="Seen").links.values_list("response_id", flat=True)
    ) == [r.pk]


@pytest.mark.parametrize("bad", ["", "abc", "0", "-4", "99999999999999999999", "1 OR 1=1"])
def test_a_bad_or_foreign_way_back_goes_to_the_new_item(personas, assessment, bad):
    c = personas.client(personas.risk_owner)
    resp = c.post(CREATE, {"kind": "note", "title": "N", "note": "x", "from_response": bad})
    item = EvidenceItem.objects.get(title="N")
    assert resp["Location"] == reverse("evidence_detail", args=[item.pk])


def test_a_control_of_another_team_is_not_a_way_back(personas, assessment):
    foreign = make_assessment(actor=personas.stranger, team=personas.other_team)
    fr = _response(foreign)
    c = personas.client(personas.risk_owner)
    resp = c.post(CREATE, {"kind": "note", "title": "F", "note": "x", "from_response": fr.pk})
    assert resp["Location"] == reverse(
        "evidence_detail", args=[EvidenceItem.objects.get(title="F").pk]
    )


def test_a_foreign_control_cannot_be_ticked(personas, assessment):
    fr = _response(make_assessment(actor=personas.stranger, team=personas.other_team))
    c = personas.client(personas.risk_owner)
    resp = c.post(CREATE, {"kind": "note", "title": "G", "note": "x", "responses": [fr.pk]})
    assert resp.status_code == 400 and not EvidenceItem.objects.filter(title="G").exists()


def test_empty_state_without_open_assessments(personas):
    html = personas.client(personas.risk_owner).get(CREATE).content.decode()
    assert "No open assessment to link to yet" in html
