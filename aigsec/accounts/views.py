from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_http_methods, require_POST

from aigsec.audit.services import audit_record
from aigsec.core.access import Perm, get_for_user, get_membership_for_user
from aigsec.core.feedback import add_form_errors, error_messages
from aigsec.core.ratelimit import digest, rate_limit

from . import lockout
from .forms import LoginForm, MemberAddForm, MemberRoleForm, TokenCreateForm
from .forms_mfa import TeamMfaForm
from .mfa import mfa_enabled, mfa_users
from .middleware import SESSION_KEY
from .models import ApiToken, Membership, TokenScope
from .net import client_ip
from .services import (
    api_token_create,
    api_token_revoke,
    membership_add,
    membership_change_role,
    membership_remove,
)
from .user_sessions import user_session_rekeyed, user_sessions_end
from .views_mfa import mfa_login_begin


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, "locked"):
            # The lockout is a rate limit: 429, whether or not the address has an account.
            response.status_code = 429
            response["Retry-After"] = str(settings.LOGIN_FAILURE_WINDOW)
        return response

    def form_valid(self, form):
        user = form.get_user()
        if mfa_enabled(user):
            # Not logged in yet: the second step (views_mfa.mfa_verify) finishes the sign-in.
            return mfa_login_begin(self.request, user, next_url=self.get_success_url())
        lockout.reset(form.cleaned_data["username"], client_ip(self.request))
        return super().form_valid(form)


def _typed_email(request: HttpRequest) -> dict[str, str]:
    email = request.POST.get("email", "")
    return {"email": digest(email)} if email.strip() else {}


@method_decorator(
    rate_limit(
        "password_reset",
        message="Too many password reset requests from this network or for this address.",
        extra=_typed_email,
    ),
    name="dispatch",
)
class PasswordResetView(auth_views.PasswordResetView):
    """Limited per client IP and per address typed, counted the same whether or not the
    address has an account, so a 429 reveals nothing about who is registered."""


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("home")

    def form_valid(self, form):
        old_key = self.request.session.session_key
        response = super().form_valid(form)  # rotates this session's key, keeps it logged in
        audit_record(
            "auth.password_changed", actor=self.request.user, target=f"user:{self.request.user.pk}"
        )
        user_session_rekeyed(old_key=old_key, new_key=self.request.session.session_key)
        user_sessions_end(
            user=self.request.user,
            reason="password_changed",
            actor=self.request.user,
            keep_session_key=self.request.session.session_key,
        )
        messages.success(self.request, "Your password has been changed.")
        return response


@login_required
@require_POST
def team_switch(request: HttpRequest) -> HttpResponse:
    m = get_membership_for_user(request.user, request.POST.get("team"))
    request.session[SESSION_KEY] = m.team_id
    messages.info(request, f"You are now working in {m.team.name}.")
    return redirect("home")


@login_required
@require_http_methods(["GET", "POST"])
def members(request: HttpRequest, team_id: int) -> HttpResponse:
    m = get_membership_for_user(request.user, team_id, Perm.MANAGE)
    form = MemberAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            membership_add(team=m.team, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            messages.success(request, f"{form.cleaned_data['email']} added to {m.team.name}.")
            return redirect("members", team_id=m.team_id)
    rows = Membership.objects.filter(team=m.team).select_related("user").order_by("user__email")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "accounts/members.html",
        {
            "team": m.team,
            "rows": rows,
            "form": form,
            "role_form": MemberRoleForm(),
            "mfa_users": mfa_users(m.team),
            "mfa_form": TeamMfaForm(initial={"require_mfa": m.team.require_mfa}),
        },
        status=status,
    )


@login_required
@require_POST
def member_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    target = get_for_user(
        request.user, Membership.objects.select_related("team", "user"), membership_id, Perm.MANAGE
    )
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the listed roles.")
        return redirect("members", team_id=target.team_id)
    try:
        changed = membership_change_role(
            membership=target, role=form.cleaned_data["role"], actor=request.user
        )
    except ValidationError as exc:
        error_messages(request, exc)
    else:
        # The service returns the locked, updated row; `target` still holds the old role.
        messages.success(request, f"{target.user.email} is now {changed.get_role_display()}.")
    return redirect("members", team_id=target.team_id)


@login_required
@require_http_methods(["GET", "POST"])
def member_remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    """GET asks for confirmation (a page, so it works without JavaScript); POST removes."""
    target = get_for_user(
        request.user, Membership.objects.select_related("team", "user"), membership_id, Perm.MANAGE
    )
    if request.method == "GET":
        return render(
            request,
            "accounts/member_remove_confirm.html",
            {"m": target, "is_self": target.user_id == request.user.pk},
        )
    try:
        membership_remove(membership=target, actor=request.user)
    except ValidationError as exc:
        error_messages(request, exc)
    else:
        messages.success(request, f"{target.user.email} removed from {target.team.name}.")
    return redirect("members", team_id=target.team_id)


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    form = TokenCreateForm(request.POST or None)
    secret = None
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            _token, secret = api_token_create(
                user=request.user,
                name=d["name"],
                read_only=d["scope"] == TokenScope.READ,
                lifetime=timedelta(days=d["days"]),
            )
        except ValidationError as exc:
            add_form_errors(form, exc)
        else:
            form = TokenCreateForm()
    rows = ApiToken.objects.filter(user=request.user)
    response = render(
        request,
        "accounts/tokens.html",
        {"rows": rows, "form": form, "secret": secret},
        status=400 if form.errors else 200,
    )
    if secret:
        # Shown once: neither the browser's cache nor its history may keep a copy.
        add_never_cache_headers(response)  # includes no-store
    return response


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = ApiToken.objects.filter(user=request.user, pk=token_id).first()
    if token is None:
        audit_record(
            "access.denied",
            actor=request.user,
            target=f"token:{token_id}",
            data={"reason": "not the owner"},
        )
        from django.http import Http404

        raise Http404("Not found.")
    api_token_revoke(token=token, actor=request.user)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("tokens")
