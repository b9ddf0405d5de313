"""One-time form tokens: a double click, or Back and submit again, creates one object.

Every HTML form that creates something carries `{% form_token %}` (a hidden field with a fresh
random token per rendering; `{% load formtoken %}`), and its view is decorated with `@once`.
The first POST with a token claims it and runs; once it has succeeded (a redirect, or any
answer below 400 for an htmx fragment) the token is spent, kept with where it led. A second
POST with the same token creates nothing: it is sent to the same place ("This form was
already sent"), or gets the view's `replay` (an htmx fragment of the current state). A POST
the view refuses (a 4xx form page) leaves the token free, so the corrected form goes through.

The claim is a row of `core.IdempotencyKey` (the API's Idempotency-Key uses the same table,
keys prefixed `form:`), inserted in the transaction that runs the view: on PostgreSQL a second
click waits on the row's unique index until the first has committed, then reads where it led;
SQLite serialises writers. A POST without a token (a script, an old page) is handled as before.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from .idempotency import TTL
from .models import IdempotencyKey

FIELD = "form_token"
ALREADY_SENT = "This form was already sent: this is what it did. Nothing was done twice."
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")

View = Callable[..., HttpResponse]


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _fingerprint(request: HttpRequest) -> str:
    return hashlib.sha256(f"form {request.path}".encode()).hexdigest()


def _already_sent(request: HttpRequest, row: IdempotencyKey, replay: View | None, *a, **kw):
    if row.location:
        messages.info(request, ALREADY_SENT)
        return redirect(row.location)
    if replay is not None:
        return replay(request, *a, **kw)
    return render(
        request,
        "error.html",
        {"title": "Already sent", "message": ALREADY_SENT},
        status=409,
    )


def once(view: View | None = None, *, replay: View | None = None) -> Any:
    """Decorate a view whose POST creates something (see the module docstring). Put it
    inside `login_required` (and inside `csrf_protect` where the view has it), so that only a
    signed-in person's checked POST claims a token."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            token = request.POST.get(FIELD, "") if request.method == "POST" else ""
            if not token or not request.user.is_authenticated:
                return view(request, *args, **kwargs)
            if not _TOKEN.fullmatch(token):
                return view(request, *args, **kwargs)  # not one of ours: no protection
            key, fp = f"form:{token}", _fingerprint(request)
            with transaction.atomic():
                IdempotencyKey.objects.filter(
                    user=request.user, key=key, created_at__lt=timezone.now() - TTL
                ).delete()
                row, created = IdempotencyKey.objects.get_or_create(
                    user=request.user, key=key, defaults={"fingerprint": fp}
                )
                if not created:
                    if row.fingerprint != fp:  # a token of another form: a fresh start
                        return view(request, *args, **kwargs)
                    return _already_sent(request, row, replay, *args, **kwargs)
                response = view(request, *args, **kwargs)
                if response.status_code < 400:
                    row.status_code = response.status_code
                    row.location = response.get("Location", "")[:2000]
                    row.save(update_fields=["status_code", "location"])
                else:
                    row.delete()  # refused: nothing was created, the token stays usable
                return response

        return wrapper

    return decorate(view) if view is not None else decorate
