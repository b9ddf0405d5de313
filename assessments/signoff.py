"""Sign-off: the only way an assessment becomes final.

A sign-off is a declaration by a person who holds `approve` (a manager or a team admin) that
the assessment is complete and reviewed. It is refused while anything blocks it, and the one
function that says what blocks it, `signoff_check`, is used by the API, the confirmation page
and the service alike:

- the assessment is not `in_review` (or is already final);
- four eyes: the approver submitted it for review, or owns one of its answers; and when
  nobody in the team could sign it (a single manager who submitted it), the list says so;
- a control is not answered; an answer, or live evidence linked to it, has a current review
  decision other than accepted (pending, rejected, changes requested). The current decision
  is the review loop's own rule (reviews/decisions.py), not a second copy of it.

The check reads a fixed number of queries whatever the number of controls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from aigsec.accounts.models import Membership, Role, User
from aigsec.audit.services import audit_record
from aigsec.core.access import ROLE_PERMS, Perm, role_allows, role_in_team
from aigsec.core.teamcache import team_changed
from evidence.selectors import evidence_by_response
from reviews.decisions import PENDING, CurrentDecision
from reviews.models import ReviewDecision
from reviews.selectors import current_decisions_for_evidence, current_decisions_for_responses

from .models import (
    SIGNOFF_STATEMENT_MAX,
    Assessment,
    AssessmentStatus,
    Response,
    ResponseStatus,
    SignOff,
    questionnaire_url,
)

APPROVER_ROLES = tuple(r for r, perms in ROLE_PERMS.items() if Perm.APPROVE in perms)


@dataclass(frozen=True)
class Blocker:
    """One reason why the assessment cannot be signed off now."""

    code: str  # machine-readable, e.g. "not_answered", "answer_rejected", "submitter"
    reason: str  # what a person reads
    control: str | None = None  # the control's ref, e.g. "2.1.3"
    response_id: int | None = None
    pillar_ref: str | None = None
    evidence_id: int | None = None
    url: str | None = None  # the control, opened on its questionnaire page

    def as_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"control": self.control, "code": self.code, "reason": self.reason}
        if self.response_id is not None:
            out["response"] = self.response_id
        if self.evidence_id is not None:
            out["evidence"] = self.evidence_id
        return out


@dataclass
class SignOffCheck:
    """What a sign-off would sign, and what stands in its way."""

    blockers: list[Blocker]
    controls: int
    answered: int
    answers_accepted: int
    evidence_items: int
    evidence_accepted: int
    eligible: list[str]  # display names of the people who could sign it off

    @property
    def ok(self) -> bool:
        return not self.blockers


class SignOffBlocked(Exception):
    """Raised by assessment_sign_off with the list of what blocks it (a 409)."""

    def __init__(self, blockers: list[Blocker]):
        super().__init__("This assessment cannot be signed off yet.")
        self.blockers = blockers


_DECISION_WORDS = {
    PENDING: ("pending", "awaits an auditor's review"),
    ReviewDecision.REJECTED: ("rejected", "was rejected by an auditor"),
    ReviewDecision.CHANGES_REQUESTED: ("changes_requested", "has changes requested by an auditor"),
}


def _decision_reason(subject: str, current: CurrentDecision) -> tuple[str, str]:
    word, text = _DECISION_WORDS[current.decision]
    reason = f"{subject} {text}"
    if current.comment:
        reason += f": “{current.comment}”"
    return word, reason + "."


def _names(users: list[User]) -> str:
    return ", ".join(u.display_name for u in users)


def _four_eyes(
    assessment: Assessment, approver: User, owners: dict[int, list[str]]
) -> tuple[list[Blocker], list[str]]:
    """The approver's own disqualifications, and the names of those who could sign (one
    query: the team's approvers)."""
    blockers: list[Blocker] = []
    submitter = assessment.submitted_by_id
    approvers = [
        m.user
        for m in Membership.objects.filter(team_id=assessment.team_id, role__in=APPROVER_ROLES)
        .select_related("user")
        .order_by("user__full_name", "user__email")
        if m.user.is_active
    ]
    eligible = [u for u in approvers if u.pk != submitter and u.pk not in owners]
    others = [u for u in eligible if u.pk != approver.pk]
    ask = f" Ask {_names(others)} to sign it off." if others else ""
    if submitter is not None and approver.pk == submitter:
        blockers.append(
            Blocker(
                "submitter",
                "You submitted this assessment for review, so you cannot also approve it "
                f"(four eyes).{ask}",
            )
        )
    if approver.pk in owners:
        refs = owners[approver.pk]
        shown = ", ".join(refs[:10]) + (f" and {len(refs) - 10} more" if len(refs) > 10 else "")
        blockers.append(
            Blocker(
                "response_owner",
                f"You own {len(refs)} of its answers ({shown}), so you cannot also approve it "
                f"(four eyes).{ask}",
            )
        )
    if not eligible:
        blockers.append(
            Blocker(
                "no_approver",
                "Nobody in this team can sign this assessment off. A sign-off needs a manager "
                "or team admin who did not submit it for review and owns none of its answers "
                f"(four eyes); this team's only ones ({_names(approvers) or 'none'}) did. "
                "Ask a team admin to add a second manager.",
            )
        )
    return blockers, [u.display_name for u in eligible]


def signoff_check(assessment: Assessment, approver: User) -> SignOffCheck:
    """Everything that blocks `approver` from signing off `assessment`, in order: its status,
    four eyes, then each control in questionnaire order. Six queries for any size."""
    blockers: list[Blocker] = []
    if assessment.status == AssessmentStatus.FINAL:
        blockers.append(
            Blocker("final", "This assessment is already final; it cannot be signed off again.")
        )
    elif assessment.status != AssessmentStatus.IN_REVIEW:
        label = AssessmentStatus(assessment.status).label.lower()
        blockers.append(
            Blocker(
                "status",
                f"The assessment is {label}: submit it for review (status “In review”) first.",
            )
        )
    responses = list(
        Response.objects.filter(assessment_id=assessment.pk)
        .select_related("control__guideline__pillar")
        .only(
            "status",
            "owner_id",
            "assessment_id",
            "control__ref",
            "control__guideline__pillar__ref",
        )
        .order_by(
            "control__guideline__pillar__order", "control__guideline__order", "control__order"
        )
    )
    owners: dict[int, list[str]] = {}
    for r in responses:
        if r.owner_id is not None:
            owners.setdefault(r.owner_id, []).append(r.control.ref)
    four_eyes, eligible = _four_eyes(assessment, approver, owners)
    blockers += four_eyes

    ids = [r.pk for r in responses]
    decisions = current_decisions_for_responses(ids)
    evidence = evidence_by_response(ids)
    items = {i.pk: i for lst in evidence.values() for i in lst}
    item_decisions = current_decisions_for_evidence(list(items))
    answered = accepted = 0
    for r in responses:
        ref, pillar = r.control.ref, r.control.guideline.pillar.ref
        url = questionnaire_url(assessment.pk, pillar, r.pk)

        def add(code: str, reason: str, evidence_id: int | None = None) -> None:
            blockers.append(Blocker(code, reason, ref, r.pk, pillar, evidence_id, url))  # noqa: B023

        if r.status == ResponseStatus.NOT_STARTED:
            add("not_answered", "Not answered yet.")
        else:
            answered += 1
            current = decisions[r.pk]
            if current.decision == ReviewDecision.ACCEPTED:
                accepted += 1
            else:
                word, reason = _decision_reason("The answer", current)
                add(f"answer_{word}", reason)
        for item in evidence[r.pk]:
            current = item_decisions[item.pk]
            if current.decision != ReviewDecision.ACCEPTED:
                word, reason = _decision_reason(f"Evidence “{item.title}”", current)
                add(f"evidence_{word}", reason, item.pk)
    return SignOffCheck(
        blockers=blockers,
        controls=len(responses),
        answered=answered,
        answers_accepted=accepted,
        evidence_items=len(items),
        evidence_accepted=sum(
            1 for d in item_decisions.values() if d.decision == ReviewDecision.ACCEPTED
        ),
        eligible=eligible,
    )


def clean_statement(statement: Any) -> str:
    """The statement as stored, or a ValidationError naming the field."""
    text = statement.strip() if isinstance(statement, str) else ""
    if not text:
        raise ValidationError({"statement": "A statement is required: say what you approve."})
    if len(text) > SIGNOFF_STATEMENT_MAX:
        raise ValidationError(
            {"statement": f"At most {SIGNOFF_STATEMENT_MAX} characters (this one has {len(text)})."}
        )
    return text


def assessment_sign_off(
    *, assessment: Assessment, actor: User, statement: str
) -> tuple[SignOff, bool]:
    """Sign the assessment off: it becomes final. Returns (sign-off, created).

    Raises ValidationError (the statement), PermissionDenied (a role without `approve`,
    read fresh) or SignOffBlocked (the list of blockers). The assessment's row is locked
    first, then its responses (the order every writer takes), so a double submit signs once:
    the second waits, then finds the first's sign-off and, if it is the same person's with
    the same statement, returns it unchanged (created False)."""
    text = clean_statement(statement)
    with transaction.atomic():
        locked = Assessment.objects.select_for_update().get(pk=assessment.pk)
        role = role_in_team(actor, locked.team_id)
        if role is None or not role_allows(role, Perm.APPROVE):
            label = Role(role).label if role else "not a member"
            raise PermissionDenied(f"Only managers and team admins sign off ({label}).")
        if locked.status == AssessmentStatus.FINAL:
            existing = SignOff.objects.filter(assessment=locked).first()
            if existing and existing.signer_id == actor.pk and existing.statement == text:
                return existing, False
        # No answer can change, and no review of one be recorded, until this commits.
        list(
            Response.objects.select_for_update()
            .filter(assessment=locked)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        check = signoff_check(locked, actor)
        if check.blockers:
            raise SignOffBlocked(check.blockers)
        now = timezone.now()
        sign_off = SignOff.objects.create(
            assessment=locked,
            signer=actor,
            signer_name=actor.display_name[:150],
            signer_email=actor.email,
            signer_role=role,
            statement=text,
            signed_at=now,
        )
        locked.status, locked.finalised_at = AssessmentStatus.FINAL, now
        locked.save(update_fields=["status", "finalised_at"])
        target = f"assessment:{locked.pk}"
        audit_record(
            "assessment.status_changed",
            actor=actor,
            team=locked.team_id,
            target=target,
            data={"old": AssessmentStatus.IN_REVIEW, "new": AssessmentStatus.FINAL},
        )
        audit_record(
            "assessment.signed_off",
            actor=actor,
            team=locked.team_id,
            target=target,
            data={
                "sign_off": sign_off.pk,
                "signer": sign_off.signer_name,
                "role": role,
                "statement": text,
                "submitted_by": locked.submitted_by_id,
                "controls": check.controls,
                "answers_accepted": check.answers_accepted,
                "evidence_accepted": check.evidence_accepted,
            },
        )
        audit_record("assessment.locked", actor=actor, team=locked.team_id, target=target)
        team_changed(locked.team_id)
    return sign_off, True
