"""Bulk seeding of a benchmark database (PostgreSQL only: the large tables go in with COPY).

The data is shaped like a real organisation's, so that the pages touch what they would in
production: teams of ten people, two assessments per AI system (an older final one and a newer
one in progress), evidence linked to answers, reviews, and an audit trail that is a valid hash
chain continuing from whatever the database already holds (built with the same functions as
`audit_record`, so `verify_audit_log` passes). One assessment, the "flagship", has every
control answered and reviewed and `flagship_evidence` items linked, the first `real_files`
of them real files under MEDIA_ROOT: the largest assessment of the benchmark.

Ids are reserved from each table's sequence in one block, so rows can refer to each other
before they are written and the sequences stay right for the application afterwards.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import connection, models, transaction
from django.utils import timezone

from aigsec.accounts.models import Membership, Role, Team, User
from aigsec.audit.chain import canonical_json, event_hash, format_at
from aigsec.audit.models import AuditChainHead, AuditEvent
from assessments.models import (
    AISystem,
    Assessment,
    AssessmentStatus,
    Control,
    FrameworkVersion,
    Response,
    ResponseStatus,
)
from evidence.models import EvidenceItem, EvidenceLink, EvidenceRevision
from reviews.models import Review

from .scales import Scale

BENCH_PASSWORD = "bench-password-not-secret"  # noqa: S105 (a throwaway database)
ANSWERED = [
    ResponseStatus.FULL,
    ResponseStatus.FULL,
    ResponseStatus.LARGELY,
    ResponseStatus.LARGELY,
    ResponseStatus.PARTIAL,
    ResponseStatus.NOT_IMPLEMENTED,
    ResponseStatus.NOT_APPLICABLE,
]
NEEDS_JUSTIFICATION = {ResponseStatus.PARTIAL, ResponseStatus.NOT_APPLICABLE}
TITLES = ["policy", "test log", "model card", "scan report"]
# The application's own actions (what a year of work leaves in the trail).
AUDIT_ACTIONS = [
    ("response.answered", "response"),
    ("response.answered", "response"),
    ("response.answered", "response"),
    ("evidence.uploaded", "evidenceitem"),
    ("evidence.linked", "evidenceitem"),
    ("review.recorded", "response"),
    ("review.recorded", "evidenceitem"),
    ("assessment.status_changed", "assessment"),
    ("response.owner_assigned", "response"),
    ("evidence.downloaded", "evidenceitem"),
]
# Each target's newest review (by created_at, id) among the reviews from id %s on.
LATEST_REVIEW_SQL = [
    """UPDATE assessments_response AS t SET latest_review_id = x.id
    FROM (SELECT DISTINCT ON (response_id) response_id AS target, id FROM evidence_review
          WHERE response_id IS NOT NULL AND id >= %s
          ORDER BY response_id, created_at DESC, id DESC) AS x
    WHERE t.id = x.target""",
    """UPDATE evidence_evidenceitem AS t SET latest_review_id = x.id
    FROM (SELECT DISTINCT ON (evidence_id) evidence_id AS target, id FROM evidence_review
          WHERE evidence_id IS NOT NULL AND id >= %s
          ORDER BY evidence_id, created_at DESC, id DESC) AS x
    WHERE t.id = x.target""",
]


@dataclass
class SeedResult:
    counts: dict[str, int] = field(default_factory=dict)
    flagship_id: int = 0
    flagship_team_id: int = 0
    risk_owner_id: int = 0  # of the flagship's team: owns answers (My work), may answer
    auditor_id: int = 0  # of the flagship's team: review queue, audit trail
    manager_id: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "flagship_id": self.flagship_id,
            "flagship_team_id": self.flagship_team_id,
            "risk_owner_id": self.risk_owner_id,
            "auditor_id": self.auditor_id,
            "manager_id": self.manager_id,
            "seconds": round(self.seconds, 1),
        }


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _reserve(model: type[models.Model], n: int) -> int:
    """Take a block of n ids from the table's sequence; returns the first."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_get_serial_sequence(%s, 'id')", [model._meta.db_table])
        seq = cur.fetchone()[0]
        cur.execute("SELECT nextval(%s)", [seq])
        first = cur.fetchone()[0]
        if n > 1:
            cur.execute("SELECT setval(%s, %s)", [seq, first + n - 1])
    return first


def _copy(model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    cols = ", ".join(connection.ops.quote_name(model._meta.get_field(f).column) for f in fields)
    n = 0
    with connection.cursor() as cur, cur.copy(f"COPY {_table(model)} ({cols}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)
            n += 1
    return n


def _roles(n: int) -> list[str]:
    risk = max(1, n // 2)
    auditors = max(1, (n - 1 - risk) // 2)
    managers = max(1, n - 1 - risk - auditors)
    return (
        [Role.ADMIN]
        + [Role.RISK_OWNER] * risk
        + [Role.AUDITOR] * auditors
        + [Role.MANAGER] * managers
    )


class _Seeder:
    def __init__(self, scale: Scale, media_root: Path, log: Callable[[str], None]):
        self.s = scale
        self.media_root = media_root
        self.log = log
        self.rng = random.Random(20231127)  # noqa: S311 (repeatable data, not secrets)
        self.now = timezone.now()
        self.today = timezone.localdate()
        self.result = SeedResult()
        # per team: user ids by role, system ids, assessment ids, response ids...
        self.team_ids: list[int] = []
        self.users: dict[int, dict[str, list[int]]] = {}
        self.responses_of: dict[int, list[tuple[int, str, int]]] = {}  # assessment -> rows
        self.assessments_of: dict[int, list[int]] = {}
        self.open_assessments: set[int] = set()

    # --- small tables, through the ORM --------------------------------------------------

    def people_and_systems(self) -> None:
        s = self.s
        version = FrameworkVersion.objects.order_by("framework_id", "-number").first()
        if version is None:
            raise RuntimeError("Load the framework first (manage.py load_framework).")
        self.controls = list(
            Control.objects.filter(version=version).order_by("order").values_list("pk", "weight")
        )
        self.version = version
        tag = uuid.uuid4().hex[:6]  # several seeds in one database stay unique
        teams = Team.objects.bulk_create(
            Team(name=f"Bench team {tag}-{t:03d}", slug=f"bench-{tag}-{t:03d}")
            for t in range(s.teams)
        )
        self.team_ids = [t.pk for t in teams]
        password = make_password(BENCH_PASSWORD)  # hashed once, shared: Argon2 is slow on purpose
        roles = _roles(s.users_per_team)
        users, memberships = [], []
        for t in range(s.teams):
            for k, role in enumerate(roles):
                users.append(
                    User(
                        email=f"t{t:03d}-{k:02d}-{role}-{tag}@bench.test",
                        full_name=f"Bench {role.replace('_', ' ')} {t}.{k}",
                        password=password,
                    )
                )
        users = User.objects.bulk_create(users, batch_size=2000)
        for i, u in enumerate(users):
            t, k = divmod(i, len(roles))
            team_id = self.team_ids[t]
            self.users.setdefault(team_id, {}).setdefault(roles[k], []).append(u.pk)
            memberships.append(Membership(user_id=u.pk, team_id=team_id, role=roles[k]))
        Membership.objects.bulk_create(memberships, batch_size=2000)
        per_team = max(1, s.systems // s.teams)
        systems = AISystem.objects.bulk_create(
            (
                AISystem(
                    team_id=team_id,
                    name=f"AI system {t}.{k:03d}",
                    description="Benchmark AI system.",
                    business_owner="Bench",
                    criticality=["low", "medium", "high", "critical"][k % 4],
                    model_source=["in_house", "fine_tuned", "hosted_third_party", "external_api"][
                        k % 4
                    ],
                    status="production",
                    created_by_id=self.users[team_id][Role.ADMIN][0],
                )
                for t, team_id in enumerate(self.team_ids)
                for k in range(per_team)
            ),
            batch_size=2000,
        )
        per_system = max(1, s.assessments // max(1, len(systems)))
        rows = []
        start = self.now - dt.timedelta(days=400)
        for sys in systems:
            for n in range(per_system):
                final = n < per_system - 1  # all but the newest are final
                created = start + dt.timedelta(days=150 * n, minutes=sys.pk % 1000)
                rows.append(
                    Assessment(
                        team_id=sys.team_id,
                        ai_system_id=sys.pk,
                        framework_version=version,
                        title=f"{sys.name} — round {n + 1}",
                        status=AssessmentStatus.FINAL if final else AssessmentStatus.IN_PROGRESS,
                        finalised_at=created + dt.timedelta(days=60) if final else None,
                        created_by_id=self.users[sys.team_id][Role.RISK_OWNER][0],
                        created_at=created,
                    )
                )
        assessments = Assessment.objects.bulk_create(rows, batch_size=2000)
        for a in assessments:
            self.assessments_of.setdefault(a.team_id, []).append(a.pk)
            if a.status != AssessmentStatus.FINAL:
                self.open_assessments.add(a.pk)
        # The flagship: the newest assessment of the first team's first system.
        first_team = self.team_ids[0]
        self.flagship = max(
            a.pk
            for a in assessments
            if a.ai_system_id == systems[0].pk and a.status != AssessmentStatus.FINAL
        )
        r = self.result
        r.flagship_id, r.flagship_team_id = self.flagship, first_team
        r.risk_owner_id = self.users[first_team][Role.RISK_OWNER][0]
        r.auditor_id = self.users[first_team][Role.AUDITOR][0]
        r.manager_id = self.users[first_team][Role.MANAGER][0]
        r.counts.update(
            teams=len(teams),
            users=len(users),
            ai_systems=len(systems),
            assessments=len(assessments),
        )

    # --- large tables, with COPY --------------------------------------------------------

    def responses(self) -> None:
        rng, today = self.rng, self.today
        ids = [a for team in self.team_ids for a in self.assessments_of[team]]
        n = len(ids) * len(self.controls)
        next_id = _reserve(Response, n)
        rows = []
        for team in self.team_ids:
            owners = self.users[team][Role.RISK_OWNER]
            for a in self.assessments_of[team]:
                is_open = a in self.open_assessments
                out = self.responses_of[a] = []
                for i, (control_id, _weight) in enumerate(self.controls):
                    if a == self.flagship:
                        status = ANSWERED[i % len(ANSWERED)]
                    elif is_open and rng.random() < 0.35:
                        status = ResponseStatus.NOT_STARTED
                    else:
                        status = rng.choice(ANSWERED)
                    due = today + dt.timedelta(days=rng.randint(-60, 120)) if is_open else None
                    owner = owners[(a + i) % len(owners)]
                    updated = self.now - dt.timedelta(days=rng.randint(30, 300))
                    rows.append(
                        (
                            next_id,
                            a,
                            control_id,
                            status,
                            "Bench justification: see the linked evidence."
                            if status in NEEDS_JUSTIFICATION
                            else "",
                            owner,
                            due,
                            1,
                            updated,
                            owner,
                        )
                    )
                    out.append((next_id, status, owner))
                    next_id += 1
        fields = ("id", "assessment", "control", "status", "justification", "owner", "due_date")
        fields += ("version", "updated_at", "updated_by")
        self.result.counts["responses"] = _copy(Response, fields, rows)
        self.response_updated = {row[0]: row[8] for row in rows}

    def evidence(self) -> None:
        s, rng, today = self.s, self.rng, self.today
        per_team = max(1, s.evidence // s.teams)
        n_items = per_team * s.teams
        item_id = _reserve(EvidenceItem, n_items)
        items, revisions, links = [], [], []
        self.items_of: dict[int, list[int]] = {}  # team -> live item ids
        self.item_created: dict[int, dt.datetime] = {}
        self.flagship_items: list[int] = []
        flagship_responses = [r[0] for r in self.responses_of[self.flagship]]
        for t, team in enumerate(self.team_ids):
            owners = self.users[team][Role.RISK_OWNER]
            team_responses = [
                r[0]
                for a in self.assessments_of[team]
                if a != self.flagship
                for r in self.responses_of[a]
            ]
            live = self.items_of[team] = []
            for k in range(per_team):
                flagship = t == 0 and k < s.flagship_evidence
                kind = "file" if flagship or k % 10 < 7 else ("link" if k % 10 < 9 else "note")
                collected = today - dt.timedelta(days=rng.randint(0, 500))
                valid_until = collected + dt.timedelta(days=365)
                withdrawn = not flagship and k % 50 == 49
                created = self.now - dt.timedelta(days=(today - collected).days, seconds=k)
                owner = owners[k % len(owners)]
                items.append(
                    (
                        item_id,
                        team,
                        kind,
                        f"Evidence {t}.{k:05d}: {TITLES[k % len(TITLES)]}",
                        "Benchmark evidence item.",
                        f"https://docs.example.test/evidence/{t}/{k}" if kind == "link" else "",
                        "Reviewed in the weekly security meeting." if kind == "note" else "",
                        owner,
                        collected,
                        valid_until,
                        json.dumps(["bench", f"t{t}"]),
                        owner,
                        created,
                        created + dt.timedelta(days=1) if withdrawn else None,
                        "Superseded." if withdrawn else "",
                    )
                )
                if kind == "file":
                    real = flagship and k < s.real_files
                    revisions.append(self._revision(team, item_id, owner, created, real=real))
                if flagship:
                    response = flagship_responses[k % len(flagship_responses)]
                    links.append((item_id, response, owner, created))
                    self.flagship_items.append(item_id)
                elif not withdrawn and team_responses and k % 10 < 8:
                    links.append((item_id, rng.choice(team_responses), owner, created))
                if not withdrawn:
                    live.append(item_id)
                self.item_created[item_id] = created
                item_id += 1
        # The revision ids, reserved before the items are written: item -> its one revision,
        # for the items' denormalised newest revision (as the services keep it) and the reviews.
        # (The foreign keys are checked at commit, so an item may name a revision written next.)
        rev_id = _reserve(EvidenceRevision, len(revisions))
        self.revision_of = {r[0]: rev_id + i for i, r in enumerate(revisions)}
        fields = ("id", "team", "kind", "title", "description", "url", "note", "owner")
        fields += ("collected_on", "valid_until", "tags", "created_by", "created_at")
        fields += ("withdrawn_at", "withdrawn_reason", "latest_revision")
        c = self.result.counts
        c["evidence_items"] = _copy(
            EvidenceItem, fields, ((*row, self.revision_of.get(row[0])) for row in items)
        )
        fields = ("id", "item", "number", "storage_name", "original_name", "sha256", "size")
        fields += ("content_type", "uploaded_by", "uploaded_at")
        c["evidence_revisions"] = _copy(
            EvidenceRevision, fields, ((rev_id + i, *r) for i, r in enumerate(revisions))
        )
        link_id = _reserve(EvidenceLink, len(links))
        c["evidence_links"] = _copy(
            EvidenceLink,
            ("id", "item", "response", "created_by", "created_at"),
            ((link_id + i, *link) for i, link in enumerate(links)),
        )
        c["real_files"] = sum(1 for r in revisions if not r[2].startswith("evidence/missing/"))

    def _revision(
        self, team: int, item_id: int, owner: int, created: dt.datetime, *, real: bool
    ) -> tuple[Any, ...]:
        name = uuid.UUID(int=self.rng.getrandbits(128)).hex
        if real:
            body = f"Benchmark evidence {item_id}\n".encode()
            body += b"control,result,at\n" * (20 + item_id % 200)
            path = self.media_root / "evidence" / str(team) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
            storage, size = f"evidence/{team}/{name}", len(body)
            digest = hashlib.sha256(body).hexdigest()
        else:
            # Metadata only, like most of a real store: the pages never open the file.
            storage, size = f"evidence/missing/{team}/{name}", 1000 + item_id % 100_000
            digest = hashlib.sha256(name.encode()).hexdigest()
        original = f"evidence-{item_id}.txt"
        return (item_id, 1, storage, original, digest, size, "text/plain", owner, created)

    def reviews(self) -> None:
        s, rng = self.s, self.rng
        per_team = max(1, s.reviews // s.teams)
        rows = []
        decisions = ["accepted"] * 7 + ["changes_requested"] * 2 + ["rejected"]

        def review(team: int, *, response=None, item=None, decision="accepted", after=None):
            reviewer = rng.choice(self.users[team][Role.AUDITOR])
            comment = "" if decision == "accepted" else "Please add the signed version."
            created = after + dt.timedelta(days=1, seconds=rng.randint(0, 86_000))
            revision = self.revision_of.get(item) if item is not None else None
            rows.append((team, item, response, revision, decision, comment, reviewer, created))

        flagship_items = set(self.flagship_items)
        for t, team in enumerate(self.team_ids):
            start = len(rows)
            if t == 0:
                # The flagship is fully reviewed: its verified score and report are not empty.
                for rid, _status, _owner in self.responses_of[self.flagship]:
                    review(team, response=rid, after=self.response_updated[rid])
                for item in self.flagship_items:
                    review(team, item=item, after=self.item_created[item])
            answered = [
                r[0]
                for a in self.assessments_of[team]
                if a != self.flagship
                for r in self.responses_of[a]
                if r[1] != ResponseStatus.NOT_STARTED
            ]
            left = max(0, per_team - (len(rows) - start))
            for rid in rng.sample(answered, min(len(answered), left // 2)):
                review(
                    team,
                    response=rid,
                    decision=rng.choice(decisions),
                    after=self.response_updated[rid],
                )
            items = [i for i in self.items_of[team] if i not in flagship_items]
            left = max(0, per_team - (len(rows) - start))
            for item in rng.sample(items, min(len(items), left)):
                review(
                    team, item=item, decision=rng.choice(decisions), after=self.item_created[item]
                )
        first = _reserve(Review, len(rows))
        fields = ("id", "team", "evidence", "response", "revision", "decision", "comment")
        fields += ("reviewer", "created_at")
        self.result.counts["reviews"] = _copy(
            Review, fields, ((first + i, *row) for i, row in enumerate(rows))
        )
        # The targets' denormalised latest review, as review_create keeps it: one UPDATE …
        # FROM per table over this seed's reviews (they target only this seed's rows).
        with connection.cursor() as cur:
            for sql in LATEST_REVIEW_SQL:
                cur.execute(sql, [first])

    def audit_events(self) -> None:
        """Append the events to the chain after the current head, exactly as audit_record
        would have: same body, same hash; then move the head."""
        s, rng = self.s, self.rng
        head = AuditChainHead.objects.select_for_update().get(pk=1)
        seq, prev = head.seq, head.hash
        span = dt.timedelta(days=365)
        start = self.now - span
        step = span / max(1, s.events)
        targets: dict[int, dict[str, list[int]]] = {}
        for team in self.team_ids:
            targets[team] = {
                "response": [r[0] for a in self.assessments_of[team] for r in self.responses_of[a]],
                "evidenceitem": self.items_of[team] or [0],
                "assessment": self.assessments_of[team],
                "aisystem": list(
                    AISystem.objects.filter(team_id=team).values_list("pk", flat=True)
                ),
            }
        members = {
            team: [u for ids in by_role.values() for u in ids]
            for team, by_role in self.users.items()
        }

        def rows():
            nonlocal seq, prev
            for i in range(s.events):
                team = self.team_ids[i % len(self.team_ids)]
                action, kind = AUDIT_ACTIONS[rng.randrange(len(AUDIT_ACTIONS))]
                target_id = rng.choice(targets[team][kind])
                data = {"bench": True, "n": i}
                if action == "response.answered":
                    data |= {"status": rng.choice(ANSWERED).value, "version": 2}
                seq += 1
                at = start + step * i
                body = {
                    "seq": seq,
                    "at": format_at(at),
                    "actor": rng.choice(members[team]),
                    "action": action,
                    "team": team,
                    "target": f"{kind}:{target_id}",
                    "data": data,
                }
                digest = event_hash(prev, body)
                yield (
                    seq,
                    at,
                    body["actor"],
                    action,
                    team,
                    body["target"],
                    canonical_json(data),
                    prev,
                    digest,
                )
                prev = digest

        fields = ("seq", "at", "actor", "action", "team", "target", "data", "prev_hash", "hash")
        self.result.counts["audit_events"] = _copy(AuditEvent, fields, rows())
        AuditChainHead.objects.filter(pk=1).update(seq=seq, hash=prev)


def seed(scale: Scale, *, media_root: Path, log: Callable[[str], None] = print) -> SeedResult:
    """Seed one scale into the current (PostgreSQL) database, in one transaction."""
    import time

    if connection.vendor != "postgresql":
        raise RuntimeError("The benchmark seeds PostgreSQL only (it uses COPY).")
    t0 = time.monotonic()
    seeder = _Seeder(scale, media_root, log)
    with transaction.atomic():
        for step in ("people_and_systems", "responses", "evidence", "reviews", "audit_events"):
            t = time.monotonic()
            getattr(seeder, step)()
            log(f"  seed {step}: {time.monotonic() - t:.1f} s")
    with connection.cursor() as cur:
        cur.execute("ANALYZE")  # fresh statistics, as autovacuum would give a live database
    seeder.result.seconds = time.monotonic() - t0
    return seeder.result
