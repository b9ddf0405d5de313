"""Authentication events into the audit trail. Django's auth signals are the only place where
every login path (form, admin, API session) passes, which is why these are receivers."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from aigsec.audit.services import audit_record

from .net import client_ip
from .user_sessions import user_session_forget, user_session_start


def _ip(request) -> str | None:
    return client_ip(request) if request is not None else None


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs):
    audit_record("auth.login", actor=user, target=f"user:{user.pk}", data={"ip": _ip(request)})
    if request is not None and hasattr(request, "session"):
        user_session_start(request=request, user=user)


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        audit_record("auth.logout", actor=user, target=f"user:{user.pk}", data={"ip": _ip(request)})
    if request is not None and hasattr(request, "session"):
        user_session_forget(session_key=request.session.session_key)


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs):
    email = str(credentials.get("username") or credentials.get("email") or "")[:254]
    audit_record("auth.login_failed", data={"email": email.lower(), "ip": _ip(request)})
