"""html_to_pdf pauses Python's cyclic garbage collector while WeasyPrint works (a quarter of
a large report's render time otherwise, docs/benchmarks.md) and always gives it back."""

from __future__ import annotations

import gc

import pytest

from reports.render import SafeURLFetcher, cyclic_gc_paused, html_to_pdf, weasyprint_pdf

PAGE = '<link rel="stylesheet" href="report.css"><p>Evidence register</p>'


class WatchingFetcher(SafeURLFetcher):
    """Notes whether the collector was on each time WeasyPrint fetched something."""

    def __init__(self) -> None:
        super().__init__()
        self.gc_enabled: list[bool] = []

    def fetch(self, url: str, headers: dict | None = None):
        self.gc_enabled.append(gc.isenabled())
        return super().fetch(url, headers)


def test_the_collector_is_off_during_the_render_and_on_again_after():
    assert gc.isenabled()
    fetcher = WatchingFetcher()
    pdf = html_to_pdf(PAGE, fetcher)
    assert pdf.startswith(b"%PDF-")
    assert fetcher.gc_enabled == [False]  # the stylesheet was fetched mid-render
    assert gc.isenabled()


def test_the_baseline_renders_with_the_collector_on_and_the_same_bytes():
    fetcher = WatchingFetcher()
    plain = weasyprint_pdf(PAGE, fetcher)
    assert fetcher.gc_enabled == [True]
    # Pausing the collector changes when memory is freed, never what is drawn.
    assert html_to_pdf(PAGE) == plain


def test_the_collector_is_given_back_after_an_error():
    with pytest.raises(RuntimeError), cyclic_gc_paused():
        assert not gc.isenabled()
        raise RuntimeError("render failed")
    assert gc.isenabled()


def test_a_collector_that_was_already_off_is_left_off():
    gc.disable()
    try:
        html_to_pdf("<p>x</p>")
        assert not gc.isenabled()
    finally:
        gc.enable()
