from aigsec.core.access import ROLE_PERMS


def team(request):
    membership = getattr(request, "membership", None)
    if membership is None or not request.user.is_authenticated or not membership:
        return {"membership": None, "memberships": [], "perms_here": frozenset()}
    return {
        "membership": membership,
        "memberships": getattr(request, "_aigsec_memberships", [membership]),
        "perms_here": {str(p) for p in ROLE_PERMS.get(membership.role, frozenset())},
    }
