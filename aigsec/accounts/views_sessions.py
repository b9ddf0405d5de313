from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from . import lockout
from .user_sessions import live_sessions, user_sessions_end


@login_required
@require_GET
def sessions(request: HttpRequest) -> HttpResponse:
    rows = list(live_sessions(request.user).order_by("-last_seen_at"))
    return render(
        request,
        "accounts/sessions.html",
        {
            "rows": rows,
            "current": request.session.session_key,
            "idle_minutes": settings.SESSION_IDLE_TIMEOUT // 60,
            "lifetime_hours": round(settings.SESSION_ABSOLUTE_LIFETIME / 3600, 1),
        },
    )


@login_required
@require_POST
def sessions_end_others(request: HttpRequest) -> HttpResponse:
    ended = user_sessions_end(
        user=request.user,
        reason="signed_out_others",
        actor=request.user,
        keep_session_key=request.session.session_key,
    )
    messages.success(
        request,
        f"Signed out {ended} other session{'s' if ended != 1 else ''}."
        if ended
        else "There were no other sessions.",
    )
    return redirect("sessions")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """A reset means the password may be known to someone else: every session ends."""

    def form_valid(self, form):
        response = super().form_valid(form)
        # Proof of the mailbox: whoever failed to sign in as this person, they may now.
        lockout.reset_address(form.user.email)
        user_sessions_end(user=form.user, reason="password_reset", actor=form.user)
        # Said on the log-in page it leads to: the reset is done, sign in with the new one.
        messages.success(
            self.request, "Your password has been changed. Log in with your new password."
        )
        return response
