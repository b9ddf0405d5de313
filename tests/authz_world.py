"""The world the authorisation matrix runs against: the same objects in both teams, so every
object URL can be called on an object of the caller's own team and on one of the other team.

Team "A" is `personas.team` (risk owner, auditor, manager, admin); team "B" is
`personas.other_team`, whose admin is the stranger. Each team gets a spare risk owner (the
target of role changes and removals, so no persona loses its own membership mid-test), a
framework of its own, an AI system, an assessment, file evidence linked to its first answer,
a signed report and an audit event; every persona gets a read-write API token.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from aigsec.accounts.models import Role, Team, User
from aigsec.accounts.services import api_token_create
from aigsec.audit.checkpoints import audit_checkpoint_take
from aigsec.audit.models import AuditEvent
from assessments import services as a_services
from evidence import services as e_services
from reports.models import Report, ReportStatus

from .conftest import Personas, login_with_second_factor
from .factories import AISystemFactory, MembershipFactory, UserFactory, make_framework_version

PERSONAS = ("risk_owner", "auditor", "manager", "admin", "stranger", "anonymous")
OWN, OTHER = "own", "other"
CSV = b"control,result\n1.1.1,pass\n"
PDF = b"%PDF-1.4\n% not really signed: the matrix only needs the bytes to match the row\n"


@dataclass(frozen=True)
class Ref:
    """A placeholder in a table entry: the id (or value) of `key` in the team of the side."""

    key: str


@dataclass(frozen=True)
class RefText:
    """A placeholder inside a text value: `fmt` with `{}` replaced by the id of `key` in the
    team of the side (a bulk review's checkbox value, "evidence:{}::")."""

    fmt: str
    key: str


@dataclass(frozen=True)
class Upload:
    """A file field of a request body; a fresh file object per request."""

    name: str
    data: bytes

    def make(self) -> SimpleUploadedFile:
        return SimpleUploadedFile(self.name, self.data)


@dataclass
class World:
    personas: Personas
    teams: dict[str, dict[str, Any]]  # "A" / "B" -> key -> value
    own_tokens: dict[str, int]  # persona -> id of the persona's own API token
    secrets: dict[str, str]  # persona -> its read-write bearer secret
    _clients: dict[str, Client] = field(default_factory=dict)

    def user(self, persona: str) -> User | None:
        return None if persona == "anonymous" else getattr(self.personas, persona)

    def role(self, persona: str) -> str | None:
        """The persona's role in its own team (the stranger is the admin of team B)."""
        return {
            "risk_owner": Role.RISK_OWNER,
            "auditor": Role.AUDITOR,
            "manager": Role.MANAGER,
            "admin": Role.ADMIN,
            "stranger": Role.ADMIN,
        }.get(persona)

    def team_key(self, persona: str, side: str) -> str:
        home = "B" if persona == "stranger" else "A"
        return home if side == OWN else {"A": "B", "B": "A"}[home]

    def resolve(self, value: Any, persona: str, side: str) -> Any:
        """Refs to ids of the side's team (the persona's own token on its own side), files
        to fresh uploads; dicts and lists recursively."""
        if isinstance(value, Ref):
            if value.key == "token" and side == OWN and persona in self.own_tokens:
                return self.own_tokens[persona]
            return self.teams[self.team_key(persona, side)][value.key]
        if isinstance(value, RefText):
            return value.fmt.format(self.resolve(Ref(value.key), persona, side))
        if isinstance(value, Upload):
            return value.make()
        if isinstance(value, dict):
            return {k: self.resolve(v, persona, side) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, persona, side) for v in value]
        return value

    def client(self, persona: str, *, fresh: bool = False) -> Client:
        """A signed-in browser (admins with a verified second factor, as at real sign-in)."""
        if fresh or persona not in self._clients:
            c = Client()
            user = self.user(persona)
            if user is not None:
                login_with_second_factor(c, user)
            if fresh:
                return c
            self._clients[persona] = c
        return self._clients[persona]

    def api(self, persona: str) -> APIClient:
        c = APIClient()
        if persona in self.secrets:
            c.credentials(HTTP_AUTHORIZATION=f"Bearer {self.secrets[persona]}")
        return c


def _signed_report(team: Team, assessment, user: User) -> Report:
    """A report row as the worker leaves it, without rendering a PDF (seconds per report)."""
    report = Report(team=team, assessment=assessment, requested_by=user)
    report.file.save("r.pdf", ContentFile(PDF), save=False)
    report.status = ReportStatus.SIGNED
    report.sha256 = hashlib.sha256(PDF).hexdigest()
    report.size = len(PDF)
    report.signed_at = timezone.now()
    report.save()
    return report


def _team_objects(team: Team, *, actor: User, owner: User | None, tag: str) -> dict[str, Any]:
    spare = MembershipFactory(
        team=team, role=Role.RISK_OWNER, user=UserFactory(email=f"spare@{tag}.test")
    )
    spare_token, _ = api_token_create(user=spare.user, name="spare")
    version = make_framework_version(1, 1, 2, owner_team=team)
    system = AISystemFactory(team=team, created_by=actor, name=f"System of {tag}")
    a = a_services.assessment_create(
        ai_system=system, framework_version=version, actor=actor, title=f"Assessment of {tag}"
    )
    r1, r2 = a.responses.select_related("control__guideline__pillar").order_by("control__order")
    evidence = e_services.evidence_create(
        team=team,
        actor=actor,
        kind="file",
        title=f"Evidence of {tag}",
        uploaded_file=SimpleUploadedFile("scan.csv", CSV),
        responses=[r1],
    )
    report = _signed_report(team, a, actor)
    return {
        "team": team.pk,
        "membership": spare.pk,
        "token": spare_token.pk,
        "owner": (owner or spare.user).pk,
        "framework": version.framework_id,
        "version": version.pk,
        "system": system.pk,
        "assessment": a.pk,
        "response": r1.pk,
        "response2": r2.pk,
        "guideline": r1.control.guideline_id,
        "pillar_ref": r1.control.guideline.pillar.ref,
        "evidence": evidence.pk,
        "report": report.pk,
        "audit_seq": AuditEvent.objects.filter(team=team.pk).latest("seq").seq,
    }


def build_world(personas: Personas) -> World:
    teams = {
        "A": _team_objects(
            personas.team, actor=personas.risk_owner, owner=personas.risk_owner, tag="a"
        ),
        "B": _team_objects(personas.other_team, actor=personas.stranger, owner=None, tag="b"),
    }
    # A published checkpoint of the audit log (after both teams' events), for its proofs.
    checkpoint = audit_checkpoint_take()
    for objects in teams.values():
        objects["checkpoint_size"] = checkpoint.seq
    own_tokens, secrets = {}, {}
    for name in PERSONAS[:-1]:
        token, secret = api_token_create(user=getattr(personas, name), name="matrix")
        own_tokens[name], secrets[name] = token.pk, secret
    return World(personas, teams, own_tokens, secrets)


# --- "A refusal changes nothing": a fingerprint of every row that a write could touch ---------

# Columns that reading (or being refused) legitimately touches: token and session bookkeeping.
_SKIP_COLUMNS = {"last_used_at", "last_login", "last_seen_at", "last_t"}
_SKIP_MODELS = {"usersession"}
_APPS = {"accounts", "assessments", "evidence", "reports", "otp_totp", "otp_static"}


def _fingerprint_sql() -> str:
    parts = []
    for model in apps.get_models():
        meta = model._meta
        if meta.app_label not in _APPS or meta.model_name in _SKIP_MODELS:
            continue
        cols = [
            connection.ops.quote_name(f.column)
            for f in meta.concrete_fields
            if f.name not in _SKIP_COLUMNS and not f.name.startswith("throttling_")
        ]
        pk = connection.ops.quote_name(meta.pk.column)
        table = meta.db_table
        # Names from the models' own metadata, no input of any kind: not an injection vector.
        rows = f"SELECT {', '.join(cols)} FROM {table}"  # noqa: S608
        digest = f"md5(coalesce(string_agg(t::text, '|' ORDER BY t.{pk}), ''))"
        parts.append(f"SELECT '{table}', {digest} FROM ({rows}) t")  # noqa: S608
    return " UNION ALL ".join(parts)


def fingerprint() -> dict[str, str]:
    """An md5 per table over every row and column (but _SKIP_COLUMNS), in one query, and the
    list of stored files (evidence, reports): a refused upload must not leave one behind."""
    with connection.cursor() as cur:
        cur.execute(_fingerprint_sql())
        out = dict(cur.fetchall())
    root = Path(settings.MEDIA_ROOT)
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    out["files under MEDIA_ROOT"] = hashlib.sha256("|".join(files).encode()).hexdigest()
    return out


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(t for t in before if before[t] != after[t])
