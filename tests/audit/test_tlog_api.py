"""The transparency log's endpoints as people and scripts use them: the public key, checkpoint
and consistency proofs without login (and their abuse: garbage, huge and negative numbers,
floods), an event's proof for its team's auditors only, and the team's bundle, which holds no
other team's line and verifies offline with docs/verify_audit_bundle.py (run as a process).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from aigsec.audit import merkle
from aigsec.audit.checkpoints import audit_checkpoint_take
from aigsec.audit.keys import verifier
from aigsec.audit.models import AuditEvent
from aigsec.audit.note import open_checkpoint
from aigsec.audit.services import audit_record

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "verify_audit_bundle.py"
VKEY_URL = "/.well-known/aigsec/audit-log-vkey"
CHECKPOINT_URL = "/api/v1/audit/checkpoint/"
CONSISTENCY_URL = "/api/v1/audit/consistency/"
BUNDLE_URL = "/api/v1/audit/bundle/"


def _events(team, n: int, tag: str) -> None:
    for i in range(n):
        audit_record("test.event", team=team, target=f"{tag}:{i}", data={"i": i})


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60
    )


# --- Without login --------------------------------------------------------------------------


def test_the_verifier_key_is_public_plain_text(client):
    resp = client.get(VKEY_URL)
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/plain")
    assert resp.content.decode() == verifier().vkey + "\n"
    assert client.post(VKEY_URL).status_code == 405


def test_the_checkpoint_is_public_plain_text_and_empty_before_the_first(client):
    resp = client.get(CHECKPOINT_URL)
    assert resp.status_code == 404 and "No checkpoint" in resp.json()["detail"]
    _events(None, 3, "sys")
    cp = audit_checkpoint_take()
    resp = client.get(CHECKPOINT_URL)
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/plain")
    assert resp.content.decode() == cp.note
    assert open_checkpoint(cp.note, verifier()).size == 3


def test_consistency_proof_between_published_checkpoints_verifies(client):
    _events(None, 5, "a")
    first = audit_checkpoint_take()
    _events(None, 12, "b")
    second = audit_checkpoint_take()
    resp = client.get(CONSISTENCY_URL, {"first": first.seq, "second": second.seq})
    assert resp.status_code == 200
    body = resp.json()
    assert (body["first"], body["second"]) == (5, 17)
    proof = [bytes.fromhex(h) for h in body["proof"]]
    a, b = bytes.fromhex(first.root), bytes.fromhex(second.root)
    assert merkle.verify_consistency(5, 17, a, b, proof)
    assert client.get(CONSISTENCY_URL, {"first": 17, "second": 17}).json()["proof"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "first"),
        ({"first": 5}, "second"),
        ({"first": "abc", "second": 5}, "first"),
        ({"first": "5.5", "second": 5}, "first"),
        ({"first": -1, "second": 5}, "first"),
        ({"first": 0, "second": 5}, "first"),
        ({"first": 5, "second": "9" * 40}, "second"),
        ({"first": 5, "second": 2**63}, "second"),
        ({"first": 5, "second": 4}, "second"),
        ({"first": 6, "second": 5}, "second"),
        ({"first": 5, "second": 6}, "second"),  # no checkpoint at 6
        ({"first": 3, "second": 5}, "first"),  # nor at 3
    ],
)
def test_bad_consistency_parameters_are_a_400_naming_the_field(client, query, field):
    _events(None, 5, "a")
    audit_checkpoint_take()
    events = AuditEvent.objects.count()
    resp = client.get(CONSISTENCY_URL, query)
    assert resp.status_code == 400, resp.content
    assert field in resp.json(), resp.json()
    assert AuditEvent.objects.count() == events  # nothing written


def test_public_endpoints_are_rate_limited_per_ip(client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "audit_public:ip": "3/m"}
    _events(None, 2, "a")
    audit_checkpoint_take()
    for _ in range(3):
        assert client.get(CHECKPOINT_URL).status_code == 200
    resp = client.get(CHECKPOINT_URL)
    assert resp.status_code == 429 and "Retry-After" in resp
    assert client.get(CONSISTENCY_URL, {"first": 2, "second": 2}).status_code == 429
    assert client.get(VKEY_URL).status_code == 429
    # Another address is not limited by this one's requests.
    assert client.get(CHECKPOINT_URL, REMOTE_ADDR="10.9.9.9").status_code == 200


# --- One event's proof ----------------------------------------------------------------------


def test_an_auditor_gets_the_proof_of_a_team_event(personas):
    _events(personas.team, 6, "mine")
    _events(personas.other_team, 4, "theirs")
    ev = AuditEvent.objects.filter(team=personas.team.pk).order_by("seq")[2]
    c = personas.client(personas.auditor)
    resp = c.get(f"/api/v1/audit/events/{ev.seq}/proof/")
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"seq", "line", "index", "tree_size", "proof"}
    assert body["index"] == ev.seq - 1 and json.loads(body["line"])["target"] == ev.target
    cp = open_checkpoint(c.get(CHECKPOINT_URL).content.decode(), verifier())
    assert body["tree_size"] == cp.size  # a checkpoint was taken to cover the event
    leaf = merkle.leaf_hash(body["line"].encode())
    proof = [bytes.fromhex(h) for h in body["proof"]]
    assert merkle.verify_inclusion(body["index"], cp.size, leaf, proof, cp.root)
    # Against an older published size that holds the event.
    _events(personas.team, 3, "later")
    audit_checkpoint_take()
    older = c.get(f"/api/v1/audit/events/{ev.seq}/proof/", {"tree_size": cp.size}).json()
    assert older["proof"] == body["proof"] and older["tree_size"] == cp.size


def test_the_proof_is_refused_to_other_roles_and_teams(personas):
    _events(personas.team, 2, "mine")
    seq = AuditEvent.objects.filter(team=personas.team.pk).latest("seq").seq
    url = f"/api/v1/audit/events/{seq}/proof/"
    assert personas.client(personas.risk_owner).get(url).status_code == 403
    assert personas.client(personas.stranger).get(url).status_code == 404
    assert personas.client(None).get(url).status_code in (401, 403)
    assert AuditEvent.objects.filter(action="access.denied").count() == 2


@pytest.mark.parametrize(
    ("path", "query", "code"),
    [
        ("99999999999999999999999", {}, 404),
        (str(2**63), {}, 404),
        ("0", {}, 404),
        ("424242", {}, 404),
        ("SEQ", {"tree_size": "abc"}, 400),
        ("SEQ", {"tree_size": "-4"}, 400),
        ("SEQ", {"tree_size": "9" * 30}, 400),
        ("SEQ", {"tree_size": "1"}, 400),  # smaller than the event's seq
        ("SEQ", {"tree_size": "SEQ"}, 400),  # no checkpoint published at that size
    ],
)
def test_bad_proof_requests_are_4xx_not_500(personas, path, query, code):
    _events(personas.team, 3, "mine")
    audit_checkpoint_take()
    _events(personas.team, 1, "mine-later")
    seq = str(AuditEvent.objects.filter(team=personas.team.pk).latest("seq").seq)
    query = {k: v.replace("SEQ", seq) for k, v in query.items()}
    resp = personas.client(personas.auditor).get(
        f"/api/v1/audit/events/{path.replace('SEQ', seq)}/proof/", query
    )
    assert resp.status_code == code, resp.content
    if code == 400:
        assert "tree_size" in resp.json()


# --- The team's bundle ----------------------------------------------------------------------


def test_the_bundle_holds_only_the_team_and_verifies_offline(personas, tmp_path):
    _events(personas.team, 8, "acme-secret")
    _events(personas.other_team, 8, "other-secret")
    _events(personas.team, 5, "acme-secret-2")
    resp = personas.client(personas.auditor).get(BUNDLE_URL)
    assert resp.status_code == 200
    assert "attachment" in resp["Content-Disposition"]
    bundle = resp.json()
    assert set(bundle) == {"checkpoint", "events"}
    teams = {json.loads(e["line"])["team"] for e in bundle["events"]}
    assert teams == {personas.team.pk} and len(bundle["events"]) == 13
    assert b"other-secret" not in resp.content
    assert all(set(e) == {"line", "index", "proof"} for e in bundle["events"])
    # The bundle is itself recorded, as every export is.
    assert AuditEvent.objects.filter(action="audit.exported", data__format="bundle").exists()

    path, vkey = tmp_path / "bundle.json", tmp_path / "vkey.txt"
    path.write_bytes(resp.content)
    vkey.write_text(personas.client(None).get(VKEY_URL).content.decode())
    done = _run("bundle", str(path), "--vkey", str(vkey), "--team", str(personas.team.pk))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK: 13 events")
    # One changed character in one line, or an event of another team slipped in: refused.
    forged = dict(bundle)
    forged["events"] = [dict(e) for e in bundle["events"]]
    forged["events"][4]["line"] = forged["events"][4]["line"].replace("acme-secret", "acme-sekret")
    path.write_text(json.dumps(forged))
    done = _run("bundle", str(path), "--vkey", str(vkey))
    assert done.returncode == 1 and "is not in the signed log" in done.stdout
    done = _run("bundle", str(path), "--vkey", str(vkey), "--team", str(personas.other_team.pk))
    assert done.returncode == 1 and "is not of team" in done.stdout


def test_the_bundle_takes_the_audit_page_filters(personas):
    _events(personas.team, 3, "a")
    audit_record("other.thing", team=personas.team, target="b:1")
    c = personas.client(personas.admin)
    body = c.get(BUNDLE_URL, {"action": "other.thing"}).json()
    assert [json.loads(e["line"])["action"] for e in body["events"]] == ["other.thing"]
    empty = c.get(BUNDLE_URL, {"target": "nothing-matches"}).json()
    assert empty["events"] == [] and empty["checkpoint"]
    bad = c.get(BUNDLE_URL, {"date_from": "not-a-date", "action": "no.such"})
    assert bad.status_code == 400 and {"date_from", "action"} <= set(bad.json())


def test_the_bundle_is_refused_to_roles_without_the_audit_permission(personas):
    _events(personas.team, 2, "a")
    assert personas.client(personas.risk_owner).get(BUNDLE_URL).status_code == 403
    assert personas.client(personas.manager).get(BUNDLE_URL).status_code == 403
    # The stranger gets a bundle of their own team: none of these events.
    body = personas.client(personas.stranger).get(BUNDLE_URL).json()
    assert all(json.loads(e["line"])["team"] == personas.other_team.pk for e in body["events"])


def test_a_huge_bundle_is_refused_with_a_hint(personas, monkeypatch):
    from aigsec.audit import logproofs

    monkeypatch.setattr(logproofs, "BUNDLE_MAX_EVENTS", 3)
    _events(personas.team, 4, "a")
    resp = personas.client(personas.auditor).get(BUNDLE_URL)
    assert resp.status_code == 400 and "narrow" in resp.json()["date_from"][0]


def test_the_bundle_query_count_does_not_grow_with_the_events(personas):
    c = personas.client(personas.auditor)

    def queries_for(n: int) -> int:
        _events(personas.team, n, f"batch{n}")
        audit_checkpoint_take()
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert c.get(BUNDLE_URL).status_code == 200
        return len(ctx.captured_queries)

    small, large = queries_for(20), queries_for(60)
    # Session and membership, the filter's actions, the count, the export event (head lock,
    # insert, head update), the bound, the covering checkpoint (taken: the export event is new),
    # the rows, the stored nodes of every level (one query per 5,000 nodes) and the events of
    # the proofs' lowest levels (one query per 5,000 events): the same at 20 and 80 events.
    assert small == large, (small, large)


def test_the_audit_page_offers_the_bundle(personas):
    _events(personas.team, 2, "a")
    page = personas.client(personas.auditor).get(reverse("audit_trail"), {"action": "test."})
    html = page.content.decode()
    assert f'href="{BUNDLE_URL}?' in html and "Verifiable bundle" in html
