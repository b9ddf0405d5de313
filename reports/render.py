"""HTML to PDF with WeasyPrint, allowed to read nothing but `data:` URLs and the report's own
bundled assets. User text is escaped by the template; this fetcher is the second wall, so that
even markup that slipped through could not read local files or reach the network (SSRF)."""

from __future__ import annotations

import mimetypes
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


def html_to_pdf(html: str, fetcher: SafeURLFetcher | None = None) -> bytes:
    fetcher = fetcher or SafeURLFetcher()
    document = weasyprint.HTML(string=html, base_url=ASSET_DIR.as_uri() + "/", url_fetcher=fetcher)
    return document.write_pdf(pdf_variant=None)
