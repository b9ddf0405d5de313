from django import forms


class MfaCodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=40,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}
        ),
        help_text="The 6-digit code from your authenticator app, or one of your recovery codes.",
    )


class MfaConfirmForm(forms.Form):
    code = forms.CharField(
        label="Code from the app",
        max_length=10,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class MfaDisableForm(forms.Form):
    """Proof that the person at the keyboard is the account holder: a code or the password."""

    code = forms.CharField(label="Current code", max_length=40, required=False)
    password = forms.CharField(
        label="or your password",
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("code") and not cleaned.get("password"):
            raise forms.ValidationError("Enter a current code or your password.")
        return cleaned


class TeamMfaForm(forms.Form):
    require_mfa = forms.BooleanField(
        required=False, label="Require two-factor authentication for every member"
    )
