"""The audit log's identity: its origin line and its Ed25519 checkpoint key.

The key is `AUDIT_LOG_SIGNING_KEY` (a signed-note signer key, ``PRIVATE+KEY+...``) or, when
that is unset, a key generated on first use into ``<AIGSEC_DATA_DIR>/audit-log-signing.key``
(mode 0600). Its name is the log's origin at the time it was made. Anyone checks checkpoints
with the verifier key alone (`python manage.py audit_checkpoint --vkey`,
``/.well-known/aigsec/audit-log-vkey``).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .note import NoteError, Signer, Verifier, parse_skey

KEY_FILE = "audit-log-signing.key"


def log_origin() -> str:
    """AUDIT_LOG_ORIGIN, else the first concrete host of ALLOWED_HOSTS followed by /audit."""
    if settings.AUDIT_LOG_ORIGIN:
        return settings.AUDIT_LOG_ORIGIN
    hosts = [h for h in settings.ALLOWED_HOSTS if h and not h.startswith((".", "*"))]
    return f"{hosts[0] if hosts else 'localhost'}/audit"


def key_path() -> Path:
    return Path(settings.AIGSEC_DATA_DIR) / KEY_FILE


def _from_setting() -> Signer | None:
    if not settings.AUDIT_LOG_SIGNING_KEY:
        return None
    try:
        return parse_skey(settings.AUDIT_LOG_SIGNING_KEY)
    except NoteError as exc:
        raise ImproperlyConfigured(f"AUDIT_LOG_SIGNING_KEY: {exc}") from exc


def existing_signer() -> Signer | None:
    """The configured key, without ever creating one (restore: a fresh key cannot be right)."""
    signer = _from_setting()
    if signer is not None:
        return signer
    path = key_path()
    if not path.exists():
        return None
    try:
        return parse_skey(path.read_text())
    except NoteError as exc:
        raise ImproperlyConfigured(f"{path}: {exc}") from exc


def signing_key() -> Signer:
    """The key that signs checkpoints, generated into the data dir on first use."""
    signer = existing_signer()
    if signer is not None:
        return signer
    path = key_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    new = Signer(log_origin(), secrets.token_bytes(32))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass  # another process made it first: use that one
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(new.skey + "\n")
    signer = existing_signer()
    assert signer is not None
    return signer


def verifier() -> Verifier:
    return signing_key().verifier
