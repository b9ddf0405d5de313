"""Turning a service's ValidationError into what the person sees: form errors or messages."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest


def _pairs(exc: ValidationError) -> list[tuple[str | None, str]]:
    if hasattr(exc, "error_dict"):
        return [(field, msg) for field, msgs in exc.message_dict.items() for msg in msgs]
    return [(None, msg) for msg in exc.messages]


def add_form_errors(form: forms.Form, exc: ValidationError) -> None:
    """Attach each message to its field when the form has it, else to the whole form."""
    for field, msg in _pairs(exc):
        form.add_error(field if field in form.fields else None, msg)


def error_messages(request: HttpRequest, exc: ValidationError) -> None:
    for _field, msg in _pairs(exc):
        messages.error(request, msg)
