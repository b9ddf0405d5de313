"""The audit trail for people: who may see it, filters, pages, one event, exports, verify."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aigsec.audit.chain import EXPORT_FIELDS, event_hash
from aigsec.audit.checkpoints import audit_checkpoint_take
from aigsec.audit.models import AuditCheckpoint, AuditEvent
from aigsec.audit.services import audit_record
from tests.factories import make_assessment

TRAIL = "/audit/"


def _seqs(resp) -> list[int]:
    """The events listed on a trail page, in page order."""
    return [int(s) for s in re.findall(rb'href="/audit/events/(\d+)/"', resp.content)]


def _body(resp) -> bytes:
    return b"".join(resp.streaming_content)


def _seed(personas, n: int = 3) -> list[AuditEvent]:
    return [
        audit_record(
            "thing.touched",
            actor=personas.risk_owner,
            team=personas.team,
            target=f"thing:{i}",
            data={"i": i},
        )
        for i in range(n)
    ]


# --- Who may see it -------------------------------------------------------------------------


@pytest.mark.django_db
def test_risk_owner_and_manager_are_refused_auditor_and_admin_see_the_trail(personas):
    ev = _seed(personas, 1)[0]
    for user in (personas.risk_owner, personas.manager):
        c = personas.client(user)
        assert c.get(TRAIL).status_code == 403
        assert c.get(reverse("audit_event", args=[ev.seq])).status_code == 403
        assert c.get(reverse("audit_export", args=["jsonl"])).status_code == 403
        assert c.get(reverse("audit_verify")).status_code == 403
        assert c.post(reverse("audit_verify")).status_code == 403
    assert not AuditEvent.objects.filter(action__in=["audit.exported", "audit.verified"]).exists()
    for user in (personas.auditor, personas.admin):
        resp = personas.client(user).get(TRAIL)
        assert resp.status_code == 200
        assert ev.seq in _seqs(resp)


@pytest.mark.django_db
def test_nav_link_only_for_those_who_hold_audit(personas):
    link = f'href="{TRAIL}"'.encode()
    assert link in personas.client(personas.auditor).get("/").content
    assert link in personas.client(personas.admin).get("/").content
    assert link not in personas.client(personas.risk_owner).get("/").content
    assert link not in personas.client(personas.manager).get("/").content


@pytest.mark.django_db
def test_other_teams_and_teamless_events_never_appear(personas):
    mine = _seed(personas, 2)
    theirs = audit_record("thing.touched", team=personas.other_team, target="secret:theirs")
    system = audit_record("system.thing", target="secret:system")
    c = personas.client(personas.auditor)
    resp = c.get(TRAIL)
    assert set(_seqs(resp)) >= {e.seq for e in mine}
    assert theirs.seq not in _seqs(resp) and system.seq not in _seqs(resp)
    assert b"secret:" not in resp.content
    # Not by filtering for them either, nor in any export.
    assert b"secret:" not in c.get(TRAIL, {"target": "secret"}).content
    for fmt in ("jsonl", "csv"):
        assert b"secret:" not in _body(c.get(reverse("audit_export", args=[fmt])))
    # And the other team's admin does not see ours.
    other = personas.client(personas.stranger).get(TRAIL)
    assert theirs.seq in _seqs(other)
    assert not {e.seq for e in mine} & set(_seqs(other))


# --- Filters and pages ----------------------------------------------------------------------


@pytest.mark.django_db
def test_each_filter_narrows_the_list(personas):
    t = personas.team
    by_risk = audit_record("evidence.uploaded", actor=personas.risk_owner, team=t, target="x:1")
    by_admin = audit_record("evidence.withdrawn", actor=personas.admin, team=t, target="x:2")
    other = audit_record("member.added", actor=personas.admin, team=t, target="user:77")
    old = audit_record("assessment.created", actor=personas.admin, team=t, target="assessment:9")
    AuditEvent.objects.filter(pk=old.pk).update(at=datetime(2020, 5, 17, 23, 59, tzinfo=UTC))
    c = personas.client(personas.auditor)

    def seqs(**params) -> set[int]:
        resp = c.get(TRAIL, params)
        assert resp.status_code == 200, resp.content
        return set(_seqs(resp))

    assert seqs() == {by_risk.seq, by_admin.seq, other.seq, old.seq}
    assert seqs(actor="RISK@acme") == {by_risk.seq}
    assert seqs(action="evidence.withdrawn") == {by_admin.seq}
    assert seqs(action="evidence.") == {by_risk.seq, by_admin.seq}  # the family
    assert seqs(target="user:7") == {other.seq}
    assert seqs(date_to="2020-05-17") == {old.seq}  # the last day is included
    assert seqs(date_from="2020-05-18") == {by_risk.seq, by_admin.seq, other.seq}
    assert seqs(date_from="2020-05-17", date_to="2020-05-17") == {old.seq}
    assert seqs(actor="admin@", action="evidence.") == {by_admin.seq}
    # The action select offers what is present, and the families.
    page = c.get(TRAIL).content.decode()
    for value in ("evidence.", "evidence.uploaded", "member.added", "assessment."):
        assert f'value="{value}"' in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"date_from": "2026-13-01"},
        {"date_to": "yesterday"},
        {"date_from": "2026-05-02", "date_to": "2026-05-01"},
        {"action": "no.such.action"},
        {"before": "abc"},
        {"before": "99999999999999999999"},
        {"after": "-5"},
        {"before": "5", "after": "2"},
        {"actor": "x" * 300},
    ],
)
def test_invalid_filters_are_a_form_error_not_a_500(personas, params):
    _seed(personas, 2)
    c = personas.client(personas.auditor)
    resp = c.get(TRAIL, params)
    assert resp.status_code == 400
    assert b'role="alert"' in resp.content
    assert _seqs(resp) == []  # no unfiltered list that could be mistaken for the filtered one
    exp = c.get(reverse("audit_export", args=["csv"]), params)
    assert exp.status_code == 400 and not exp.streaming
    assert not AuditEvent.objects.filter(action="audit.exported").exists()


@pytest.mark.django_db
def test_keyset_pages_newest_first(personas):
    events = _seed(personas, 120)
    all_seqs = [e.seq for e in reversed(events)]
    c = personas.client(personas.auditor)
    first = c.get(TRAIL)
    assert _seqs(first) == all_seqs[:50]
    older = re.search(rb'href="\?before=(\d+)"', first.content)
    assert older and b"after=" not in first.content
    second = c.get(TRAIL, {"before": older.group(1).decode()})
    assert _seqs(second) == all_seqs[50:100]
    third = c.get(TRAIL, {"before": str(all_seqs[99])})
    assert _seqs(third) == all_seqs[100:]
    assert b"before=" not in third.content  # the last page
    newer = re.search(rb'href="\?after=(\d+)"', third.content)
    assert _seqs(c.get(TRAIL, {"after": newer.group(1).decode()})) == all_seqs[50:100]
    # The filter is kept in the paging links.
    filtered = c.get(TRAIL, {"action": "thing.touched"})
    assert b"?action=thing.touched&amp;before=" in filtered.content


@pytest.mark.django_db
def test_trail_page_query_count_does_not_grow(personas):
    c = personas.client(personas.auditor)
    c.get(TRAIL)  # warm the session

    def count(n: int) -> int:
        AuditEvent.objects.filter(team=personas.team.pk).delete()
        for i in range(n):
            actor = (personas.risk_owner, personas.admin, personas.manager)[i % 3]
            audit_record(f"thing.kind{i % 7}", actor=actor, team=personas.team, target=f"t:{i}")
        with CaptureQueriesContext(connection) as ctx:
            assert c.get(TRAIL, {"action": "thing."}).status_code == 200
        return len(ctx.captured_queries)

    small, large = count(5), count(200)
    # session, user, MFA device check, memberships (middleware); the door's membership,
    # distinct actions (the filter's select), the team's newest event (the page cache's key),
    # one page of events, the actors' names
    assert small == large <= 9, (small, large)


# --- One event ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_event_detail_shows_data_escaped_hashes_and_target_link(personas):
    a = make_assessment(team=personas.team, actor=personas.risk_owner)
    ev = audit_record(
        "assessment.noted",
        actor=personas.risk_owner,
        team=personas.team,
        target=f"assessment:{a.pk}",
        data={"note": "<script>alert(1)</script>", "nested": {"b": 1}},
    )
    resp = personas.client(personas.auditor).get(reverse("audit_event", args=[ev.seq]))
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '"nested": {\n    "b": 1\n  }' in html.replace("&quot;", '"')  # pretty-printed
    assert ev.hash in html and ev.prev_hash in html
    assert f'href="{reverse("assessment_detail", args=[a.pk])}"' in html
    assert "risk@acme.test" in html
    assert "badge-ok" in html  # the hash recomputes


@pytest.mark.django_db
def test_event_detail_shows_a_changed_event(personas):
    ev = _seed(personas, 1)[0]
    with connection.cursor() as cur:
        cur.execute("UPDATE audit_event SET target = 'thing:99' WHERE seq = %s", [ev.seq])
    html = personas.client(personas.admin).get(reverse("audit_event", args=[ev.seq])).content
    assert b"badge-bad" in html and b"changed after it was recorded" in html


@pytest.mark.django_db
def test_event_of_another_team_or_of_no_team_is_404_and_recorded(personas):
    theirs = audit_record("thing.touched", team=personas.other_team, target="secret:theirs")
    system = audit_record("system.thing", target="secret:system")
    c = personas.client(personas.auditor)
    for seq in (theirs.seq, system.seq, 10**6, 2**63):
        resp = c.get(reverse("audit_event", args=[seq]))
        assert resp.status_code == 404
        assert b"secret:" not in resp.content
    denied = AuditEvent.objects.filter(action="access.denied", actor=personas.auditor.pk)
    assert denied.filter(team=personas.other_team.pk).count() == 1


# --- Exports --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_jsonl_export_is_the_verified_format_and_each_hash_recomputes(personas, tmp_path):
    _seed(personas, 4)
    audit_record("thing.touched", team=personas.other_team, target="thing:other")
    audit_record("member.added", actor=personas.admin, team=personas.team, target="user:5")
    c = personas.client(personas.auditor)
    resp = c.get(reverse("audit_export", args=["jsonl"]), {"action": "thing."})
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("application/x-ndjson")
    assert "attachment" in resp["Content-Disposition"]
    lines = _body(resp).decode().splitlines()
    assert len(lines) == 4
    # Byte for byte the lines the CLI's full export has for the same events.
    out = tmp_path / "full.jsonl"
    call_command("export_audit_log", "--out", str(out))
    full = {json.loads(line)["seq"]: line for line in out.read_text().splitlines()}
    for line in lines:
        ev = json.loads(line)
        assert list(ev) == sorted(EXPORT_FIELDS) and set(ev) == set(EXPORT_FIELDS)
        assert ev["team"] == personas.team.pk and ev["action"] == "thing.touched"
        body = {k: ev[k] for k in ("seq", "at", "actor", "action", "team", "target", "data")}
        assert event_hash(ev["prev_hash"], body) == ev["hash"]
        assert full[ev["seq"]] == line
    # The export is recorded, with what it holds; it stops before its own event.
    rec = AuditEvent.objects.get(action="audit.exported")
    assert rec.team == personas.team.pk and rec.actor == personas.auditor.pk
    assert rec.data == {
        "format": "jsonl",
        "filters": {"action": "thing."},
        "up_to_seq": rec.seq - 1,
    }
    assert max(json.loads(line)["seq"] for line in lines) < rec.seq


@pytest.mark.django_db
def test_csv_export_guards_against_formulas(personas):
    for target in ("=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", "plain:1"):
        audit_record(
            "thing.touched", actor=personas.admin, team=personas.team, target=target, data={}
        )
    resp = personas.client(personas.admin).get(reverse("audit_export", args=["csv"]))
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(_body(resp).decode("utf-8-sig"))))
    targets = [r["target"] for r in rows if r["action"] == "thing.touched"]
    assert targets == ["'=HYPERLINK(1)", "'+1", "'-2", "'@SUM(A1)", "plain:1"]
    assert {r["actor_email"] for r in rows} == {"admin@acme.test"}
    assert all(len(r["hash"]) == 64 and len(r["prev_hash"]) == 64 for r in rows)
    assert AuditEvent.objects.filter(action="audit.exported", data__format="csv").count() == 1


@pytest.mark.django_db
def test_unknown_export_format_is_404(personas):
    resp = personas.client(personas.admin).get(reverse("audit_export", args=["xml"]))
    assert resp.status_code == 404
    assert not AuditEvent.objects.filter(action="audit.exported").exists()


# --- Verify ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_verify_shows_ok_then_the_tampered_seq(personas):
    events = _seed(personas, 5)
    c = personas.client(personas.auditor)
    assert b"Verify now" in c.get(reverse("audit_verify")).content
    ok = c.post(reverse("audit_verify"))
    assert ok.status_code == 200
    head = AuditEvent.objects.order_by("-seq").first()  # before audit.verified was added: seq-1
    text = ok.content.decode()
    assert "The chain is intact" in text
    assert f"{head.seq - 1} events, head seq {head.seq - 1}" in text
    rec = AuditEvent.objects.get(action="audit.verified")
    assert rec.team == personas.team.pk and rec.data["ok"] is True

    bad = events[2]
    with connection.cursor() as cur:
        cur.execute("UPDATE audit_event SET data = '{\"i\": 999}' WHERE seq = %s", [bad.seq])
    fail = c.post(reverse("audit_verify")).content.decode()
    assert f"FAIL</span> at seq {bad.seq}" in fail
    assert "hash does not match content" in fail
    assert AuditEvent.objects.filter(action="audit.verified", data__ok=False).count() == 1


@pytest.mark.django_db
def test_verify_page_shows_the_latest_checkpoint_and_a_forged_one(personas):
    _seed(personas, 3)
    c = personas.client(personas.admin)
    assert b"No checkpoint yet" in c.get(reverse("audit_verify")).content
    cp = audit_checkpoint_take()
    page = c.get(reverse("audit_verify")).content.decode()
    assert f"Seq {cp.seq}" in page and cp.hash in page and "Signature valid" in page
    forged = cp.note.replace(f"\n{cp.seq}\n", f"\n{cp.seq + 1}\n")  # the signature no longer fits
    AuditCheckpoint.objects.filter(pk=cp.pk).update(note=forged)
    page = c.post(reverse("audit_verify")).content.decode()
    assert "Invalid signature" in page
    assert f"FAIL</span> at seq {cp.seq}" in page


def test_the_filter_lists_each_action_of_the_team_once_in_order(personas):
    """The distinct actions come from a recursive index walk, not SELECT DISTINCT: it must
    give exactly the team's own actions, sorted, and nothing of another team's."""
    from aigsec.audit.selectors import audit_actions_for_team

    team, other = personas.team.pk, personas.other_team.pk
    mine = ["z.last", "a.first", "m.middle", "a.first", "z.last", "a.first"]
    for action in mine:
        audit_record(action, actor=personas.admin, team=team, target="x:1")
    audit_record("b.only_theirs", actor=personas.stranger, team=other, target="x:2")
    audit_record("c.no_team", actor=personas.admin, team=None, target="x:3")
    expected = sorted(set(AuditEvent.objects.filter(team=team).values_list("action", flat=True)))
    assert {"a.first", "m.middle", "z.last"} <= set(expected)
    assert audit_actions_for_team(team) == expected
    assert "a.first" not in audit_actions_for_team(other)
    assert audit_actions_for_team(10**12) == []
    page = personas.client(personas.auditor).get(reverse("audit_trail")).content.decode()
    assert all(f'<option value="{a}"' in page for a in expected)
    assert "b.only_theirs" not in page
