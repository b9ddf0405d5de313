"""API helpers shared by every app's API module.

- `exception_handler` turns Django's validation errors into 400s with reasons, and gives a 429
  its wait in the body as well as in Retry-After;
- `Conflict` is the 409 every API answers for a state conflict (a final assessment, an answer
  saved by someone else first, a file that failed its integrity check);
- `id_param` reads an id given as a query filter (`?assessment=42`), or answers 400.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.views import exception_handler as drf_exception_handler

MAX_ID = 2**63 - 1  # bigint: the largest id a row can have
# No row has this id: what an id filter past the bigint range becomes (see id_param).
NO_ROW = 0
ID_REQUIRED = "A whole number (an id) is required."
# ASCII digits only: str.isdigit() also accepts "²" (which int() refuses) and other scripts'
# digits, and int() also accepts signs, spaces and underscores.
_ID = re.compile(r"[0-9]+")


def exception_handler(exc, context):
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        exc = _count_unauthenticated(exc, context.get("request"))
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail)
    response = drf_exception_handler(exc, context)
    if isinstance(exc, exceptions.Throttled) and response is not None:
        response.data = {"detail": str(exc.detail), "retry_after": exc.wait}
    return response


def _count_unauthenticated(exc: exceptions.APIException, request: Request | None):
    """A request refused for its credentials (none, malformed, unknown, expired, revoked)
    never reaches the throttles: DRF authenticates and checks permissions before it throttles.
    Counted here instead, against the same per-IP API limit, so guessing tokens from one
    address ends in a 429 like any other flood (the count is raised whatever the outcome)."""
    from .ratelimit import RateLimitThrottle, limit_request

    if request is None:
        return exc
    refused = limit_request(request, RateLimitThrottle.scope)
    if refused is None:
        return exc
    return exceptions.Throttled(wait=refused.retry_after, detail=RateLimitThrottle.message)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."
    default_code = "conflict"


def id_param(request: Request, name: str) -> int | None:
    """The id given in query parameter `name`, or None when it is absent or empty.

    Anything but ASCII digits is a 400 naming the parameter (documented for every operation
    with a query filter by `aigsec.core.schema.document_query_errors`). A number past the
    bigint range is a valid filter that matches nothing: it comes back as `NO_ROW` (0), an id
    no row has on either database (sequences and SQLite's rowids start at 1). Not the number
    itself: PostgreSQL's driver sends it as numeric, but SQLite's cannot bind an integer past
    64 bits (OverflowError, a 500). The length check keeps int() away from a string of
    thousands of digits."""
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    if not _ID.fullmatch(value):
        raise exceptions.ValidationError({name: [ID_REQUIRED]})
    if len(value) > len(str(MAX_ID)) or int(value) > MAX_ID:
        return NO_ROW
    return int(value)
