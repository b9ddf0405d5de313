"""Assessments made ready for a sign-off, and signed off, the way people do it: through the
services (answers by a risk owner, decisions by an auditor, the submission for review by one
person and the sign-off by another)."""

from __future__ import annotations

from typing import Any

import factory

from aigsec.accounts.models import Role, User
from assessments import services
from assessments.models import Assessment, AssessmentStatus, Response, ResponseStatus, SignOff
from assessments.signoff import assessment_sign_off
from evidence.models import EvidenceItem
from reviews.services import review_create

from .accounts import TeamFactory, member_of
from .assessments import make_assessment, make_framework_version

STATEMENT = "Reviewed with the auditors: complete and accurate as of today."


def answer_all(assessment: Assessment, *, by: User, status: str = ResponseStatus.FULL) -> None:
    for r in Response.objects.filter(assessment=assessment).order_by("control__order"):
        if r.status == ResponseStatus.NOT_STARTED:
            services.response_save(
                response=r,
                expected_version=r.version,
                actor=by,
                status=status,
                justification="In place; see the linked evidence.",
            )


def accept_all(assessment: Assessment, *, auditor: User) -> None:
    """Accept every answer and every live evidence item linked to one."""
    for r in Response.objects.filter(assessment=assessment).exclude(status="not_started"):
        review_create(reviewer=auditor, decision="accepted", comment="", response=r)
    items = EvidenceItem.objects.filter(
        links__response__assessment=assessment, withdrawn_at__isnull=True
    ).distinct()
    for item in items:
        review_create(reviewer=auditor, decision="accepted", comment="", evidence=item)


def submit(assessment: Assessment, *, by: User) -> Assessment:
    """Move it on to "in review", as the person `by`."""
    for step in (AssessmentStatus.IN_PROGRESS, AssessmentStatus.IN_REVIEW):
        assessment = services.assessment_set_status(assessment=assessment, status=step, actor=by)
    return assessment


def make_ready(
    assessment: Assessment, *, risk_owner: User, auditor: User, submitter: User
) -> Assessment:
    """Everything answered and accepted, submitted for review by `submitter`."""
    answer_all(assessment, by=risk_owner)
    accept_all(assessment, auditor=auditor)
    return submit(assessment, by=submitter)


def make_final(assessment: Assessment, personas, *, approver: User | None = None) -> Assessment:
    """Ready, submitted by the manager, signed off by the admin (or `approver`)."""
    make_ready(
        assessment,
        risk_owner=personas.risk_owner,
        auditor=personas.auditor,
        submitter=personas.manager,
    )
    assessment_sign_off(
        assessment=assessment, actor=approver or personas.admin, statement=STATEMENT
    )
    assessment.refresh_from_db()
    return assessment


class SignOffFactory(factory.django.DjangoModelFactory):
    """A sign-off of a whole assessment: a team whose risk owner answers everything, whose
    auditor accepts it, whose manager submits it and whose admin signs it off."""

    class Meta:
        model = SignOff

    @classmethod
    def _create(cls, model_class: type[SignOff], *args: Any, **kwargs: Any) -> SignOff:
        team = TeamFactory()
        people = {
            role: member_of(team, role)
            for role in (Role.RISK_OWNER, Role.AUDITOR, Role.MANAGER, Role.ADMIN)
        }
        assessment = make_assessment(
            team=team, actor=people[Role.MANAGER], version=make_framework_version(1, 1, 2)
        )
        make_ready(
            assessment,
            risk_owner=people[Role.RISK_OWNER],
            auditor=people[Role.AUDITOR],
            submitter=people[Role.MANAGER],
        )
        sign_off, _created = assessment_sign_off(
            assessment=assessment,
            actor=people[Role.ADMIN],
            statement=kwargs.get("statement", STATEMENT),
        )
        return sign_off
