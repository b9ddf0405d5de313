"""Reviews and comment threads moved from the evidence app to the reviews app without data
loss: a database with reviews and comments made under the old models is migrated forward and
every row is there, under the new models, with the answers' latest-review pointers intact.

(A backup restores only into the schema it was taken from: restore it with the version that
made it, then upgrade and migrate, as docs/operations.md says; this is that migration.)"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from reviews.models import ResponseComment, Review
from tests.factories import make_assessment, make_framework_version

pytestmark = pytest.mark.django_db(transaction=True)

# The last migrations before the move (and everything that depends on them undone).
BEFORE_THE_MOVE = [
    ("evidence", "0004_evidenceitem_latest_review_revision"),
    ("assessments", "0002_response_latest_review"),
    ("reviews", None),
]


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def test_reviews_and_comments_survive_the_move(personas):
    a = make_assessment(
        team=personas.team, actor=personas.risk_owner, version=make_framework_version(1, 1, 2)
    )
    first, second = a.responses.order_by("control__order")
    _migrate(BEFORE_THE_MOVE)
    loader = MigrationExecutor(connection).loader  # read again: the state as migrated back
    old = loader.project_state(list(loader.applied_migrations)).apps
    OldReview = old.get_model("evidence", "Review")
    OldComment = old.get_model("evidence", "ResponseComment")
    OldResponse = old.get_model("assessments", "Response")
    OldResponse.objects.filter(pk__in=[first.pk, second.pk]).update(status="full")
    rejected = OldReview.objects.create(
        team_id=personas.team.pk,
        response_id=first.pk,
        decision="rejected",
        comment="No evidence linked.",
        reviewer_id=personas.auditor.pk,
    )
    accepted = OldReview.objects.create(
        team_id=personas.team.pk,
        response_id=second.pk,
        decision="accepted",
        comment="",
        reviewer_id=personas.auditor.pk,
    )
    OldResponse.objects.filter(pk=first.pk).update(latest_review=rejected)
    OldResponse.objects.filter(pk=second.pk).update(latest_review=accepted)
    comment = OldComment.objects.create(
        response_id=first.pk, author_id=personas.risk_owner.pk, body="Linked the policy now."
    )

    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    reviews = {r.pk: r for r in Review.objects.filter(response__assessment=a)}
    assert set(reviews) == {rejected.pk, accepted.pk}
    assert reviews[rejected.pk].decision == "rejected"
    assert reviews[rejected.pk].comment == "No evidence linked."
    assert reviews[rejected.pk].reviewer == personas.auditor
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.latest_review == reviews[rejected.pk]
    assert second.latest_review == reviews[accepted.pk]
    moved = ResponseComment.objects.get(pk=comment.pk)
    assert (moved.response_id, moved.author, moved.body) == (
        first.pk,
        personas.risk_owner,
        "Linked the policy now.",
    )
