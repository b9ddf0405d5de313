"""The domain's refusals that callers in other apps catch (a final assessment, a stale save):
defined beside the models, so that evidence and reviews need not import the services."""

from __future__ import annotations

from .models import Assessment, Response


class AssessmentLocked(Exception):
    """The assessment is final: answers, owners and links can no longer change."""

    def __init__(self, assessment: Assessment):
        super().__init__(
            f"Assessment “{assessment.title}” is final and locked; start a new assessment "
            "from it to make changes."
        )
        self.assessment = assessment


class ResponseConflict(Exception):
    """Someone else saved the response since the caller read it."""

    def __init__(self, current: Response):
        super().__init__(
            f"This answer was changed by someone else (now version {current.version}). "
            "Review their answer and save again if yours should replace it."
        )
        self.current = current
