"""The structure the code promises (docs/architecture.md): the import directions are checked by
`lint-imports` (pyproject.toml); here, what it cannot say: no import circle between modules
but the one allowed, and no module too long to read."""

from __future__ import annotations

import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("aigsec", "assessments", "evidence", "reviews", "reports", "ops")
# A service queues its task, and the task calls the service: the one circle allowed.
ALLOWED_CIRCLES = [{"reports.services", "reports.tasks"}]


def _circles() -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan), imports in function
    bodies included."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    graph = grimp.build_graph(*PACKAGES, cache_dir=None, exclude_type_checking_imports=True)
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_circle_but_a_service_queuing_its_task():
    assert [c for c in _circles() if c not in ALLOWED_CIRCLES] == []


def _lines(path: Path) -> int:
    return path.read_text().count("\n")


@pytest.mark.parametrize(
    ("where", "limit"),
    [(PACKAGES, 600), (("tests",), 700)],
    ids=["app modules", "test modules"],
)
def test_no_module_is_too_long(where, limit):
    too_long = {
        str(p.relative_to(ROOT)): n
        for top in where
        for p in (ROOT / top).rglob("*.py")
        if "migrations" not in p.parts and (n := _lines(p)) > limit
    }
    assert too_long == {}
