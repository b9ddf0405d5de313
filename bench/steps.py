"""The benchmark steps that run inside Django, against the database of the environment.

`python -m bench.steps STEP --scale NAME --out FILE` (bench/run.py starts these with the bench
environment). Each step writes its findings as JSON to FILE.

- seed: load the framework, seed the scale (bench/seed.py), take an audit checkpoint.
- prepare: a session cookie per persona and an API token, and the URL of every page.
- queries: the number of SQL queries of every page (Django's test client, second request).
- report: render and sign the largest assessment through the task code, against WeasyPrint
  alone on the same HTML.
- audit: time `verify_audit_log` over the whole chain.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aigsec.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from aigsec.accounts.models import User  # noqa: E402
from assessments.models import Control, Response  # noqa: E402

from .scales import SCALES  # noqa: E402
from .seed import seed  # noqa: E402

PAGES = (
    "questionnaire",
    "dashboard",
    "my_work",
    "evidence_list",
    "review_queue",
    "audit_trail",
    "api_responses",
    "healthz",
)


def _seed_info(out_dir: Path) -> dict[str, Any]:
    return json.loads((out_dir / f"seed-{settings.DATABASES['default']['NAME']}.json").read_text())


def step_seed(scale_name: str, out: Path) -> dict[str, Any]:
    from aigsec.audit.checkpoints import audit_checkpoint_take

    call_command("load_framework", verbosity=0)
    result = seed(SCALES[scale_name], media_root=Path(settings.MEDIA_ROOT), log=_log)
    cp = audit_checkpoint_take()
    info = result.as_dict() | {"checkpoint_seq": cp.seq if cp else None}
    (out.parent / f"seed-{settings.DATABASES['default']['NAME']}.json").write_text(
        json.dumps(info, indent=2)
    )
    return info


def _largest_pillar(assessment_id: int) -> str:
    from django.db.models import Count

    from assessments.models import Assessment

    version = Assessment.objects.values_list("framework_version_id", flat=True).get(
        pk=assessment_id
    )
    row = (
        Control.objects.filter(version_id=version)
        .values("guideline__pillar__ref")
        .annotate(n=Count("id"))
        .order_by("-n", "guideline__pillar__ref")
        .first()
    )
    return row["guideline__pillar__ref"]


def _heaviest_control(assessment_id: int, pillar_ref: str) -> int:
    """The response of the pillar with the most linked evidence: the costliest to open."""
    from django.db.models import Count

    from assessments.models import Response

    return (
        Response.objects.filter(
            assessment_id=assessment_id, control__guideline__pillar__ref=pillar_ref
        )
        .annotate(n=Count("evidence_links"))
        .order_by("-n", "control__order")
        .values_list("pk", flat=True)
        .first()
    )


# Measured under load like the pages, reported beside them (results-detail.json and
# docs/benchmarks.md), not in results.json: the questionnaire shows controls as summaries and
# opening one is this request (htmx), so its cost is shown too.
EXTRA_PAGES = ("questionnaire_control",)
HX = {"HX-Request": "true"}


def pages(info: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """page name -> (persona, path). Personas: risk owner, auditor, manager, token, none.
    Paths of EXTRA_PAGES are requested with the HX headers, as htmx does."""
    a = info["flagship_id"]
    pillar = _largest_pillar(a)
    return {
        "questionnaire": ("risk_owner", f"/assessments/{a}/pillars/{pillar}/"),
        "questionnaire_control": ("risk_owner", f"/responses/{_heaviest_control(a, pillar)}/"),
        "dashboard": ("manager", "/"),
        "my_work": ("risk_owner", "/my-work/"),
        "evidence_list": ("risk_owner", "/evidence/"),
        "review_queue": ("auditor", "/reviews/"),
        "audit_trail": ("auditor", "/audit/"),
        "api_responses": ("token", f"/api/v1/assessments/{a}/responses/"),
        "healthz": ("none", "/healthz"),
    }


def _client(user: User) -> Client:
    # A non-admin persona needs no second factor; force_login fires user_logged_in, which
    # starts the server-side session row and the idle/lifetime clock, as a real log-in does.
    c = Client()
    c.force_login(user)
    return c


def _token(user: User) -> str:
    from aigsec.accounts.services import api_token_create

    _token_row, secret = api_token_create(user=user, name="benchmark")
    return secret


def step_prepare(scale_name: str, out: Path) -> dict[str, Any]:
    info = _seed_info(out.parent)
    cookies = {}
    name = settings.SESSION_COOKIE_NAME
    for persona in ("risk_owner", "auditor", "manager"):
        c = _client(User.objects.get(pk=info[f"{persona}_id"]))
        cookies[persona] = f"{name}={c.cookies[name].value}"
    return {
        "pages": pages(info),
        "extra_pages": list(EXTRA_PAGES),
        "cookies": cookies,
        "token": _token(User.objects.get(pk=info["risk_owner_id"])),
        "flagship_id": info["flagship_id"],
        "flagship_team_id": info["flagship_team_id"],
    }


def step_queries(scale_name: str, out: Path) -> dict[str, Any]:
    """Queries of the second request of each page (what a page costs while nothing changed:
    the first warms the per-process framework cache and the team cache), and of the first one
    with both caches empty (`cold`: the first visit after a change)."""
    from django.core.cache import cache

    from assessments.scoring import framework_structure

    cache.clear()  # the bench's own cache (bench/env.py): nothing left from an earlier run
    framework_structure.cache_clear()
    info = _seed_info(out.parent)
    clients: dict[str, Client] = {"none": Client()}
    for persona in ("risk_owner", "auditor", "manager"):
        clients[persona] = _client(User.objects.get(pk=info[f"{persona}_id"]))
    token = _token(User.objects.get(pk=info["risk_owner_id"]))
    clients["token"] = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    counts: dict[str, Any] = {}
    for name, (persona, path) in pages(info).items():
        c = clients[persona]
        headers = HX if name in EXTRA_PAGES else {}
        with CaptureQueriesContext(connection) as cold:
            first = c.get(path, headers=headers)
        with CaptureQueriesContext(connection) as ctx:
            second = c.get(path, headers=headers)
        if first.status_code != 200 or second.status_code != 200:
            raise SystemExit(f"{name} {path}: HTTP {second.status_code}")
        counts[name] = {
            "queries": len(ctx.captured_queries),
            "queries_cold": len(cold.captured_queries),
            "bytes": len(second.content),
            **_one_client_ms(c, path, headers),
        }
        if os.environ.get("BENCH_SHOW_QUERIES"):
            for q in ctx.captured_queries:
                _log(f"{name}: {q['sql'][:300]}")
    return counts


def _one_client_ms(c: Client, path: str, headers: dict[str, str], n: int = 7) -> dict[str, float]:
    """One request at a time, in-process: the median of `n` with the caches emptied before
    each (`ms_cold`: the first visit after a change, which the load above never sees) and of
    `n` with them warm (`ms_warm`)."""
    from statistics import median

    from django.core.cache import cache

    cold, warm = [], []
    for _ in range(n):
        cache.clear()
        cold.append(_timed(lambda: c.get(path, headers=headers))[0])
    for _ in range(n):
        warm.append(_timed(lambda: c.get(path, headers=headers))[0])
    return {"ms_cold": round(median(cold) * 1000, 1), "ms_warm": round(median(warm) * 1000, 1)}


def _timed(fn, *args) -> tuple[float, Any]:
    t = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - t, value


def step_report(scale_name: str, out: Path) -> dict[str, Any]:
    from django.template.loader import render_to_string

    from reports.models import Report
    from reports.render import weasyprint_pdf
    from reports.selectors import report_context
    from reports.services import report_run
    from reports.signing import signing_identity

    info = _seed_info(out.parent)
    assessment_id = info["flagship_id"]
    requester = User.objects.get(pk=info["manager_id"])
    identity = signing_identity()  # first use makes the self-managed CA: not part of a render

    def html_of(report: Report) -> str:
        context = report_context(report)
        context.update(
            signer_fingerprint=identity.fingerprint,
            signer_subject=identity.subject,
            self_managed=identity.self_managed,
        )
        return render_to_string("reports/report.html", context)

    def new_report() -> Report:
        return Report.objects.create(
            team_id=info["flagship_team_id"], assessment_id=assessment_id, requested_by=requester
        )

    html = html_of(new_report())
    # Warm-up: fonts, CSS parsing caches, as in a worker that has run before. The baseline is
    # WeasyPrint as it ships: report_run's html_to_pdf pauses the garbage collector around it.
    weasyprint_pdf(html)
    runs, bare = [], []
    for i in range(3):
        report = new_report()
        page = html_of(report)
        # Alternate which goes first: the second of two renders in a row tends to be slower.
        if i % 2:
            bare.append(_timed(weasyprint_pdf, page)[0])
        seconds, done = _timed(report_run, report.pk)
        assert done is not None and done.status == "signed", done and done.failure_reason
        runs.append(seconds)
        if not i % 2:
            bare.append(_timed(weasyprint_pdf, page)[0])
    responses = Response.objects.filter(assessment_id=assessment_id).count()
    from evidence.models import EvidenceLink

    items = (
        EvidenceLink.objects.filter(response__assessment_id=assessment_id)
        .values("item_id")
        .distinct()
        .count()
    )
    run_s, bare_s = statistics.median(runs), statistics.median(bare)
    return {
        "seconds": round(run_s, 2),
        "bare_weasyprint_seconds": round(bare_s, 2),
        "ratio_to_bare_weasyprint": round(run_s / bare_s, 2),
        "runs": [round(x, 2) for x in runs],
        "bare_runs": [round(x, 2) for x in bare],
        "controls": responses,
        "evidence_items": items,
        "pdf_bytes": done.size,
    }


def step_audit(scale_name: str, out: Path) -> dict[str, Any]:
    from io import StringIO

    from aigsec.audit.models import AuditEvent

    buf = StringIO()
    seconds, _ = _timed(lambda: call_command("verify_audit_log", stdout=buf))
    return {
        "events": AuditEvent.objects.count(),
        "seconds": round(seconds, 2),
        "output": buf.getvalue().strip(),
    }


def step_scaleout_setup(scale_name: str, out: Path) -> dict[str, Any]:
    from aigsec.accounts.models import Membership, Role
    from assessments.models import Assessment, AssessmentStatus
    from reports.signing import signing_identity

    signing_identity()  # the self-managed CA, made once before several processes need it
    users: dict[str, list[dict[str, Any]]] = {"risk_owners": [], "managers": []}
    for m in Membership.objects.filter(role__in=[Role.RISK_OWNER, Role.MANAGER]).order_by("id"):
        open_ids = list(
            Assessment.objects.filter(team_id=m.team_id)
            .exclude(status=AssessmentStatus.FINAL)
            .order_by("id")
            .values_list("id", flat=True)
        )
        entry = {
            "role": m.role,
            "token": _token(m.user),
            "assessments": open_ids,
            "responses": list(
                Response.objects.filter(assessment_id__in=open_ids).values_list("id", flat=True)
            ),
        }
        users["managers" if m.role == Role.MANAGER else "risk_owners"].append(entry)
    return users


def step_scaleout_verify(scale_name: str, out: Path) -> dict[str, Any]:
    """The checks after the writers stopped (bench/scaleout.py)."""
    import hashlib
    from collections import Counter, defaultdict
    from itertools import pairwise

    from django.core.files.storage import default_storage

    from aigsec.audit.models import AuditEvent
    from aigsec.audit.verify import audit_verify_db
    from evidence.models import EvidenceItem
    from reports.models import Report, ReportStatus

    deadline = time.monotonic() + float(os.environ.get("BENCH_WAIT_REPORTS", "300"))
    pending = Report.objects.filter(status__in=[ReportStatus.QUEUED, ReportStatus.RENDERING])
    while pending.exists() and time.monotonic() < deadline:
        time.sleep(2)
    acks = json.loads((out.parent / "scaleout-acks.json").read_text())
    result: dict[str, Any] = {}

    t = time.perf_counter()
    verified, _cp = audit_verify_db()
    result |= {
        "audit_ok": verified.ok,
        "audit_events": verified.count,
        "audit_reason": verified.reason,
        "audit_verify_seconds": round(time.perf_counter() - t, 2),
    }

    # Answers: the stored row is the latest acknowledged write; no version acknowledged twice.
    by_response: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for a in acks:
        if a["kind"] == "response":
            by_response[a["id"]].append(a)
    rows = Response.objects.in_bulk(list(by_response))
    lost, double, unacked = [], 0, 0
    for rid, writes in by_response.items():
        versions = Counter(w["version"] for w in writes)
        double += sum(n - 1 for n in versions.values() if n > 1)
        last = max(writes, key=lambda w: w["version"])
        row = rows[rid]
        if row.version < last["version"] or (
            row.version == last["version"]
            and (row.status, row.justification) != (last["status"], last["justification"])
        ):
            lost.append(rid)
        unacked += row.version - 1 - len(writes)  # saves the client never saw acknowledged
    # Every save, acknowledged or not, appended exactly one response.answered event.
    saved_events = AuditEvent.objects.filter(
        action="response.answered", data__bench__isnull=True
    ).count()
    result |= {
        "responses_acknowledged": sum(len(w) for w in by_response.values()),
        "responses_touched": len(by_response),
        "lost_responses": lost + ["version acknowledged twice"] * double,
        "unacknowledged_saves": unacked,
        "response_answered_events": saved_events,
        "events_match_saves": saved_events
        == sum(r.version - 1 for r in Response.objects.filter(version__gt=1)),
    }

    # Uploads: the item, its hash and the stored file.
    lost_uploads = []
    items = EvidenceItem.objects.prefetch_related("revisions").in_bulk(
        [a["id"] for a in acks if a["kind"] == "evidence"]
    )
    for a in acks:
        if a["kind"] != "evidence":
            continue
        item = items.get(a["id"])
        rev = item.revisions.all()[0] if item else None
        ok = rev is not None and rev.sha256 == a["sha256"] and rev.size == a["size"]
        if ok:
            with default_storage.open(rev.storage_name, "rb") as fh:
                ok = hashlib.sha256(fh.read()).hexdigest() == a["sha256"]
        if not ok:
            lost_uploads.append(a["id"])
    result |= {
        "uploads_acknowledged": sum(1 for a in acks if a["kind"] == "evidence"),
        "lost_uploads": lost_uploads,
    }

    # Reports: rendered at most once each; duplicate clicks folded into the pending report.
    rendered = Counter(
        AuditEvent.objects.filter(action="report.rendered").values_list("target", flat=True)
    )
    reports = list(Report.objects.order_by("assessment_id", "requested_at"))
    overlapping = 0
    for prev, cur in pairwise(reports):
        if prev.assessment_id == cur.assessment_id and (
            prev.signed_at is None or cur.requested_at < prev.signed_at
        ):
            overlapping += prev.status != ReportStatus.FAILED
    clicks = [a for a in acks if a["kind"] == "report"]
    result |= {
        "report_requests": len(clicks),
        "report_requests_folded": sum(1 for a in clicks if not a["new"]),
        "reports": len(reports),
        "reports_signed": sum(1 for r in reports if r.status == ReportStatus.SIGNED),
        "reports_failed": [r.failure_reason for r in reports if r.status == ReportStatus.FAILED],
        "reports_pending": pending.count(),
        "reports_retried": sum(1 for r in reports if r.attempts > 1),
        "rendered_twice": [t for t, n in rendered.items() if n > 1],
        "overlapping_reports": overlapping,
    }
    return result


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


STEPS = {
    "seed": step_seed,
    "prepare": step_prepare,
    "queries": step_queries,
    "report": step_report,
    "audit": step_audit,
    "scaleout_setup": step_scaleout_setup,
    "scaleout_verify": step_scaleout_verify,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=sorted(STEPS))
    parser.add_argument("--scale", default="small", choices=sorted(SCALES))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = STEPS[args.step](args.scale, args.out)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
