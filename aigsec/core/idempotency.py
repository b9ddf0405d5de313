"""`Idempotency-Key` for the API's create endpoints: a retry creates nothing.

A client that sends `Idempotency-Key: <1-255 visible ASCII characters>` with a create
(`POST /api/v1/ai-systems/`, ...) and sends the same request again with the same key within
24 hours gets the first answer back (status and body, with `Idempotent-Replayed: true`) and
nothing is created or recorded a second time. The same key with a different request (another
body, or another endpoint) is a 422 naming the header. Keys are per person: two people's keys
never meet. Only successful answers are kept: after a 4xx the key can be used again (nothing
was created), so a corrected retry works.

How it holds under concurrency: the key's row is inserted, the view runs and the answer is
stored in one transaction. On PostgreSQL a second request with the same key blocks on the
unique index until the first commits, then reads the stored answer; if the first failed (its
transaction rolled back), the second runs as if it were first. SQLite serialises writers.

Use: `@idempotent` as the outermost decorator of the view method (above `@extend_schema` and
`@action`); it also documents the header, and `document_idempotency` (a schema hook) the 422.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from .models import IdempotencyKey

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
_KEY = re.compile(r"[!-~]{1,255}")  # visible ASCII, no spaces
KEY_INVALID = "Use 1 to 255 visible ASCII characters (a UUID, for example)."
KEY_REUSED = (
    "This Idempotency-Key was already used in the last 24 hours for a different request "
    "(another body or another endpoint). Use a new key for a new request."
)

HEADER_PARAMETER = OpenApiParameter(
    HEADER,
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    location=OpenApiParameter.HEADER,
    required=False,
    description="Optional. The same key with the same request within 24 hours returns the "
    "first response (header `Idempotent-Replayed: true`) and creates nothing; with a "
    "different request it is a 422. Keys are per user.",
)


class KeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__({HEADER: [KEY_REUSED]})


def _part(value: Any) -> Any:
    if hasattr(value, "read"):  # an uploaded file: its name and content, not its bytes
        return ["file", getattr(value, "name", ""), getattr(value, "sha256", None) or value.size]
    return value


def fingerprint(request: Request) -> str:
    data = request.data
    if hasattr(data, "lists"):  # a form or multipart body: every value of every field
        body: Any = sorted((k, [_part(v) for v in vs]) for k, vs in data.lists())
    else:
        body = data
    text = json.dumps([request.method, request.get_full_path(), body], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _replay(row: IdempotencyKey) -> Response:
    resp = Response(row.body, status=row.status_code)
    resp["Idempotent-Replayed"] = "true"
    if row.location:
        resp["Location"] = row.location
    return resp


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a DRF view method that creates something (see the module docstring)."""

    @functools.wraps(view)
    def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> Any:
        raw = request.headers.get(HEADER)
        if raw is None:
            return view(self, request, *args, **kwargs)
        if not _KEY.fullmatch(raw):
            raise exceptions.ValidationError({HEADER: [KEY_INVALID]})
        fp = fingerprint(request)
        with transaction.atomic():
            IdempotencyKey.objects.filter(
                user=request.user, key=raw, created_at__lt=timezone.now() - TTL
            ).delete()
            row, created = IdempotencyKey.objects.get_or_create(
                user=request.user, key=raw, defaults={"fingerprint": fp}
            )
            if not created:
                if row.fingerprint != fp:
                    raise KeyReused
                return _replay(row)
            response = view(self, request, *args, **kwargs)
            if 200 <= response.status_code < 300 and isinstance(response, Response):
                row.status_code = response.status_code
                row.body = json.loads(JSONRenderer().render(response.data) or b"null")
                row.location = response.get("Location", "")[:2000]
                row.save(update_fields=["status_code", "body", "location"])
            else:
                row.delete()  # nothing was created: the key may be used again
            return response

    return extend_schema(parameters=[HEADER_PARAMETER])(wrapper)


def document_idempotency(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Schema hook: every operation that takes the header also answers 422 (a key reused for
    another request) and 400 (a malformed key)."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            names = {p.get("name") for p in operation.get("parameters", [])}
            if HEADER not in names:
                continue
            operation["responses"].setdefault(
                "422", {"description": f"The {HEADER} was used for a different request."}
            )
            operation["responses"].setdefault(
                "400", {"description": f"Invalid input, or a malformed {HEADER}."}
            )
    return result


def idempotency_keys_prune(*, now: datetime | None = None) -> int:
    """Delete the keys past their 24 hours; the number deleted."""
    cutoff = (now or timezone.now()) - TTL
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
