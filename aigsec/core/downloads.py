"""How files leave the app, for HTML views and the API alike: an inert attachment that nobody
caches or sniffs. Evidence, reports, exports and audit-trail downloads all go through here."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse


def ascii_fallback(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    plain = "".join(c if c.isalnum() or c in "._- " else "_" for c in plain).strip(" ._")
    return plain or "file"


def content_disposition(name: str) -> str:
    """RFC 6266: a quoted ASCII fallback and the exact UTF-8 name in filename* (only the
    first where the name is plain ASCII already)."""
    if ascii_fallback(name) == name:
        return f'attachment; filename="{name}"'
    return (
        f"attachment; filename=\"{ascii_fallback(name)}\"; filename*=UTF-8''{quote(name, safe='')}"
    )


def attachment(
    content: bytes | Iterable[bytes | str],
    *,
    filename: str,
    content_type: str,
    size: int | None = None,
    sha256: str | None = None,
    sandbox: bool = False,
) -> HttpResponse | StreamingHttpResponse:
    """`content` whole (bytes) or streamed (an iterable of chunks, str encoded in the
    response's charset, with `size` when known).

    `sandbox` is for files people uploaded: a browser that opens one anyway runs nothing."""
    if isinstance(content, bytes):
        resp: HttpResponse | StreamingHttpResponse = HttpResponse(
            content, content_type=content_type
        )
        size = len(content)
    else:
        resp = StreamingHttpResponse(content, content_type=content_type)
    if size is not None:
        resp["Content-Length"] = str(size)
    resp["Content-Disposition"] = content_disposition(filename)
    resp["X-Content-Type-Options"] = "nosniff"
    resp["Cache-Control"] = "no-store"
    if sha256:
        resp["Digest"] = f"sha-256={sha256}"
    if sandbox:
        resp["Content-Security-Policy"] = "sandbox; default-src 'none'"
        resp._csp_exempt = True  # django-csp must not replace the sandbox policy
    return resp


def base_url(request: HttpRequest) -> str:
    """Scheme and host, so links inside a downloaded file (an OSCAL export's evidence links)
    work outside the app."""
    return request.build_absolute_uri("/").rstrip("/")
