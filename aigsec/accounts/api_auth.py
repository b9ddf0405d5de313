from rest_framework import authentication, exceptions

from .services import TokenRefused, api_token_authenticate, api_token_mark_used

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>`: 401 with the reason for an unknown, expired or revoked
    token or a deactivated account; 403 for a read-only token on an unsafe method.

    A token only says who is calling. What the caller may do is decided per request by the
    door (aigsec.core.access) from the user's current role, so a demotion or a removal from a
    team applies to their tokens at once."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if not parts or parts[0] != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        try:
            token = api_token_authenticate(parts[1])
        except TokenRefused as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None
        if token.read_only and request.method not in SAFE_METHODS:
            raise exceptions.PermissionDenied(
                "This token is read-only: it may only read (GET). Use a read-write token."
            )
        api_token_mark_used(token=token)
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword
