"""Two-factor sign-in, enrolment and management pages.

Sign-in with a second factor is two requests, and the user is NOT logged in between them: the
password step only stores who is half-way in the (rotated) anonymous session. Nothing that
checks `is_authenticated` (views, DRF's session authentication, templates) can mistake a
half-signed-in browser for a signed-in one, so no allow-list has to be right for this to hold.
`login()` runs once, after the code, and Django rotates the session key again then.
"""

from __future__ import annotations

import time

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from aigsec.audit.services import audit_record
from aigsec.core.access import Perm, get_membership_for_user
from aigsec.core.feedback import add_form_errors

from . import lockout
from .forms import GENERIC_LOCKED
from .forms_mfa import MfaCodeForm, MfaConfirmForm, MfaDisableForm, TeamMfaForm
from .mfa import (
    mfa_check_code,
    mfa_device,
    mfa_disable,
    mfa_enable,
    mfa_recovery_codes_regenerate,
    mfa_required_for,
    mfa_setup_device,
    recovery_codes_left,
    team_require_mfa_set,
    totp_secret,
)
from .models import User
from .net import client_ip

PENDING = "aigsec_mfa_pending"
PENDING_SECONDS = 300
REPLACING = "aigsec_mfa_replacing"


# --- Sign-in, second step --------------------------------------------------------------------


def mfa_login_begin(request: HttpRequest, user: User, *, next_url: str) -> HttpResponse:
    """After a correct password, for a user with a second factor."""
    # A fresh key for the half-way state too: a fixed session id must not be able to submit
    # codes on behalf of whoever typed the password in it.
    request.session.cycle_key()
    request.session[PENDING] = {
        "user": user.pk,
        "backend": user.backend,
        "at": time.time(),
        "next": next_url,
    }
    return redirect("mfa_verify")


def _pending_user(request: HttpRequest) -> tuple[User | None, dict]:
    pending = request.session.get(PENDING) or {}
    if not pending or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        return None, {}
    return User.objects.filter(pk=pending.get("user"), is_active=True).first(), pending


@never_cache
@require_http_methods(["GET", "POST"])
def mfa_verify(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    user, pending = _pending_user(request)
    if user is None:
        request.session.pop(PENDING, None)
        messages.info(request, "Please log in with your e-mail and password first.")
        return redirect("login")
    ip = client_ip(request)
    form = MfaCodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        if lockout.is_locked(user.email, ip):
            audit_record("auth.login_locked", data={"email": user.email, "ip": ip})
            request.session.pop(PENDING, None)
            form.add_error(None, GENERIC_LOCKED)
            return render(
                request, "accounts/mfa_verify.html", {"form": form, "locked": True}, status=429
            )
        kind = mfa_check_code(user=user, code=form.cleaned_data["code"], ip=ip)
        if kind is not None:
            del request.session[PENDING]
            lockout.reset(user.email, ip)
            auth_login(request, user, backend=pending["backend"])
            # Always the app's device: recovery codes are replaced as a set, which would end a
            # session marked with the old set.
            otp_login(request, mfa_device(user))
            if kind == "recovery":
                messages.warning(
                    request,
                    f"You signed in with a recovery code; {recovery_codes_left(user)} left. "
                    "Each works once: make new ones on the two-factor page if you run low.",
                )
            return redirect(pending.get("next") or resolve_url(settings.LOGIN_REDIRECT_URL))
        lockout.register_failure(user.email, ip)
        form.add_error(
            "code",
            "That code is not valid. After several wrong codes, wait a little before trying again.",
        )
    if form.errors:
        status = 400
    return render(request, "accounts/mfa_verify.html", {"form": form}, status=status)


# --- Enrolment and management ----------------------------------------------------------------


def _grouped(text: str, n: int = 4) -> str:
    return " ".join(text[i : i + n] for i in range(0, len(text), n))


def _status_page(request: HttpRequest, *, disable_form=None, code_form=None, status=200):
    user = request.user
    return render(
        request,
        "accounts/mfa_status.html",
        {
            "required": mfa_required_for(user),
            "codes_left": recovery_codes_left(user),
            "disable_form": disable_form or MfaDisableForm(),
            "code_form": code_form or MfaCodeForm(),
        },
        status=status,
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def mfa_setup(request: HttpRequest) -> HttpResponse:
    user = request.user
    enabled = mfa_device(user) is not None
    replacing = enabled and request.session.get(REPLACING)
    if enabled and not replacing:
        if request.method == "POST":
            return redirect("mfa_setup")
        return _status_page(request)
    device = mfa_setup_device(user=user)
    form = MfaConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = mfa_enable(
                user=user, device=device, code=form.cleaned_data["code"], replace=bool(replacing)
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            request.session.pop(REPLACING, None)
            device.refresh_from_db()
            otp_login(request, device)
            return render(request, "accounts/mfa_recovery_codes.html", {"codes": codes})
    secret = totp_secret(device)
    qr = segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2)
    return render(
        request,
        "accounts/mfa_setup.html",
        {
            "form": form,
            "qr": qr,
            "secret": _grouped(secret),
            "otpauth": device.config_url,
            "replacing": replacing,
            "required": mfa_required_for(user),
        },
        status=400 if form.errors else 200,
    )


@never_cache
@login_required
@require_POST
def mfa_manage(request: HttpRequest) -> HttpResponse:
    """Turn off, replace the app, or new recovery codes: each needs a current code (turning
    off also accepts the password), so a session left open is not enough."""
    user = request.user
    action = request.POST.get("action")
    if action not in ("disable", "replace", "codes"):
        return _status_page(request, status=400)
    if mfa_device(user) is None:
        messages.info(request, "Two-factor authentication is not on.")
        return redirect("mfa_setup")
    if action == "disable" and mfa_required_for(user):
        raise PermissionDenied(
            "Two-factor authentication is required for you (team admin, or a team that "
            "requires it), so it cannot be turned off. You can move it to a new app instead."
        )
    ip = client_ip(request)
    form = MfaDisableForm(request.POST) if action == "disable" else MfaCodeForm(request.POST)
    forms = {"disable_form": form} if action == "disable" else {"code_form": form}
    if not form.is_valid():
        return _status_page(request, status=400, **forms)
    if lockout.is_locked(user.email, ip):
        form.add_error(None, GENERIC_LOCKED)
        return _status_page(request, status=429, **forms)
    code, password = form.cleaned_data.get("code"), form.cleaned_data.get("password")
    if code:
        ok = mfa_check_code(user=user, code=code, ip=ip, purpose=action) is not None
    else:
        ok = user.check_password(password)
    if not ok:
        lockout.register_failure(user.email, ip)
        form.add_error(None, "That code or password is not correct.")
        return _status_page(request, status=400, **forms)
    if action == "disable":
        mfa_disable(user=user, actor=user)
        messages.success(request, "Two-factor authentication is off.")
        return redirect("mfa_setup")
    if action == "replace":
        request.session[REPLACING] = True
        messages.info(request, "Scan the new code with your new app; the old one works until then.")
        return redirect("mfa_setup")
    codes = mfa_recovery_codes_regenerate(user=user)
    return render(request, "accounts/mfa_recovery_codes.html", {"codes": codes})


# --- Team setting ------------------------------------------------------------------------------


@login_required
@require_POST
def team_mfa(request: HttpRequest, team_id: int) -> HttpResponse:
    m = get_membership_for_user(request.user, team_id, Perm.MANAGE)
    form = TeamMfaForm(request.POST)
    form.is_valid()  # a missing or unreadable box means "off", as with any checkbox
    required = bool(form.cleaned_data.get("require_mfa"))
    team_require_mfa_set(team=m.team, required=required, actor=request.user)
    messages.success(
        request,
        "Every member now needs two-factor authentication."
        if required
        else "Two-factor authentication is required only for admins.",
    )
    return redirect("members", team_id=m.team_id)
