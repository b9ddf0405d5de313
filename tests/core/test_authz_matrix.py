"""The authorisation matrix: every URL and every API operation, for every persona and every
method it accepts, on an object of the persona's own team and on one of the other team,
against the table of who may (`tests/authz_table.py`, derived from `ROLE_PERMS`).

Allowed means the permission passed: not 401/403/404/405 and no redirect to the log-in page
(2xx or a redirect elsewhere; for a write also a 400 or 409 about the body or the state).
Refused means 403 for a member whose role lacks the permission, 404 for another team's
object, 302 to the log-in page for an anonymous browser and 401 for an anonymous API call. A
refusal by a member is recorded as `access.denied`; a refused write changes no row and no
stored file (one fingerprint query over every tenant table) and records nothing else.

One world per URL (both teams, every object): refusals run first, then the allowed reads,
then the allowed writes, so a write never hides a refusal. The URL conf and the OpenAPI
schema are enumerated, so a new URL or operation without an entry fails here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from drf_spectacular.generators import SchemaGenerator

from aigsec.audit.models import AuditEvent
from tests.authz_table import API, API_PREFIX, HTML, Outcome, Rule, audited, expected
from tests.authz_world import OTHER, OWN, PERSONAS, Upload, World, build_world, changed_tables
from tests.authz_world import fingerprint as db_fingerprint

pytestmark = pytest.mark.django_db

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
HTML_METHODS = ("GET", "POST")  # server-rendered pages: forms and links


# --- Enumeration: the URL conf and the schema -----------------------------------------------


def _patterns(resolver=None, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for p in (resolver or get_resolver()).url_patterns:
        if isinstance(p, URLResolver):
            yield from _patterns(p, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p


def _is_api(route: str) -> bool:
    return route.startswith("api/v1/") and route not in ("api/v1/schema/", "api/v1/docs/")


def html_names() -> set[str]:
    return {p.name for route, p in _patterns() if not _is_api(route)}


@functools.cache
def schema_operations() -> frozenset[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return frozenset(
        (path.removeprefix(API_PREFIX), method.upper())
        for path, ops in schema["paths"].items()
        for method in ops
        if method.upper() in METHODS
    )


def urlconf_api_operations() -> set[tuple[str, str]]:
    """What the API URL patterns route, read from the views themselves (not the schema)."""
    ops = set()
    for route, p in _patterns():
        if not _is_api(route):
            continue
        # drf-spectacular names a primary key {id}; other converters keep their name.
        path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route.removeprefix("api/v1/"))
        path = path.replace("{pk}", "{id}")
        actions = getattr(p.callback, "actions", None)  # viewsets: method -> action
        if actions is not None:
            methods = {m.upper() for m in actions}
        else:
            cls = p.callback.cls
            methods = {m.upper() for m in cls.http_method_names if hasattr(cls, m)}
        ops |= {(path, m) for m in methods if m in METHODS}
    return ops


def test_every_url_has_an_entry():
    names = html_names()
    missing = names - set(HTML)
    assert not missing, f"URLs without an entry in authz_table.HTML: {sorted(missing)}"
    stale = set(HTML) - names
    assert not stale, f"Entries for URLs that no longer exist: {sorted(stale)}"


def test_every_api_operation_has_an_entry():
    table = {(path, m) for path, rule in API.items() for m in rule.methods}
    schema = schema_operations()
    assert not schema - table, f"API operations without an entry: {sorted(schema - table)}"
    assert not table - schema, f"Entries for operations not in the schema: {sorted(table - schema)}"
    # Nothing routed is left out of the schema (and so out of this matrix).
    hidden = urlconf_api_operations() - schema
    assert not hidden, f"Routed but not in the OpenAPI schema: {sorted(hidden)}"


# --- Running one check ------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    method: str
    persona: str
    side: str
    outcome: Outcome
    audited: bool  # a refusal by the door, recorded as access.denied

    @property
    def order(self) -> tuple[int, int]:
        # Refusals first, then allowed reads, then allowed writes.
        allowed = self.outcome is Outcome.ALLOWED
        return (int(allowed), int(allowed and self.method != "GET"))

    def __str__(self) -> str:
        return f"{self.method} as {self.persona} on {self.side} team's object"


def checks_for(rule: Rule, world: World, *, api: bool) -> list[Check]:
    out = []
    for method, need in rule.methods.items():
        for persona in PERSONAS:
            two = rule.names_an_object(method) and persona != "anonymous"
            for side in (OWN, OTHER) if two else (OWN,):
                outcome = expected(need, world.role(persona), side, api=api)
                door = rule.door and world.role(persona) is not None and audited(need, outcome)
                out.append(Check(method, persona, side, outcome, door))
    return sorted(out, key=lambda c: c.order)


def verdict(resp, check: Check, rule: Rule) -> str | None:
    """None if the response is the expected outcome, else what is wrong."""
    code, outcome = resp.status_code, check.outcome
    location = resp.get("Location", "") if 300 <= code < 400 else ""
    to_login = location.startswith(reverse("login"))
    if code >= 500:
        return f"server error {code}"
    if outcome is Outcome.ALLOWED:
        if code in (401, 403, 404, 405):
            return f"refused with {code}, expected allowed"
        if to_login and not rule.login_redirect_ok:
            return "sent to log in, expected allowed"
        # A read has no body to get wrong: it must work. A write may be a 400 or 409 about
        # the body or the state the world is in by then (permission passed either way).
        body_errors = (400, 409) if check.method != "GET" else ()
        if not (200 <= code < 400 or code in body_errors):
            return f"unexpected {code}"
        return None
    wanted = {
        Outcome.FORBIDDEN: code == 403,
        Outcome.NOT_FOUND: code == 404,
        Outcome.LOGIN: code == 302 and to_login,
        Outcome.UNAUTHENTICATED: code == 401,
    }[outcome]
    return None if wanted else f"got {code} {location}, expected {outcome.value}"


def _consume(resp) -> None:
    # The test client closes a streamed response (and its file) once it is read; closing it
    # again ourselves would fire request_finished and close the test's database connection.
    if getattr(resp, "streaming", False):
        b"".join(resp.streaming_content)


def _denials() -> int:
    return AuditEvent.objects.filter(action="access.denied").count()


def run_checks(world: World, rule: Rule, prepare, *, api: bool) -> list[str]:
    """Every check of one URL; returns the failures. `prepare(check)` signs in and builds the
    request (before the fingerprint is taken), and returns a function that sends it."""
    failures: list[str] = []
    for check in checks_for(rule, world, api=api):
        refused = check.outcome is not Outcome.ALLOWED
        send = prepare(check)
        before = db_fingerprint() if refused and check.method != "GET" else None
        seq_before = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
        denials = _denials()
        cache.clear()  # rate limits: hundreds of requests per test, by design
        resp = send()
        problem = verdict(resp, check, rule)
        _consume(resp)
        if problem:
            failures.append(f"{check}: {problem}")
            continue
        if check.audited and _denials() == denials:
            failures.append(f"{check}: refused without an access.denied audit event")
        if before is not None:
            if changed := changed_tables(before, db_fingerprint()):
                failures.append(f"{check}: refused, yet changed {changed}")
            new = set(
                AuditEvent.objects.filter(seq__gt=seq_before).values_list("action", flat=True)
            )
            if new - {"access.denied"}:
                failures.append(f"{check}: refused, yet audited {sorted(new)}")
        if check.outcome is Outcome.ALLOWED and api and check.method == "GET":
            failures += _leaks(world, check, resp)
    return failures


def _leaks(world: World, check: Check, resp) -> list[str]:
    """A list must hold the caller's own team's rows only (bundled frameworks: no team)."""
    body = resp.json() if resp["Content-Type"].startswith("application/json") else None
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        return []
    own = world.teams[world.team_key(check.persona, OWN)]["team"]
    bad = [
        row.get("id")
        for row in body["results"]
        if row.get("team", own) != own or row.get("owner_team") not in (None, own)
    ]
    return [f"{check}: list shows rows of another team: {bad}"] if bad else []


# --- HTML -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(HTML))
def test_html_matrix(personas, name):
    world = build_world(personas)
    rule = HTML[name]

    def prepare(check: Check):
        kwargs = world.resolve(rule.kwargs, check.persona, check.side)
        url = reverse(name, kwargs=kwargs or None)
        if rule.query:
            url += "?" + urlencode(world.resolve(rule.query, check.persona, check.side))
        client = world.client(check.persona, fresh=rule.fresh_client)
        if check.method == "GET":
            return lambda: client.get(url)
        body = world.resolve(rule.body, check.persona, check.side)
        return lambda: client.post(url, body)

    # First, while every persona still holds its role: an allowed write (an admin requiring
    # two-factor sign-in of the team, say) may change what the others see afterwards.
    failures = _unaccepted_html_methods(world, name, rule)
    failures += run_checks(world, rule, prepare, api=False)
    assert not failures, f"{name}:\n" + "\n".join(failures)


def _unaccepted_html_methods(world: World, name: str, rule: Rule) -> list[str]:
    """The methods a page does not list must be refused with 405 (so the table lists every
    method each page accepts); an anonymous visitor may be sent to log in first."""
    failures = []
    kwargs = world.resolve(rule.kwargs, "admin", OWN)
    url = reverse(name, kwargs=kwargs or None)
    for method in set(HTML_METHODS) - set(rule.methods):
        for persona in PERSONAS:
            client = world.client(persona, fresh=rule.fresh_client)
            resp = client.get(url) if method == "GET" else client.post(url)
            ok = resp.status_code == 405 or (
                persona == "anonymous"
                and resp.status_code == 302
                and resp["Location"].startswith(reverse("login"))
            )
            if not ok:
                failures.append(f"{method} as {persona}: {resp.status_code}, not listed → 405")
    return failures


# --- The API --------------------------------------------------------------------------------


def _has_upload(body: dict) -> bool:
    return any(isinstance(v, Upload) for v in body.values())


@pytest.mark.parametrize("path", sorted(API))
def test_api_matrix(personas, path):
    world = build_world(personas)
    rule = API[path]

    def url_for(persona: str, side: str) -> str:
        return API_PREFIX + path.format(**world.resolve(rule.kwargs, persona, side))

    def prepare(check: Check):
        client = world.api(check.persona)
        url = url_for(check.persona, check.side)
        if check.method == "GET":
            query = world.resolve(rule.query, check.persona, check.side)
            return lambda: client.get(url, query)
        body = world.resolve(rule.body, check.persona, check.side)
        fmt = "multipart" if _has_upload(rule.body) else "json"
        return lambda: getattr(client, check.method.lower())(url, body, format=fmt)

    failures = []
    # Methods the schema does not list are not routed: 405 for a signed-in caller.
    for method in set(METHODS) - set(rule.methods):
        resp = getattr(world.api("admin"), method.lower())(url_for("admin", OWN))
        if resp.status_code != 405:
            failures.append(f"{method} as admin: {resp.status_code}, not in the schema → 405")
    failures += run_checks(world, rule, prepare, api=True)
    assert not failures, f"{path}:\n" + "\n".join(failures)
