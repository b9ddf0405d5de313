from django.db.models import Exists, OuterRef
from django.utils.functional import SimpleLazyObject
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import Membership

SESSION_KEY = "aigsec_team_id"


def current_membership(request) -> Membership | None:
    """The membership of the team the user is working in (chosen in the session, else first)."""
    user = request.user
    if not user.is_authenticated:
        return None
    # has_mfa rides along so that the second-factor check (middleware_security) costs no query.
    memberships = list(
        Membership.objects.select_related("team")
        .filter(user=user)
        .annotate(has_mfa=Exists(TOTPDevice.objects.filter(user=OuterRef("user"), confirmed=True)))
    )
    request._aigsec_memberships = memberships
    wanted = request.session.get(SESSION_KEY)
    for m in memberships:
        if m.team_id == wanted:
            return m
    return memberships[0] if memberships else None


class CurrentTeamMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = SimpleLazyObject(lambda: current_membership(request))
        return self.get_response(request)
