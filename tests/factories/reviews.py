"""Factories for the review loop: auditors' reviews and the comment threads of responses.

Kept apart from evidence.py because the models are moving into their own `reviews` app
(issue 15): when they do, only the import below changes."""

from __future__ import annotations

from typing import Any

import factory

from aigsec.accounts.models import Role, Team
from reviews.models import ResponseComment, Review, ReviewDecision
from reviews.services import comment_add, review_create

from .accounts import member_of
from .assessments import ResponseFactory


def _review_team(o: Any) -> Team:
    return o.evidence.team if o.evidence is not None else o.response.assessment.team


class ReviewFactory(factory.django.DjangoModelFactory):
    """A decision recorded by `review_create`. On an answered response by default;
    `ReviewFactory(evidence=item)` reviews an evidence item instead. The reviewer defaults
    to a new auditor of the target's team."""

    class Meta:
        model = Review

    evidence = None
    # Only a response that has been answered can be reviewed.
    response = factory.LazyAttribute(
        lambda o: None if o.evidence is not None else ResponseFactory(status="full")
    )
    reviewer = factory.LazyAttribute(lambda o: member_of(_review_team(o), Role.AUDITOR))
    decision = ReviewDecision.ACCEPTED
    comment = ""

    @classmethod
    def _create(cls, model_class: type[Review], **kwargs: Any) -> Review:
        return review_create(**kwargs)


class ResponseCommentFactory(factory.django.DjangoModelFactory):
    """One message of a response's thread, added by `comment_add`; the author defaults to a
    new risk owner of the response's team."""

    class Meta:
        model = ResponseComment

    response = factory.SubFactory(ResponseFactory)
    author = factory.LazyAttribute(lambda o: member_of(o.response.assessment.team))
    body = factory.Sequence(lambda n: f"Comment {n}: which evidence covers this control?")

    @classmethod
    def _create(cls, model_class: type[ResponseComment], **kwargs: Any) -> ResponseComment:
        return comment_add(**kwargs)
