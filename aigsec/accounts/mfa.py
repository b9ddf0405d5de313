"""Second factor: TOTP (django-otp) with single-use recovery codes.

Who must have it: the admin of any team, and every member of a team that requires it. A user
with a confirmed TOTP device signs in in two steps (views_mfa.py). Recovery codes live in a
django-otp static device, stored only as a hash: the plain codes are shown once.
"""

from __future__ import annotations

import hashlib
import secrets
from base64 import b32encode
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from aigsec.audit.services import audit_record

from .models import Membership, Role, Team, User

RECOVERY_CODE_COUNT = 10
TOTP_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"


# --- Policy ----------------------------------------------------------------------------------


def mfa_required_for(user: User, memberships: Iterable[Membership] | None = None) -> bool:
    """Admin of any team, or member of a team that requires it. `memberships` (with their
    team loaded) saves the query when the caller already has them."""
    if memberships is None:
        return (
            Membership.objects.filter(user=user)
            .filter(Q(role=Role.ADMIN) | Q(team__require_mfa=True))
            .exists()
        )
    return any(m.role == Role.ADMIN or m.team.require_mfa for m in memberships)


def mfa_device(user: User) -> TOTPDevice | None:
    """The user's confirmed TOTP device: its existence is what "MFA is on" means."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def mfa_enabled(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


# --- Recovery codes --------------------------------------------------------------------------


def _normalise_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def recovery_code_digest(code: str) -> str:
    """What is stored for a recovery code. The codes carry 80 random bits, so an unkeyed
    SHA-256 cut to 80 bits (16 base32 characters, the column's size) cannot be reversed by
    search, and it does not depend on SECRET_KEY (rotating the key keeps the codes valid)."""
    digest = hashlib.sha256(_normalise_code(code).encode()).digest()
    return b32encode(digest).decode().lower()[:16]


def _new_recovery_code() -> str:
    raw = b32encode(secrets.token_bytes(10)).decode().lower()  # 16 characters, 80 bits
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _replace_recovery_codes(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(
        StaticToken(device=device, token=recovery_code_digest(c)) for c in codes
    )
    return codes


# --- Checking a code -------------------------------------------------------------------------


def _looks_like_totp(code: str) -> bool:
    return len(code) == 6 and code.isascii() and code.isdigit()


def mfa_check_code(
    *, user: User, code: str, ip: str | None = None, purpose: str = "login"
) -> str | None:
    """Check a TOTP or recovery code. Returns "totp", "recovery" or None.

    Commits whatever the outcome: django-otp's per-device throttle and the used-up recovery
    code must persist even when the code is wrong. A recovery code is deleted on use."""
    code = _normalise_code(code or "")
    kind, ok = "malformed", False
    with transaction.atomic():
        if _looks_like_totp(code):
            kind = "totp"
            totp = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True)
            device = totp.first()
            ok = device is not None and device.verify_token(code)
        elif 0 < len(code) <= 32:
            kind = "recovery"
            static = StaticDevice.objects.select_for_update().filter(user=user, confirmed=True)
            device = static.first()
            ok = device is not None and device.verify_token(recovery_code_digest(code))
            if ok:
                audit_record(
                    "mfa.recovery_code_used",
                    actor=user,
                    target=f"user:{user.pk}",
                    data={"left": device.token_set.count(), "ip": ip, "purpose": purpose},
                )
        if not ok:
            audit_record(
                "login.mfa_failed",
                actor=user,
                target=f"user:{user.pk}",
                data={"kind": kind, "ip": ip, "purpose": purpose},
            )
    return kind if ok else None


# --- Writes ----------------------------------------------------------------------------------


def mfa_setup_device(*, user: User) -> TOTPDevice:
    """The unconfirmed device whose secret the enrolment page shows. Reloading the page keeps
    the same secret; nothing changes for the user until a code confirms it."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)
    return device


def mfa_enable(*, user: User, device: TOTPDevice, code: str, replace: bool = False) -> list[str]:
    """Confirm the device with a current code; returns new recovery codes (shown once).
    `replace`: the user proved a current code first, and the new app takes the place of the
    old one only once it works, so there is never a moment without a second factor."""
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(pk=device.pk, user=user).first()
        if device is None or device.confirmed:
            raise ValidationError({"code": "Start again: this set-up is no longer valid."})
        old = TOTPDevice.objects.filter(user=user, confirmed=True)
        had_one = old.exists()
        if had_one and not replace:
            raise ValidationError({"code": "Two-factor authentication is already on."})
        code = _normalise_code(code or "")
        if not (_looks_like_totp(code) and device.verify_token(code)):
            verified = False
        else:
            verified = True
            old.delete()
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            TOTPDevice.objects.filter(user=user, confirmed=False).delete()
            codes = _replace_recovery_codes(user)
            audit_record(
                "mfa.enabled",
                actor=user,
                target=f"user:{user.pk}",
                data={"recovery_codes": len(codes), "replaced": had_one},
            )
    if not verified:
        # Outside the transaction above, so django-otp's throttle counter stays committed.
        raise ValidationError(
            {"code": "That code is not valid. Check the time on your phone and try again."}
        )
    return codes


def mfa_recovery_codes_regenerate(*, user: User) -> list[str]:
    with transaction.atomic():
        if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            raise ValidationError("Two-factor authentication is not on.")
        codes = _replace_recovery_codes(user)
        audit_record(
            "mfa.recovery_codes_regenerated",
            actor=user,
            target=f"user:{user.pk}",
            data={"recovery_codes": len(codes)},
        )
    return codes


def mfa_disable(*, user: User, actor: User) -> None:
    """Remove the user's devices. Refused while the user must have a second factor."""
    with transaction.atomic():
        if mfa_required_for(user):
            raise ValidationError(
                "Two-factor authentication is required for you (team admin, or a team that "
                "requires it), so it cannot be turned off."
            )
        removed, _ = TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        if removed:
            audit_record("mfa.disabled", actor=actor, target=f"user:{user.pk}")


def team_require_mfa_set(*, team: Team, required: bool, actor: User) -> Team:
    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=team.pk)
        if team.require_mfa == required:
            return team
        team.require_mfa = required
        team.save(update_fields=["require_mfa"])
        audit_record(
            "team.mfa_required_changed",
            actor=actor,
            team=team,
            target=f"team:{team.pk}",
            data={"old": not required, "new": required},
        )
    return team


def mfa_users(team: Team) -> set[int]:
    """Ids of the team's members who have a second factor (one query), for the members page."""
    return set(
        TOTPDevice.objects.filter(confirmed=True, user__memberships__team=team).values_list(
            "user_id", flat=True
        )
    )


def mfa_demo_device(*, user: User) -> TOTPDevice:
    """For seed_demo only: the demo admin's confirmed device, created once, so that `make run`
    can print a secret to add to an authenticator app."""
    with transaction.atomic():
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=True)
            audit_record(
                "mfa.enabled", target=f"user:{user.pk}", data={"demo": True, "recovery_codes": 0}
            )
    return device


def totp_secret(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it by hand (base32)."""
    return b32encode(device.bin_key).decode()
