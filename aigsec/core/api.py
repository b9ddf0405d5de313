"""API helpers: the exception handler turns Django's validation errors into 400s with reasons,
and gives a 429 its wait in the body as well as in Retry-After."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail)
    response = drf_exception_handler(exc, context)
    if isinstance(exc, exceptions.Throttled) and response is not None:
        response.data = {"detail": str(exc.detail), "retry_after": exc.wait}
    return response
