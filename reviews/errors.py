"""Domain exceptions of the review loop (next to its models, importable by every entry point)."""

from __future__ import annotations


class ReviewConflict(Exception):
    """The decision was made on a version of its target that is no longer current (the answer
    was saved, a revision was added, or someone else decided meanwhile): nothing was recorded.
    409 in the API, a form error in the UI."""

    def __init__(self, message: str, *, target: str = ""):
        super().__init__(message)
        self.target = target
