from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: the peer, or the entry TRUSTED_PROXY_COUNT hops from the right of
    X-Forwarded-For (entries further left are client-supplied and cannot be trusted)."""
    n = settings.TRUSTED_PROXY_COUNT
    if n > 0:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [h for h in hops if h]
        if len(hops) >= n:
            return hops[-n]
    return request.META.get("REMOTE_ADDR")
