"""A file already in the team's evidence is offered for linking, not stored a second time.

Uploading a new evidence file (page or API) whose SHA-256 is that of a revision of an item
the team already has (and has not withdrawn) creates nothing: the page offers to link the
existing item to the controls the upload was for, and the API answers 409 with
`duplicate_of`. One file, one item, linked to as many controls as it supports: its reviews,
freshness and integrity checks then cover every use. Only the uploader's own team is
searched, so another team's identical file is neither found nor revealed.

A check before the write, not a constraint: two identical uploads in the same instant can
both pass (a retry is covered by the API's Idempotency-Key and the pages' one-time tokens).
"""

from __future__ import annotations

from typing import IO

from aigsec.accounts.models import Team

from .models import EvidenceItem, EvidenceRevision
from .upload import UploadTooLarge, stream_facts


def duplicate_of(*, team: Team, uploaded_file: IO[bytes] | None) -> EvidenceItem | None:
    """The team's live evidence item holding a revision with this file's content, if any
    (the oldest such item)."""
    if uploaded_file is None:
        return None
    try:
        sha256 = stream_facts(uploaded_file)[0]
    except UploadTooLarge:
        return None  # refused later with its own message
    rev = (
        EvidenceRevision.objects.filter(
            item__team=team, item__withdrawn_at__isnull=True, sha256=sha256
        )
        .select_related("item")
        .order_by("item_id", "number")
        .first()
    )
    return rev.item if rev is not None else None


def duplicate_message(item: EvidenceItem) -> str:
    return (
        f"This file is already evidence #{item.pk} “{item.title}” of your team. Nothing was "
        "uploaded: link that item to the controls instead."
    )
