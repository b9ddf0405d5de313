"""Writes for AI systems, assessments and responses. Every write is atomic, race-safe and
recorded in the audit trail in the same transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from aigsec.accounts.models import Membership, Role, Team, User
from aigsec.audit.services import audit_record
from aigsec.core.teamcache import team_changed

from .errors import AssessmentLocked, ResponseConflict
from .models import (
    JUSTIFICATION_REQUIRED,
    AISystem,
    Assessment,
    AssessmentStatus,
    Control,
    FrameworkVersion,
    Response,
    ResponseStatus,
    SystemStatus,
)

AI_SYSTEM_FIELDS = (
    "name",
    "description",
    "business_owner",
    "criticality",
    "model_source",
    "deployment",
    "status",
)

# Allowed moves of an assessment through a status change. `final` is reached only by a
# sign-off (assessments/signoff.py: complete, reviewed, four eyes) and is terminal: it locks
# the assessment, and nothing leads out of it (a correction is a new assessment based on it).
TRANSITIONS: dict[str, set[str]] = {
    AssessmentStatus.DRAFT: {AssessmentStatus.IN_PROGRESS},
    AssessmentStatus.IN_PROGRESS: {AssessmentStatus.IN_REVIEW, AssessmentStatus.DRAFT},
    AssessmentStatus.IN_REVIEW: {AssessmentStatus.IN_PROGRESS},
    AssessmentStatus.FINAL: set(),
}
SIGN_OFF_ONLY = (
    "An assessment becomes final only by a sign-off (the “Sign off” page, or "
    "POST /api/v1/assessments/{id}/sign-off/), by a manager or admin other than the person "
    "who submitted it for review."
)


def _clean_fields(data: dict[str, Any]) -> dict[str, Any]:
    unknown = set(data) - set(AI_SYSTEM_FIELDS)
    if unknown:
        raise ValidationError(dict.fromkeys(sorted(unknown), "This field cannot be set."))
    return data


def ai_system_create(*, team: Team, actor: User, **fields: Any) -> AISystem:
    fields = _clean_fields(fields)
    system = AISystem(team=team, created_by=actor, **fields)
    system.full_clean()
    with transaction.atomic():
        system.save()
        audit_record(
            "ai_system.created",
            actor=actor,
            team=team,
            target=f"aisystem:{system.pk}",
            data={k: getattr(system, k) for k in AI_SYSTEM_FIELDS},
        )
        team_changed(team)
    return system


def ai_system_update(*, system: AISystem, actor: User, **fields: Any) -> AISystem:
    fields = _clean_fields(fields)
    with transaction.atomic():
        locked = AISystem.objects.select_for_update().get(pk=system.pk)
        changes = {}
        for k, v in fields.items():
            if getattr(locked, k) != v:
                changes[k] = {"old": getattr(locked, k), "new": v}
                setattr(locked, k, v)
        if not changes:
            return locked
        locked.full_clean()
        locked.save()
        action = (
            "ai_system.archived"
            if changes.get("status", {}).get("new") == SystemStatus.ARCHIVED
            else "ai_system.updated"
        )
        audit_record(
            action,
            actor=actor,
            team=locked.team_id,
            target=f"aisystem:{locked.pk}",
            data={"changes": changes},
        )
        team_changed(locked.team_id)
    return locked


def assessment_create(
    *,
    ai_system: AISystem,
    framework_version: FrameworkVersion,
    actor: User,
    title: str = "",
    based_on: Assessment | None = None,
) -> Assessment:
    """Create an assessment and all its responses in one batch; optionally copy an earlier one."""
    if ai_system.status == SystemStatus.ARCHIVED:
        raise ValidationError({"ai_system": "This AI system is archived."})
    if based_on is not None and based_on.ai_system_id != ai_system.pk:
        raise ValidationError({"based_on": "Start only from an assessment of the same AI system."})
    title = title.strip() or f"{ai_system.name} — {timezone.localdate():%Y-%m-%d}"
    with transaction.atomic():
        assessment = Assessment.objects.create(
            team_id=ai_system.team_id,
            ai_system=ai_system,
            framework_version=framework_version,
            title=title,
            based_on=based_on,
            created_by=actor,
        )
        previous: dict[str, Response] = {}
        if based_on is not None:
            # Match controls by ref, so a copy across framework versions keeps what still fits.
            previous = {
                r.control.ref: r for r in based_on.responses.select_related("control").order_by()
            }
        responses = []
        today = timezone.localdate()
        for control in Control.objects.filter(version=framework_version).order_by("order"):
            old = previous.get(control.ref)
            r = Response(assessment=assessment, control=control)
            if old is not None:
                r.status, r.justification, r.owner_id = old.status, old.justification, old.owner_id
                # A due date already past would make the new assessment overdue on day one.
                r.due_date = old.due_date if old.due_date and old.due_date >= today else None
            responses.append(r)
        Response.objects.bulk_create(responses, batch_size=500)
        if based_on is not None:
            # Imported here: evidence builds on assessments, not the other way round.
            from evidence.services import evidence_links_copy

            evidence_links_copy(source=based_on, target=assessment, actor=actor)
        audit_record(
            "assessment.created",
            actor=actor,
            team=ai_system.team_id,
            target=f"assessment:{assessment.pk}",
            data={
                "ai_system": ai_system.pk,
                "framework_version": framework_version.pk,
                "based_on": based_on.pk if based_on else None,
                "responses": len(responses),
            },
        )
        team_changed(ai_system.team_id)
    return assessment


def assessment_set_status(*, assessment: Assessment, status: str, actor: User) -> Assessment:
    if status not in AssessmentStatus.values:
        raise ValidationError({"status": f"Unknown status “{status}”."})
    with transaction.atomic():
        locked = Assessment.objects.select_for_update().get(pk=assessment.pk)
        old = locked.status
        if old == status:
            return locked
        if status not in TRANSITIONS[old]:
            if old == AssessmentStatus.FINAL:
                raise AssessmentLocked(locked)
            if status == AssessmentStatus.FINAL:
                raise ValidationError({"status": SIGN_OFF_ONLY})
            allowed = ", ".join(sorted(TRANSITIONS[old])) or "none"
            raise ValidationError(
                {"status": f"Cannot move from {old} to {status}. Allowed: {allowed}."}
            )
        locked.status = status
        fields = ["status"]
        if status == AssessmentStatus.IN_REVIEW:
            # The submitter may not be the approver (four eyes): remember who it was.
            locked.submitted_by, locked.submitted_at = actor, timezone.now()
            fields += ["submitted_by", "submitted_at"]
        locked.save(update_fields=fields)
        audit_record(
            "assessment.status_changed",
            actor=actor,
            team=locked.team_id,
            target=f"assessment:{locked.pk}",
            data={"old": old, "new": status},
        )
        team_changed(locked.team_id)
    return locked


def _check_owner(team_id: int, owner: User | None) -> None:
    if owner is None:
        return
    if not Membership.objects.filter(
        team_id=team_id, user=owner, role__in=[Role.RISK_OWNER, Role.ADMIN]
    ).exists():
        raise ValidationError({"owner": "The owner must be a risk owner of this team."})


def response_save(
    *,
    response: Response,
    expected_version: int,
    actor: User,
    status: str,
    justification: str,
    owner: User | object | None = ...,
    due_date: dt.date | object | None = ...,
) -> Response:
    """Save an answer. Raises ValidationError (bad input), AssessmentLocked, ResponseConflict.

    `owner` and `due_date` are left alone unless passed (the ellipsis means "not given").
    """
    justification = (justification or "").strip()
    if status not in ResponseStatus.values:
        raise ValidationError({"status": f"Unknown status “{status}”."})
    if status in JUSTIFICATION_REQUIRED and not justification:
        label = ResponseStatus(status).label.lower()
        raise ValidationError({"justification": f"A justification is required for “{label}”."})
    with transaction.atomic():
        # Locks in the order every writer takes them: the assessment, then its responses, then
        # (in audit_record) the chain head. The first answer of a draft moves the assessment to
        # "in progress": locking it only then, after the chain head, deadlocked with a report
        # request (assessment, then head) in the scale-out check.
        Assessment.objects.select_for_update().filter(pk=response.assessment_id).exists()
        current = (
            Response.objects.select_for_update(of=("self",))
            .select_related("assessment", "control")
            .get(pk=response.pk)
        )
        if current.assessment.is_locked:
            raise AssessmentLocked(current.assessment)
        if current.version != expected_version:
            raise ResponseConflict(current)
        changes: dict[str, Any] = {}
        if owner is not ...:
            _check_owner(current.assessment.team_id, owner)  # type: ignore[arg-type]
            if current.owner_id != getattr(owner, "pk", None):
                changes["owner"] = {"old": current.owner_id, "new": getattr(owner, "pk", None)}
                current.owner = owner  # type: ignore[assignment]
        if due_date is not ... and current.due_date != due_date:
            changes["due_date"] = {"old": _iso(current.due_date), "new": _iso(due_date)}
            current.due_date = due_date  # type: ignore[assignment]
        old_status = current.status
        answered = old_status != status or current.justification != justification
        if not answered and not changes:
            return current
        current.status, current.justification = status, justification
        current.version += 1
        current.updated_at, current.updated_by = timezone.now(), actor
        current.save()
        target = f"response:{current.pk}"
        team = current.assessment.team_id
        team_changed(team)
        if answered:
            audit_record(
                "response.answered",
                actor=actor,
                team=team,
                target=target,
                data={"control": current.control.ref, "old": old_status, "new": status},
            )
        if "owner" in changes or "due_date" in changes:
            audit_record(
                "response.owner_assigned", actor=actor, team=team, target=target, data=changes
            )
        if current.assessment.status == AssessmentStatus.DRAFT:
            Assessment.objects.filter(pk=current.assessment_id).update(
                status=AssessmentStatus.IN_PROGRESS
            )
            audit_record(
                "assessment.status_changed",
                actor=actor,
                team=team,
                target=f"assessment:{current.assessment_id}",
                data={"old": "draft", "new": "in_progress", "reason": "first answer"},
            )
    return current


def _iso(d: dt.date | None) -> str | None:
    return d.isoformat() if d else None


def responses_assign(
    *,
    assessment: Assessment,
    responses: list[Response],
    owner: User | None,
    due_date: dt.date | None,
    actor: User,
) -> int:
    """Assign several responses (e.g. a whole guideline) to one owner. Returns the count."""
    with transaction.atomic():
        locked = Assessment.objects.select_for_update().get(pk=assessment.pk)
        if locked.is_locked:
            raise AssessmentLocked(locked)
        _check_owner(locked.team_id, owner)
        ids = [r.pk for r in responses]
        rows = list(
            Response.objects.select_for_update()
            .filter(assessment=locked, pk__in=ids)
            .select_related("control")
        )
        now = timezone.now()
        for r in rows:
            r.owner, r.due_date = owner, due_date
            r.version += 1
            r.updated_at, r.updated_by = now, actor
        Response.objects.bulk_update(
            rows, ["owner", "due_date", "version", "updated_at", "updated_by"]
        )
        audit_record(
            "response.owner_assigned",
            actor=actor,
            team=locked.team_id,
            target=f"assessment:{locked.pk}",
            data={
                "controls": [r.control.ref for r in rows],
                "owner": owner.pk if owner else None,
                "due_date": _iso(due_date),
            },
        )
        team_changed(locked.team_id)
    return len(rows)
