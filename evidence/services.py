"""Writes for evidence: create, add a revision, link, unlink, withdraw, record downloads.

Files are stored under server-generated names before the database transaction; if the
transaction fails the stored file is deleted, so a refused or failed upload leaves neither a
row nor a file behind. Every write is audited in the same transaction.
"""

from __future__ import annotations

import calendar
import datetime as dt
import uuid
from collections.abc import Iterable
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from aigsec.accounts.models import Membership, Team, User
from aigsec.audit.services import audit_record
from aigsec.core.integrity import Incident, VerifiedFile, open_verified, sha256_of
from aigsec.core.teamcache import team_changed
from assessments.errors import AssessmentLocked
from assessments.models import Response

from .models import EvidenceItem, EvidenceKind, EvidenceLink, EvidenceRevision
from .upload import Inspected, inspect_upload


def add_months(day: dt.date, months: int) -> dt.date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def default_valid_until(team: Team, collected_on: dt.date | None = None) -> dt.date:
    return add_months(collected_on or timezone.localdate(), team.evidence_validity_months)


def _target(item: EvidenceItem) -> str:
    return f"evidenceitem:{item.pk}"


def _store(team_id: int, file: Any) -> tuple[str, Inspected]:
    """Check the file, then store it under a server-generated name. Returns (name, facts)."""
    facts = inspect_upload(file)
    name = default_storage.save(f"evidence/{team_id}/{uuid.uuid4().hex}", file)
    return name, facts


def _team_responses(team: Team, responses: Iterable[Any]) -> list[Response]:
    ids = {getattr(r, "pk", r) for r in responses}
    if not ids:
        return []
    try:
        ids = {int(i) for i in ids}
    except (TypeError, ValueError):
        raise ValidationError({"responses": "Unknown response."}) from None
    found = list(
        Response.objects.select_related("assessment").filter(pk__in=ids, assessment__team=team)
    )
    if len(found) != len(ids):
        raise ValidationError({"responses": "Unknown response."})
    for r in found:
        if r.assessment.is_locked:
            raise AssessmentLocked(r.assessment)
    return found


def _check_owner(team: Team, owner: User | None) -> None:
    if owner is not None and not Membership.objects.filter(team=team, user=owner).exists():
        raise ValidationError({"owner": "The owner must be a member of the team."})


def evidence_create(
    *,
    team: Team,
    actor: User,
    kind: str,
    title: str,
    description: str = "",
    uploaded_file: IO[bytes] | None = None,
    url: str = "",
    note: str = "",
    owner: User | None = None,
    collected_on: dt.date | None = None,
    valid_until: dt.date | None = None,
    tags: list[str] | None = None,
    responses: Iterable[Any] = (),
) -> EvidenceItem:
    """Create an evidence item (with revision 1 for a file) and link it to responses.

    Raises ValidationError (bad input, refused file) or AssessmentLocked.
    """
    title = (title or "").strip()
    url, note = (url or "").strip(), (note or "").strip()
    errors: dict[str, str] = {}
    if kind not in EvidenceKind.values:
        errors["kind"] = "Choose file, link or note."
    if not title:
        errors["title"] = "A title is required."
    if kind == EvidenceKind.FILE and uploaded_file is None:
        errors["file"] = "Choose a file to upload."
    if kind == EvidenceKind.LINK:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            errors["url"] = "Enter an http or https address."
    if kind == EvidenceKind.NOTE and not note:
        errors["note"] = "Write the note."
    if errors:
        raise ValidationError(errors)
    collected_on = collected_on or timezone.localdate()
    valid_until = valid_until or default_valid_until(team, collected_on)
    if valid_until < collected_on:
        raise ValidationError({"valid_until": "Valid until cannot be before collected on."})
    _check_owner(team, owner)
    linked = _team_responses(team, responses)
    item = EvidenceItem(
        team=team,
        kind=kind,
        title=title[:200],
        description=(description or "").strip(),
        url=url if kind == EvidenceKind.LINK else "",
        note=note if kind == EvidenceKind.NOTE else "",
        owner=owner or actor,
        collected_on=collected_on,
        valid_until=valid_until,
        tags=[str(t).strip() for t in (tags or []) if str(t).strip()],
        created_by=actor,
    )
    stored: str | None = None
    facts: Inspected | None = None
    if kind == EvidenceKind.FILE:
        stored, facts = _store(team.pk, uploaded_file)
    try:
        with transaction.atomic():
            item.save()
            data: dict[str, Any] = {"kind": kind, "title": item.title}
            if facts is not None:
                item.latest_revision = EvidenceRevision.objects.create(
                    item=item,
                    number=1,
                    storage_name=stored,
                    original_name=facts.original_name,
                    sha256=facts.sha256,
                    size=facts.size,
                    content_type=facts.content_type,
                    uploaded_by=actor,
                )
                item.save(update_fields=["latest_revision"])
                data |= {"sha256": facts.sha256, "size": facts.size, "revision": 1}
            EvidenceLink.objects.bulk_create(
                [EvidenceLink(item=item, response=r, created_by=actor) for r in linked]
            )
            data["responses"] = sorted(r.pk for r in linked)
            audit_record(
                "evidence.uploaded", actor=actor, team=team, target=_target(item), data=data
            )
            team_changed(team)
    except BaseException:
        if stored:
            default_storage.delete(stored)
        raise
    return item


def evidence_add_revision(
    *, item: EvidenceItem, actor: User, uploaded_file: IO[bytes]
) -> EvidenceRevision:
    if item.kind != EvidenceKind.FILE:
        raise ValidationError({"file": "Only file evidence has revisions."})
    if item.is_withdrawn:
        raise ValidationError({"file": "This evidence has been withdrawn."})
    stored, facts = _store(item.team_id, uploaded_file)
    try:
        with transaction.atomic():
            locked = EvidenceItem.objects.select_for_update().get(pk=item.pk)
            if locked.is_withdrawn:
                raise ValidationError({"file": "This evidence has been withdrawn."})
            number = (locked.revisions.aggregate(m=Max("number"))["m"] or 0) + 1
            revision = EvidenceRevision.objects.create(
                item=locked,
                number=number,
                storage_name=stored,
                original_name=facts.original_name,
                sha256=facts.sha256,
                size=facts.size,
                content_type=facts.content_type,
                uploaded_by=actor,
            )
            # The denormalised newest revision (models.py), on the row locked above.
            EvidenceItem.objects.filter(pk=locked.pk).update(latest_revision=revision)
            item.latest_revision = revision
            audit_record(
                "evidence.revision_added",
                actor=actor,
                team=locked.team_id,
                target=_target(locked),
                data={"revision": number, "sha256": facts.sha256, "size": facts.size},
            )
            team_changed(locked.team_id)
    except BaseException:
        default_storage.delete(stored)
        raise
    return revision


def _check_link(item: EvidenceItem, response: Response) -> None:
    if response.assessment.team_id != item.team_id:
        raise ValidationError({"response": "Evidence can only support its own team's controls."})
    if response.assessment.is_locked:
        raise AssessmentLocked(response.assessment)


def evidence_link(*, item: EvidenceItem, response: Response, actor: User) -> EvidenceLink:
    _check_link(item, response)
    if item.is_withdrawn:
        raise ValidationError({"response": "Withdrawn evidence cannot be linked."})
    with transaction.atomic():
        link, created = EvidenceLink.objects.get_or_create(
            item=item, response=response, defaults={"created_by": actor}
        )
        if created:
            audit_record(
                "evidence.linked",
                actor=actor,
                team=item.team_id,
                target=_target(item),
                data={"response": response.pk},
            )
            team_changed(item.team_id)
    return link


def evidence_unlink(*, item: EvidenceItem, response: Response, actor: User) -> bool:
    _check_link(item, response)
    with transaction.atomic():
        deleted, _ = EvidenceLink.objects.filter(item=item, response=response).delete()
        if deleted:
            audit_record(
                "evidence.unlinked",
                actor=actor,
                team=item.team_id,
                target=_target(item),
                data={"response": response.pk},
            )
            team_changed(item.team_id)
    return bool(deleted)


def evidence_withdraw(*, item: EvidenceItem, actor: User, reason: str) -> EvidenceItem:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Give the reason for withdrawing this evidence."})
    with transaction.atomic():
        locked = EvidenceItem.objects.select_for_update().get(pk=item.pk)
        if locked.is_withdrawn:
            raise ValidationError({"reason": "This evidence is already withdrawn."})
        locked.withdrawn_at = timezone.now()
        locked.withdrawn_reason = reason
        locked.save(update_fields=["withdrawn_at", "withdrawn_reason"])
        audit_record(
            "evidence.withdrawn",
            actor=actor,
            team=locked.team_id,
            target=_target(locked),
            data={"reason": reason},
        )
        team_changed(locked.team_id)
    return locked


# --- Reading stored files ---------------------------------------------------------------------


def hash_stored(name: str) -> tuple[str, int]:
    """SHA-256 and size of a stored file, read in chunks. FileNotFoundError if missing."""
    with default_storage.open(name, "rb") as fh:
        return sha256_of(fh)


def evidence_open_verified(*, revision: EvidenceRevision, actor: User) -> VerifiedFile:
    """Open a revision for download after re-checking its hash; audit the download.

    A mismatch (or a missing file) is an integrity incident: recorded as
    `evidence.integrity_incident`, and raised as IntegrityFailure (aigsec.core.integrity).
    The returned file is iterable in chunks, for a StreamingHttpResponse.
    """
    incident = Incident(
        action="evidence.integrity_incident",
        team=revision.item.team_id,
        target=_target(revision.item),
        data={"revision": revision.number, "sha256": revision.sha256},
        message=f"Revision {revision.number} of this evidence failed its integrity check "
        "({reason}); it will not be served. Administrators have been notified.",
    )
    verified = open_verified(revision.storage_name, revision.sha256, incident=incident, actor=actor)
    audit_record(
        "evidence.downloaded",
        actor=actor,
        team=revision.item.team_id,
        target=_target(revision.item),
        data={"revision": revision.number, "sha256": revision.sha256},
    )
    return verified


def evidence_links_copy(*, source: Any, target: Any, actor: Any) -> int:
    """Carry the evidence links of one assessment over to another (matched by control ref),
    skipping withdrawn items. Called inside assessment_create's transaction."""
    by_ref = {r.control.ref: r.pk for r in target.responses.select_related("control")}
    links = [
        EvidenceLink(item_id=item_id, response_id=by_ref[ref], created_by=actor)
        for item_id, ref in EvidenceLink.objects.filter(
            response__assessment=source, item__withdrawn_at__isnull=True
        ).values_list("item_id", "response__control__ref")
        if ref in by_ref
    ]
    EvidenceLink.objects.bulk_create(links, ignore_conflicts=True)
    if links:
        audit_record(
            "evidence.linked",
            actor=actor,
            team=target.team_id,
            target=f"assessment:{target.pk}",
            data={"copied_from": source.pk, "links": len(links)},
        )
        team_changed(target.team_id)
    return len(links)


def evidence_verify_all() -> tuple[int, list[str]]:
    """Re-hash every stored revision; returns (checked, problems) and records the result in
    the audit trail. Used by `verify_evidence` and the periodic task."""
    checked, problems = 0, []
    revisions = EvidenceRevision.objects.select_related("item").order_by("item_id", "number")
    for rev in revisions.iterator(chunk_size=500):
        checked += 1
        label = (
            f"evidence {rev.item_id} revision {rev.number} ({rev.original_name}, "
            f"{rev.storage_name})"
        )
        try:
            digest, size = hash_stored(rev.storage_name)
        except FileNotFoundError:
            problems.append(f"MISSING  {label}")
            continue
        if digest != rev.sha256 or size != rev.size:
            problems.append(
                f"MISMATCH {label}: expected {rev.sha256}, found {digest} ({size} bytes)"
            )
    audit_record(
        "evidence.verified",
        data={"checked": checked, "failed": len(problems), "problems": problems[:50]},
    )
    return checked, problems
