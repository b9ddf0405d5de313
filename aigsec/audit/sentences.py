"""Audit events as sentences a person reads: "Robin Owner answered 2.1.3: Not started →
Fully implemented", with names instead of `user:7` and the target as a link.

One table, `SENTENCES`, maps each action the code records to a sentence pattern; an action
not in it (a new one, or one from an older release) gets a generic sentence, so the page never
fails on it. tests/audit/test_audit_sentences.py checks that every `audit_record("…")` in the code
has an entry. The raw event stays one click away on the page.

`describe(events)` resolves every name a page needs with one query per kind of object (people,
AI systems, assessments, evidence, controls), whatever the number of events. Domain models are
looked up through the app registry: the audit trail stays below the domain apps.
"""

from __future__ import annotations

import string
from collections import defaultdict
from typing import Any

from django.apps import apps
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

# kind of target -> (app label, model, field shown, page URL name)
TARGET_MODELS: dict[str, tuple[str, str, str, str | None]] = {
    "aisystem": ("assessments", "AISystem", "name", "ai_system_detail"),
    "assessment": ("assessments", "Assessment", "title", "assessment_detail"),
    "evidenceitem": ("evidence", "EvidenceItem", "title", "evidence_detail"),
    "response": ("assessments", "Response", "control__ref", "response_edit"),
    "report": ("reports", "Report", "assessment__title", None),
}
ARROW = "→"

# action -> pattern. Fields: {actor}, {target}, and what `_fields` derives from the data.
SENTENCES: dict[str, str] = {
    "access.denied": "{actor} was refused access to {target}: {reason}",
    "ai_system.created": "{actor} added the AI system {target}",
    "ai_system.updated": "{actor} changed {target}: {changes}",
    "ai_system.archived": "{actor} archived the AI system {target}",
    "assessment.created": "{actor} started the assessment {target}",
    "assessment.status_changed": "{actor} moved {target}: {old} → {new}",
    "assessment.locked": "{actor} locked {target} (final)",
    "assessment.signed_off": "{actor} signed off {target}",
    "audit.exported": "{actor} exported the audit trail ({format})",
    "audit.verified": "{actor} verified the audit chain",
    "auth.login": "{actor} signed in",
    "auth.logout": "{actor} signed out",
    "auth.login_failed": "A sign-in as {email} failed",
    "auth.login_locked": "Sign-in as {email} locked after repeated failures",
    "auth.password_changed": "{actor} changed their password",
    "backup.created": "A backup was taken",
    "backup.failed": "A backup failed ({error})",
    "backup.restored": "The data was restored from a backup",
    "evidence.downloaded": "{actor} downloaded {target} (revision {revision})",
    "evidence.integrity_incident": "A stored file of {target} no longer matches its hash",
    "evidence.linked": "{actor} linked {target} to {response}",
    "evidence.revision_added": "{actor} added revision {revision} of {target}",
    "evidence.unlinked": "{actor} unlinked {target} from {response}",
    "evidence.uploaded": "{actor} added the evidence {target}",
    "evidence.verified": "The nightly check verified {checked} evidence files ({failed} failed)",
    "evidence.withdrawn": "{actor} withdrew {target}: {reason}",
    "export.downloaded": "{actor} exported {target} ({format})",
    "framework.loaded": "{actor} loaded a framework",
    "login.mfa_failed": "{actor}: a wrong second-factor code",
    "member.added": "{actor} added {target} as {role}",
    "member.removed": "{actor} removed {target} (was {role})",
    "member.role_changed": "{actor} changed the role of {target}: {old} → {new}",
    "mfa.disabled": "{actor} turned off two-factor sign-in for {target}",
    "mfa.enabled": "{actor} turned on two-factor sign-in",
    "mfa.recovery_code_used": "{actor} used a recovery code ({left} left)",
    "mfa.recovery_codes_regenerated": "{actor} made new recovery codes",
    "report.downloaded": "{actor} downloaded the report on {target}",
    "report.failed": "The report on {target} failed",
    "report.integrity_failed": "A stored report of {target} no longer matches its hash",
    "report.rendered": "The report on {target} was signed",
    "report.requested": "{actor} asked for a signed report on {target}",
    "report.verified": "{actor} checked a signed report ({outcome})",
    "response.answered": "{actor} answered {target}: {old} → {new}",
    "response.commented": "{actor} commented on {target}",
    "response.owner_assigned": "{actor} assigned {target}: {assignment}",
    "review.recorded": "{actor} {decision} {target}",
    "session.ended": "{actor} ended sessions of {target} ({reason})",
    "session.expired": "A session of {target} ended ({reason})",
    "session.records_pruned": "Old session records were removed",
    "team.created": "{actor} created the team {name}",
    "team.mfa_required_changed": "{actor} {mfa_rule}",
    "token.created": "{actor} created the API token “{name}”",
    "token.revoked": "{actor} revoked an API token",
    "user.deactivated": "{actor} deactivated {target}",
}
GENERIC = "{actor}: {action} on {target}"
DECISIONS = {
    "accepted": "accepted",
    "rejected": "rejected",
    "changes_requested": "requested changes to",
}


def _labels(app: str, model: str, field: str) -> dict[str, str]:
    m = apps.get_model(app, model)
    return {str(k): str(v) for k, v in m._meta.get_field(field).choices or ()}


def _status_label(value: Any, kind: str) -> str:
    tables = {
        "response": ("assessments", "Response", "status"),
        "assessment": ("assessments", "Assessment", "status"),
        "role": ("accounts", "Membership", "role"),
    }
    if value in (None, ""):
        return "—"
    return _labels(*tables[kind]).get(str(value), str(value))


class Names:
    """Every person and object the events of a page name, one query per kind."""

    def __init__(self, events: list[Any]) -> None:
        wanted: dict[str, set[int]] = defaultdict(set)
        for ev in events:
            if ev.actor:
                wanted["user"].add(ev.actor)
            kind, ident = _split(ev.target)
            if kind and ident is not None:
                wanted[kind].add(ident)
            for key, kind in (("response", "response"), ("owner", "user")):
                value = (ev.data or {}).get(key) if isinstance(ev.data, dict) else None
                if isinstance(value, int):
                    wanted[kind].add(value)
                elif isinstance(value, dict):
                    for v in (value.get("old"), value.get("new")):
                        if isinstance(v, int):
                            wanted["user"].add(v)
        self.users: dict[int, str] = {}
        if wanted["user"]:
            User = apps.get_model("accounts", "User")
            for pk, full, email in User.objects.filter(pk__in=wanted["user"]).values_list(
                "pk", "full_name", "email"
            ):
                self.users[pk] = full or email
        self.objects: dict[str, dict[int, str]] = {}
        for kind, (app, model, field, _url) in TARGET_MODELS.items():
            if wanted[kind]:
                m = apps.get_model(app, model)
                rows = m.objects.filter(pk__in=wanted[kind]).order_by().values_list("pk", field)
                self.objects[kind] = {pk: str(v) for pk, v in rows}

    def user(self, pk: int | None) -> str:
        if pk is None:
            return "nobody"
        return self.users.get(pk, f"a removed user (#{pk})")

    def link(self, target: str | None) -> SafeString:
        """The target named and, when it has a page, linked (its door checks access again)."""
        kind, ident = _split(target)
        if kind is None or ident is None:
            return format_html("{}", target or "—")
        if kind == "user":
            return format_html("{}", self.user(ident))
        label = self.objects.get(kind, {}).get(ident)
        if label is None:  # deleted, or a kind without a page: as recorded
            label = target or "—"
        elif kind != "response":  # a control is named by its ref alone: 2.1.3
            label = f"“{label}”"
        url = _url(kind, ident) if kind in self.objects and ident in self.objects[kind] else ""
        return format_html('<a href="{}">{}</a>', url, label) if url else format_html("{}", label)


def _split(target: str | None) -> tuple[str | None, int | None]:
    kind, _, ident = (target or "").partition(":")
    if not kind or not ident.isdigit() or len(ident) > 18:
        return (kind or None), None
    return kind, int(ident)


def _url(kind: str, ident: int) -> str:
    name = TARGET_MODELS.get(kind, ("", "", "", None))[3]
    if name is None:
        return ""
    try:
        return reverse(name, args=[ident])
    except NoReverseMatch:
        return ""


def _fields(ev: Any, names: Names) -> dict[str, Any]:
    """The values a pattern may name, derived from the event's data."""
    d: dict[str, Any] = ev.data if isinstance(ev.data, dict) else {}
    action = ev.action
    out: dict[str, Any] = {k: v for k, v in d.items() if isinstance(v, str | int | float)}
    if action == "response.answered":
        out["old"], out["new"] = (
            _status_label(d.get("old"), "response"),
            _status_label(d.get("new"), "response"),
        )
    elif action == "assessment.status_changed":
        out["old"], out["new"] = (
            _status_label(d.get("old"), "assessment"),
            _status_label(d.get("new"), "assessment"),
        )
    elif action == "member.role_changed":
        out["old"], out["new"] = (
            _status_label(d.get("old"), "role"),
            _status_label(d.get("new"), "role"),
        )
    elif action in ("member.added", "member.removed"):
        out["role"] = _status_label(d.get("role"), "role")
    elif action == "review.recorded":
        out["decision"] = DECISIONS.get(str(d.get("decision")), f"reviewed ({d.get('decision')})")
    elif action == "response.owner_assigned":
        out["assignment"] = _assignment(d, names)
    elif action == "ai_system.updated":
        changes = d.get("changes") if isinstance(d.get("changes"), dict) else {}
        out["changes"] = ", ".join(sorted(changes)) or "no field"
    elif action == "team.mfa_required_changed":
        out["mfa_rule"] = (
            "required two-factor sign-in for the team"
            if d.get("new")
            else "made two-factor sign-in optional for the team"
        )
    elif action == "report.verified":
        out["outcome"] = "valid" if d.get("ok") else "not valid"
    if isinstance(d.get("response"), int):
        out["response"] = names.link(f"response:{d['response']}")
    return out


def _assignment(d: dict[str, Any], names: Names) -> str:
    parts = []
    if "controls" in d:  # a whole guideline at once
        n = len(d.get("controls") or [])
        parts.append(f"{n} control{'s' if n != 1 else ''} to {names.user(d.get('owner'))}")
        if d.get("due_date"):
            parts.append(f"due {d['due_date']}")
        return ", ".join(parts)
    if isinstance(d.get("owner"), dict):
        o = d["owner"]
        parts.append(f"owner {names.user(o.get('old'))} → {names.user(o.get('new'))}")
    if isinstance(d.get("due_date"), dict):
        dd = d["due_date"]
        parts.append(f"due {dd.get('old') or '—'} → {dd.get('new') or '—'}")
    return ", ".join(parts) or "no change"


class _Missing(dict):
    """A pattern naming a value the event lacks shows a dash, never a KeyError."""

    def __missing__(self, key: str) -> str:
        return "—"


def sentence(ev: Any, names: Names) -> SafeString:
    """One event as a sentence; values escaped (format_html), the target a link."""
    pattern = SENTENCES.get(ev.action, GENERIC)
    values = _Missing(_fields(ev, names))
    values["actor"] = names.user(ev.actor) if ev.actor else "The system"
    values["target"] = names.link(ev.target)
    values["action"] = ev.action
    # format_html escapes every value; the already-safe links stay links.
    keys = _keys(pattern)
    if not keys:  # format_html needs at least one value
        return format_html("{}", pattern)
    return format_html(pattern, **{k: values[k] for k in keys})


def _keys(pattern: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(pattern) if f}


def describe(events: list[Any]) -> list[Any]:
    """Give each event `.sentence` (safe HTML) and `.actor_name`, resolving names in one
    query per kind of object named on the page."""
    resolved = Names(events)
    for ev in events:
        ev.sentence = sentence(ev, resolved)
        ev.actor_name = resolved.user(ev.actor) if ev.actor else ""
    return events
