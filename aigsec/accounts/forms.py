from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.core.exceptions import ValidationError

from aigsec.audit.services import audit_record

from . import lockout
from .models import Role, TokenScope
from .net import client_ip

GENERIC_LOCKED = (
    "Too many failed sign-in attempts. Please wait 15 minutes and try again, "
    "or reset your password."
)


class LoginForm(AuthenticationForm):
    username = forms.EmailField(
        label="E-mail", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )
    error_messages = {
        "invalid_login": "E-mail or password is not correct.",
        "inactive": "E-mail or password is not correct.",
    }

    def _ip(self) -> str | None:
        return client_ip(self.request) if self.request else None

    def clean(self):
        email = (self.cleaned_data.get("username") or "").lower()
        if email and lockout.is_locked(email, self._ip()):
            # Refused before authentication, so Django's login-failed signal does not fire.
            audit_record("auth.login_locked", data={"email": email, "ip": self._ip()})
            raise ValidationError(GENERIC_LOCKED, code="locked")
        try:
            cleaned = super().clean()
        except ValidationError:
            if email:
                lockout.register_failure(email, self._ip())
            raise
        # The counter is reset by LoginView once the whole sign-in succeeds: a correct
        # password alone must not wipe the failed second-factor codes counted against it.
        return cleaned


class MemberAddForm(forms.Form):
    email = forms.EmailField(label="E-mail")
    role = forms.ChoiceField(choices=Role.choices)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


TOKEN_DAYS = (7, 30, 90, 365)


def _token_day_choices() -> list[tuple[int, str]]:
    days = sorted({*TOKEN_DAYS, settings.API_TOKEN_DEFAULT_LIFETIME.days})
    return [(d, f"{d} days") for d in days]


class TokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. “CI export”.")
    scope = forms.ChoiceField(
        choices=TokenScope.choices,
        initial=TokenScope.READ,
        widget=forms.RadioSelect,
        label="Access",
        help_text="Least privilege: read-only unless the script must change something.",
    )
    # There is no "never expires" choice: a leaked token must stop working on its own.
    days = forms.TypedChoiceField(coerce=int, choices=_token_day_choices, label="Valid for")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["days"].initial = settings.API_TOKEN_DEFAULT_LIFETIME.days


class InvitationAwarePasswordResetForm(PasswordResetForm):
    """Also sends the link to accounts created by an admin without a password (invitations);
    Django's form skips accounts with an unusable password."""

    def get_users(self, email):
        from .models import User

        return User.objects.filter(email__iexact=email, is_active=True)
