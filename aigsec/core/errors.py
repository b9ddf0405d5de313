"""Error pages in the app's layout; plain JSON for API paths."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def _error(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=status)
    return render(request, "error.html", {"title": title, "message": message}, status=status)


def bad_request(request, exception=None):
    return _error(request, 400, "Bad request", "The request could not be understood.")


def permission_denied(request, exception=None):
    msg = str(exception) if exception and str(exception) else "You may not do this."
    return _error(request, 403, "Not allowed", msg)


def page_not_found(request, exception=None):
    return _error(request, 404, "Not found", "There is nothing here, or it is not yours to see.")


def server_error(request):
    return _error(
        request, 500, "Something went wrong", "The error has been logged. Nothing was changed."
    )


def too_many_requests(request: HttpRequest, retry_after: int, message: str) -> HttpResponse:
    """429 with Retry-After; under /api/ the body also carries `retry_after` (seconds)."""
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message, "retry_after": retry_after}, status=429)
    else:
        response = _error(request, 429, "Too many requests", message)
    response["Retry-After"] = str(retry_after)
    return response
