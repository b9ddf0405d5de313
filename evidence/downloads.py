"""An evidence file as a download, for the HTML views and the API alike: the one way evidence
bytes leave the app."""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse

from aigsec.core.downloads import attachment

from .models import EvidenceRevision
from .services import evidence_open_verified


def revision_download(revision: EvidenceRevision, actor: Any) -> StreamingHttpResponse:
    """Streamed while it is hashed; a file that no longer matches its hash raises
    IntegrityFailure (recorded by the service) before or while it is sent."""
    chunks = evidence_open_verified(revision=revision, actor=actor)
    return attachment(
        chunks,
        filename=revision.original_name,
        content_type=revision.content_type,
        size=revision.size,
        sandbox=True,
    )
