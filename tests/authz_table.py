"""WHO MAY: the authorisation table of every URL and every API operation.

Each entry names, per HTTP method, what the caller needs: a permission of `ROLE_PERMS`
(checked in the team that owns the object, or in the caller's current team for pages without
an object), or PUBLIC (anyone, signed in or not), or SIGNED_IN (any signed-in person: their
own account and pages). What each persona may then do is derived from `ROLE_PERMS`, not
written here, so the table cannot drift from the roles (docs/roles.md).

An entry whose URL or body names a tenant object (a `Ref`) is checked twice per persona: on the
object of the persona's own team and on the same object of the other team, where everybody
gets a 404. Bodies are valid, effective requests: a refused one that got through would change
something, and the test checks that nothing changed.

`tests/core/test_authz_matrix.py` fails for any URL or API operation missing here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aigsec.core.access import ROLE_PERMS, Perm
from tests.assessments.test_frameworks import small_yaml

from .authz_world import OTHER, Ref, RefText, Upload


class Who(StrEnum):
    PUBLIC = "public"  # anyone, signed in or not
    SIGNED_IN = "signed in"  # any signed-in person; with a Ref: their own account's object


@dataclass(frozen=True)
class Roles:
    """A rule of its own on top of the door: only these roles (e.g. who may comment)."""

    roles: frozenset[str]


Need = Perm | Who | Roles


class Outcome(StrEnum):
    ALLOWED = "allowed"  # not 401/403/404/405, no redirect to the log-in page
    FORBIDDEN = "403"  # a member of the owning team whose role lacks the permission
    NOT_FOUND = "404"  # an object of another team, as if it did not exist
    LOGIN = "login"  # anonymous, HTML: 302 to the log-in page
    UNAUTHENTICATED = "401"  # anonymous, API


def expected(need: Need, role: str | None, side: str, *, api: bool) -> Outcome:
    if need is Who.PUBLIC:
        return Outcome.ALLOWED
    if role is None:
        return Outcome.UNAUTHENTICATED if api else Outcome.LOGIN
    if side == OTHER:
        return Outcome.NOT_FOUND
    if isinstance(need, Roles):
        return Outcome.ALLOWED if role in need.roles else Outcome.FORBIDDEN
    if need is Who.SIGNED_IN or need in ROLE_PERMS[role]:
        return Outcome.ALLOWED
    return Outcome.FORBIDDEN


def audited(need: Need, outcome: Outcome) -> bool:
    """Whether the refusal is recorded as access.denied: every 404 and every 403, whether the
    door (aigsec.core.access) refused a missing permission or a service refused for a Roles
    rule of its own (after the door let the caller in)."""
    return outcome in (Outcome.NOT_FOUND, Outcome.FORBIDDEN)


@dataclass(frozen=True)
class Rule:
    """Who may call one URL (HTML: by URL name; API: one path), per method."""

    methods: dict[str, Need]
    kwargs: dict[str, Any] = field(default_factory=dict)  # URL kwargs (HTML), {"id": ...} (API)
    body: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    fresh_client: bool = False  # the request ends the session it is sent in
    door: bool = True  # a refusal comes from aigsec.core.access and writes access.denied
    login_redirect_ok: bool = False  # PUBLIC pages that send a visitor on to the log-in page

    def names_an_object(self, method: str) -> bool:
        """Checked on both teams' objects: a Ref in the URL, the query or the body sent."""

        def has_ref(v: Any) -> bool:
            if isinstance(v, (Ref, RefText)):
                return True
            if isinstance(v, dict):
                return any(has_ref(x) for x in v.values())
            if isinstance(v, list):
                return any(has_ref(x) for x in v)
            return False

        sent = self.body if method != "GET" else {}
        return has_ref(self.kwargs) or has_ref(self.query) or has_ref(sent)


def same_for(need: Need, *methods: str) -> dict[str, Need]:
    return dict.fromkeys(methods, need)


V, E, A, R, P, M, AU, AP = (
    Perm.VIEW,
    Perm.EDIT,
    Perm.ANSWER,
    Perm.REVIEW,
    Perm.REPORT,
    Perm.MANAGE,
    Perm.AUDIT,
    Perm.APPROVE,
)
PUBLIC, SIGNED_IN = Who.PUBLIC, Who.SIGNED_IN
FORM = ("GET", "POST")  # GET shows the form, POST sends it
# Read-only pages are GET-only (require_GET: POST is a 405, tests/core/test_read_only_pages.py).
# Only the favicon redirect (a RedirectView) answers POST like GET; listed as such, so that a
# POST handler added to it must be decided here.
LOOSE = ("GET", "POST")

SYSTEM = {"pk": Ref("system")}
ASSESSMENT = {"pk": Ref("assessment")}
RESPONSE = {"pk": Ref("response")}
EVIDENCE = {"pk": Ref("evidence")}
REPORT = {"pk": Ref("report")}
TEAM = {"team_id": Ref("team")}
MEMBERSHIP = {"membership_id": Ref("membership")}
NEW_SYSTEM = {
    "name": "Matrix system",
    "description": "",
    "business_owner": "Someone",
    "criticality": "high",
    "model_source": "hosted_third_party",
    "deployment": "Cloud",
    "status": "production",
}
CSV2 = Upload("scan-v2.csv", b"control,result\n1.1.1,pass\n1.1.2,pass\n")
YAML = Upload("matrix.yaml", small_yaml(slug="matrix-upload").encode())

# --- HTML pages, by URL name ------------------------------------------------------------------

HTML: dict[str, Rule] = {
    # Accounts and sign-in
    "home": Rule({"GET": SIGNED_IN}),
    "healthz": Rule({"GET": PUBLIC}),
    "favicon": Rule(same_for(PUBLIC, *LOOSE)),
    "login": Rule(same_for(PUBLIC, *FORM), body={"username": "nobody@x.test", "password": "x"}),
    "logout": Rule({"POST": PUBLIC}, fresh_client=True, login_redirect_ok=True),
    "password_change": Rule(
        same_for(SIGNED_IN, *FORM),
        body={
            "old_password": "correct-horse-battery-staple-42",
            "new_password1": "matrix-horse-battery-staple-77",
            "new_password2": "matrix-horse-battery-staple-77",
        },
        fresh_client=True,
    ),
    "password_reset": Rule(same_for(PUBLIC, *FORM), body={"email": "risk@acme.test"}),
    "password_reset_done": Rule({"GET": PUBLIC}),
    "password_reset_confirm": Rule(
        same_for(PUBLIC, *FORM), kwargs={"uidb64": "MQ", "token": "set-password"}
    ),
    "team_switch": Rule({"POST": V}, body={"team": Ref("team")}),
    "members": Rule(same_for(M, *FORM), TEAM, body={"email": "new@x.test", "role": "auditor"}),
    "member_role": Rule({"POST": M}, MEMBERSHIP, body={"role": "auditor"}),
    "member_remove": Rule(same_for(M, *FORM), MEMBERSHIP),  # GET: the confirmation page
    "tokens": Rule(same_for(SIGNED_IN, *FORM), body={"name": "m", "scope": "read", "days": "7"}),
    # Per account: the caller's own token; anyone else's (even a teammate's) is a 404.
    "token_revoke": Rule({"POST": SIGNED_IN}, {"token_id": Ref("token")}),
    "mfa_setup": Rule(same_for(SIGNED_IN, *FORM), body={"code": "000000"}),
    "mfa_verify": Rule(same_for(PUBLIC, *FORM), body={"code": "000000"}, login_redirect_ok=True),
    "mfa_manage": Rule({"POST": SIGNED_IN}, body={"action": "codes", "code": "000000"}),
    "team_mfa": Rule({"POST": M}, TEAM, body={"require_mfa": "on"}),
    "sessions": Rule({"GET": SIGNED_IN}),
    "sessions_end_others": Rule({"POST": SIGNED_IN}),
    "api-schema": Rule({"GET": PUBLIC}),
    "api-docs": Rule({"GET": PUBLIC}),
    # Frameworks, AI systems, assessments, the questionnaire
    "frameworks": Rule({"GET": SIGNED_IN}),
    "framework_upload": Rule(same_for(M, *FORM), TEAM, body={"file": YAML}),
    "ai_system_list": Rule({"GET": V}),
    "ai_system_create": Rule(same_for(E, *FORM), body=NEW_SYSTEM),
    "ai_system_detail": Rule({"GET": V}, SYSTEM),
    "ai_system_edit": Rule(same_for(E, *FORM), SYSTEM, body={**NEW_SYSTEM, "name": "Renamed"}),
    "ai_system_archive": Rule({"POST": E}, SYSTEM),
    "assessment_create": Rule(
        same_for(E, *FORM), SYSTEM, body={"framework_version": Ref("version"), "title": "Next"}
    ),
    "assessment_detail": Rule({"GET": V}, ASSESSMENT),
    "questionnaire": Rule({"GET": V}, {"pk": Ref("assessment"), "pillar_ref": Ref("pillar_ref")}),
    "assessment_status": Rule({"POST": E}, ASSESSMENT, body={"status": "in_progress"}),
    # The world's assessment is a draft: an allowed sign-off is a 409 (blocked), never a 403.
    "assessment_sign_off": Rule(same_for(AP, *FORM), ASSESSMENT, body={"statement": "Approved."}),
    "assessment_compare": Rule({"GET": V}, ASSESSMENT, query={"other": Ref("assessment")}),
    "assessment_export": Rule({"GET": V}, {"pk": Ref("assessment"), "fmt": "csv"}),
    "guideline_assign": Rule(
        {"POST": A},
        {"pk": Ref("assessment"), "guideline_id": Ref("guideline")},
        body={"owner": Ref("owner"), "due_date": "2031-01-31"},
    ),
    "response_edit": Rule(
        {"GET": V, "POST": A},
        RESPONSE,
        body={"version": 1, "status": "full", "justification": "Done.", "owner": ""},
    ),
    "my_work": Rule({"GET": SIGNED_IN}),
    "assessment_controls": Rule({"GET": V}, ASSESSMENT, query={"q": "place", "status": "full"}),
    "search": Rule({"GET": V}, query={"q": "system"}),
    # Evidence, reviews, comments
    "evidence_list": Rule({"GET": V}),
    "evidence_create": Rule(
        same_for(A, *FORM), body={"kind": "note", "title": "Matrix note", "note": "Seen."}
    ),
    "evidence_detail": Rule({"GET": V}, EVIDENCE),
    "evidence_download": Rule({"GET": V}, EVIDENCE),
    "evidence_revision": Rule({"POST": A}, EVIDENCE, body={"file": CSV2}),
    "evidence_link": Rule({"POST": A}, EVIDENCE, body={"response": Ref("response2")}),
    "evidence_unlink": Rule({"POST": A}, EVIDENCE, body={"response": Ref("response")}),
    "evidence_withdraw": Rule({"POST": M}, EVIDENCE, body={"reason": "Superseded."}),
    "response_evidence": Rule(
        {"GET": A, "POST": A},
        {"pk": Ref("response2")},
        body={"item": Ref("evidence"), "action": "link"},
    ),
    "review_queue": Rule({"GET": R}),
    "review_create": Rule(
        {"POST": R},
        body={
            "target_type": "evidence",
            "target_id": Ref("evidence"),
            "decision": "accepted",
            "comment": "",
        },
    ),
    # A checkbox names its target as "kind:id:version:seen_review" (empty: not checked).
    "review_bulk": Rule(
        {"POST": R},
        body={"target": RefText("evidence:{}::", "evidence"), "scope": "selected"},
    ),
    # Managers follow progress; the people doing and judging the work discuss it (`comment`).
    "response_comment": Rule({"POST": Perm.COMMENT}, RESPONSE, body={"body": "A question."}),
    # Reports
    "report_list": Rule({"GET": V}),
    "report_verify": Rule(same_for(V, *FORM), body={"file": Upload("r.pdf", b"%PDF-1.4\n")}),
    "report_status": Rule({"GET": V}, REPORT),
    "report_download": Rule({"GET": V}, REPORT),
    "assessment_reports": Rule({"GET": V}, ASSESSMENT),
    "report_request": Rule({"POST": P}, ASSESSMENT),
    # Audit trail (always the current team's)
    "audit_trail": Rule({"GET": AU}),
    "audit_export": Rule({"GET": AU}, {"fmt": "csv"}),
    "audit_verify": Rule(same_for(AU, *FORM)),
    "audit_event": Rule({"GET": AU}, {"seq": Ref("audit_seq")}),
    # The transparency log's verifier key: public, like the checkpoint it checks.
    "audit_log_vkey": Rule({"GET": PUBLIC}),
}

# --- The REST API, by schema path; methods as in the OpenAPI schema ----------------------------

API_PREFIX = "/api/v1"
FILE = {"file": CSV2}

API: dict[str, Rule] = {
    "/ai-systems/": Rule({"GET": SIGNED_IN, "POST": E}, body={**NEW_SYSTEM, "team": Ref("team")}),
    "/ai-systems/{id}/": Rule(
        {"GET": V, "PUT": E, "PATCH": E, "DELETE": E},
        {"id": Ref("system")},
        body={**NEW_SYSTEM, "name": "Renamed"},
    ),
    "/assessments/": Rule(
        {"GET": SIGNED_IN, "POST": E},
        body={"ai_system": Ref("system"), "framework_version": Ref("version"), "title": "Next"},
    ),
    "/assessments/{id}/": Rule({"GET": V}, {"id": Ref("assessment")}),
    "/assessments/{id}/export/": Rule(
        {"GET": V}, {"id": Ref("assessment")}, query={"format": "csv"}
    ),
    "/assessments/{id}/reports/": Rule({"GET": V, "POST": P}, {"id": Ref("assessment")}),
    "/assessments/{id}/responses/": Rule({"GET": V}, {"id": Ref("assessment")}),
    "/assessments/{id}/status/": Rule(
        {"POST": E}, {"id": Ref("assessment")}, body={"status": "in_progress"}
    ),
    "/assessments/{id}/sign-off/": Rule(
        {"POST": AP}, {"id": Ref("assessment")}, body={"statement": "Approved."}
    ),
    "/evidence/": Rule(
        {"GET": SIGNED_IN, "POST": A},
        body={"team": Ref("team"), "title": "API note", "note": "Seen."},
    ),
    "/evidence/{id}/": Rule({"GET": V}, {"id": Ref("evidence")}),
    "/evidence/{id}/download/": Rule({"GET": V}, {"id": Ref("evidence")}),
    "/evidence/{id}/link/": Rule(
        {"POST": A}, {"id": Ref("evidence")}, body={"response": Ref("response2")}
    ),
    "/evidence/{id}/revisions/": Rule({"POST": A}, {"id": Ref("evidence")}, body=FILE),
    "/evidence/{id}/unlink/": Rule(
        {"POST": A}, {"id": Ref("evidence")}, body={"response": Ref("response")}
    ),
    "/frameworks/": Rule({"GET": SIGNED_IN}),
    # Frameworks are the one shared model: scoped in the view, not by the door (no audit).
    "/frameworks/{id}/": Rule({"GET": V}, {"id": Ref("framework")}, door=False),
    "/reports/": Rule({"GET": SIGNED_IN}),
    "/search/": Rule({"GET": SIGNED_IN}, query={"q": "system"}),
    "/reports/{id}/": Rule({"GET": V}, {"id": Ref("report")}),
    "/reports/{id}/download/": Rule({"GET": V}, {"id": Ref("report")}),
    "/reports/verify/": Rule({"POST": SIGNED_IN}, body={"file": Upload("r.pdf", b"%PDF-1.4\n")}),
    "/responses/{id}/": Rule(
        {"GET": V, "PATCH": A},
        {"id": Ref("response")},
        body={"version": 1, "status": "full", "justification": "Done."},
    ),
    # The transparency log: checkpoints and consistency proofs reveal sizes and roots only;
    # an event's proof and the team's bundle hold event lines (the event's team's auditors).
    "/audit/checkpoint/": Rule({"GET": PUBLIC}),
    "/audit/consistency/": Rule(
        {"GET": PUBLIC},
        query={"first": Ref("checkpoint_size"), "second": Ref("checkpoint_size")},
    ),
    "/audit/events/{seq}/proof/": Rule({"GET": AU}, {"seq": Ref("audit_seq")}),
    "/audit/bundle/": Rule({"GET": AU}),
    "/reviews/": Rule(
        {"GET": SIGNED_IN, "POST": R},
        body={"evidence": Ref("evidence"), "decision": "accepted"},
    ),
    "/reviews/bulk/": Rule(
        {"POST": R},
        body={
            "decision": "accepted",
            "comment": "Seen.",
            "targets": [{"kind": "evidence", "id": Ref("evidence")}],
        },
    ),
}
