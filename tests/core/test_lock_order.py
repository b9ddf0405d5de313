"""Writers take row locks in one order (the assessment, its responses, then the audit chain
head), so that two of them can never wait for each other. The scale-out check once saw a
deadlock: a first answer took the chain head and then the draft assessment's row, while a
report request held that row and waited for the head."""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError, close_old_connections, connection, transaction

from aigsec.audit.models import AuditChainHead
from assessments import services
from assessments.models import Assessment, AssessmentStatus
from tests.factories import make_assessment, make_framework_version

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_first_answer_waits_for_the_assessment_before_taking_the_chain_head(personas):
    a = make_assessment(
        team=personas.team, actor=personas.risk_owner, version=make_framework_version(1, 1, 1)
    )
    assert a.status == AssessmentStatus.DRAFT
    r = a.responses.get()
    started, done, errors = threading.Event(), threading.Event(), []

    def first_answer() -> None:
        try:
            started.set()
            services.response_save(
                response=r,
                expected_version=r.version,
                actor=personas.risk_owner,
                status="full",
                justification="done",
            )
        except Exception as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            close_old_connections()
            done.set()

    with transaction.atomic():
        # Another writer (a report request) holds the assessment's row.
        Assessment.objects.select_for_update().get(pk=a.pk)
        writer = threading.Thread(target=first_answer)
        writer.start()
        started.wait(5)
        assert not done.wait(1.5)  # the answer waits for the assessment...
        with connection.cursor() as cur:  # ...without holding the chain head meanwhile
            try:
                cur.execute("SET LOCAL lock_timeout = '500ms'")
                AuditChainHead.objects.select_for_update(nowait=True).get(pk=1)
            except OperationalError:
                pytest.fail("the first answer holds the chain head while it waits")
    writer.join(10)
    assert not errors, errors
    a.refresh_from_db()
    assert a.status == AssessmentStatus.IN_PROGRESS
