"""Per-request session rules: idle timeout and absolute lifetime, then the second factor.

Both apply to cookie sessions only. An API request with `Authorization: Bearer` is
authenticated by its token alone (DRF tries the token first and never falls back to the
session), so these rules do not concern it: tokens are created by verified users and have
their own expiry and revocation.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

from aigsec.audit.services import audit_record

from .mfa import mfa_enabled, mfa_required_for
from .user_sessions import LOGIN_AT, SEEN_AT, user_session_touch


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _bearer(request: HttpRequest) -> bool:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    return _is_api(request) and header.split()[:1] == ["Bearer"]


def _to_login(request: HttpRequest) -> HttpResponse:
    url = reverse("login")
    if request.method == "GET":
        url += "?" + urlencode({"next": request.get_full_path()})
    return redirect(url)


def _always_open(path: str) -> bool:
    # Reachable whatever the session's MFA state: leaving, and what the pages themselves load.
    return path in (reverse("logout"), "/healthz", "/favicon.ico") or path.startswith(
        settings.STATIC_URL
    )


class SessionLifetimeMiddleware:
    """Ends a session idle for SESSION_IDLE_TIMEOUT seconds, or older than
    SESSION_ABSOLUTE_LIFETIME seconds since log-in, and records activity."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _bearer(request) or not request.user.is_authenticated:
            return self.get_response(request)
        now = time.time()
        login_at, seen_at = request.session.get(LOGIN_AT), request.session.get(SEEN_AT)
        reason = None
        if login_at is None or seen_at is None:
            reason = "untracked"  # not made by log-in (or before these rules): never trusted
        elif now - seen_at > settings.SESSION_IDLE_TIMEOUT:
            reason = "idle"
        elif now - login_at > settings.SESSION_ABSOLUTE_LIFETIME:
            reason = "lifetime"
        if reason is None:
            user_session_touch(request=request)
            return self.get_response(request)
        user = request.user
        audit_record(
            "session.expired", actor=user, target=f"user:{user.pk}", data={"reason": reason}
        )
        logout(request)
        if _is_api(request):
            return self.get_response(request)  # now anonymous: DRF refuses as usual
        messages.info(
            request,
            "Your session ended after a period without activity. Please log in again."
            if reason == "idle"
            else "Your session has ended. Please log in again.",
        )
        return _to_login(request)


class MfaEnforcementMiddleware:
    """A session is only as good as its second factor.

    - A user with a confirmed device whose session was not verified with it (e.g. it was
      opened before they enrolled, in another browser) is logged out.
    - A user who must have MFA and has none can reach only the enrolment page and log-out
      until enrolled: other pages redirect there, the API answers 403.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = self._check(request)
        return refusal or self.get_response(request)

    def _check(self, request: HttpRequest) -> HttpResponse | None:
        if _bearer(request):
            return None
        user = request.user
        if not user.is_authenticated or user.is_verified() or _always_open(request.path):
            return None
        bool(request.membership)  # loads the memberships with their teams, once per request
        memberships = getattr(request, "_aigsec_memberships", None)
        # has_mfa comes with the memberships (no query); someone in no team costs one.
        has_device = memberships[0].has_mfa if memberships else mfa_enabled(user)
        if has_device:
            audit_record(
                "session.expired",
                actor=user,
                target=f"user:{user.pk}",
                data={"reason": "second factor not verified"},
            )
            logout(request)
            if _is_api(request):
                return None
            messages.info(request, "Please log in again with your second factor.")
            return _to_login(request)
        if not mfa_required_for(user, memberships):
            return None
        setup = reverse("mfa_setup")
        if request.path == setup:
            return None
        if _is_api(request):
            return JsonResponse(
                {"detail": f"Set up two-factor authentication first: {setup}"}, status=403
            )
        return redirect(setup)
