"""Numbered pages of a list, for the HTML pages that show one page at a time (evidence list,
review queue, My work): the page asked for in the query string, the clamped window, and the
previous and next page numbers."""

from __future__ import annotations

from typing import NamedTuple

from django.db.models import Count, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest


def page_param(request: HttpRequest, name: str = "page") -> int:
    """The page asked for: ASCII digits only (a superscript digit passes isdigit() and breaks
    int()); anything else is page 1, as an unknown page is."""
    value = request.GET.get(name, "")
    return int(value) if value.isascii() and value.isdigit() and len(value) < 9 else 1


class Window(NamedTuple):
    number: int  # 1-based, clamped to the pages there are
    pages: int  # at least 1
    start: int  # offset of the page's first row


def page_window(total: int, page: int, size: int) -> Window:
    pages = max(1, -(-total // size))
    number = min(max(1, page), pages)
    return Window(number, pages, (number - 1) * size)


class Paged:
    """previous and next page numbers for a page object with `number` and `pages`."""

    number: int
    pages: int

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def subquery_count(rows: QuerySet, fk: str) -> Coalesce:
    """An annotation counting `rows` (filtered on OuterRef) per `fk`, 0 when none: a correlated
    count that stays in the outer query instead of a join and a GROUP BY."""
    grouped = rows.order_by().values(fk).annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(grouped), 0)
