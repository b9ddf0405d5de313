"""HTML to PDF with WeasyPrint, allowed to read nothing but `data:` URLs and the report's own
bundled assets. User text is escaped by the template; this fetcher is the second wall, so that
even markup that slipped through could not read local files or reach the network (SSRF)."""

from __future__ import annotations

import contextlib
import gc
import mimetypes
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import weasyprint
from django.conf import settings
from weasyprint.urls import URLFetcher, URLFetcherResponse

ASSET_DIR = (Path(settings.BASE_DIR) / "static" / "reports").resolve()


class SafeURLFetcher(URLFetcher):
    """Serves `data:` URLs and files inside ASSET_DIR; refuses everything else, and keeps
    the refused URLs so callers (and tests) can see what was attempted."""

    def __init__(self) -> None:
        super().__init__(timeout=1, allowed_protocols=("data", "file"), allow_redirects=False)
        self.blocked: list[str] = []

    def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
        scheme = url.split(":", 1)[0].lower()
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "file":
            path = Path(unquote(urlsplit(url).path)).resolve()
            if path.is_relative_to(ASSET_DIR) and path.is_file():
                mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": mime})
        self.blocked.append(url[:200])
        raise ValueError(f"blocked by the report URL policy: {url[:80]}")


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the duration, back on after (unless it was
    already off). WeasyPrint builds a few hundred thousand objects for a large report and
    keeps most of them alive until the PDF is written, so each full pass of the collector
    walks all of them (and everything Django holds) for little to free: about a quarter of
    the largest report's render time (docs/benchmarks.md). What the render leaves as cyclic
    garbage is freed by the first collection after it, in one pass; memory peaks higher
    meanwhile (about +75 MB for the 300-item benchmark report)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def weasyprint_pdf(html: str, fetcher: SafeURLFetcher | None = None) -> bytes:
    """WeasyPrint as it ships, with the safe fetcher: what the benchmark compares against."""
    fetcher = fetcher or SafeURLFetcher()
    document = weasyprint.HTML(string=html, base_url=ASSET_DIR.as_uri() + "/", url_fetcher=fetcher)
    return document.write_pdf(pdf_variant=None)


def html_to_pdf(html: str, fetcher: SafeURLFetcher | None = None) -> bytes:
    """The report's PDF: the same bytes as weasyprint_pdf, without the collector's passes."""
    with cyclic_gc_paused():
        return weasyprint_pdf(html, fetcher)
