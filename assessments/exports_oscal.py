"""An assessment as an OSCAL 1.1.2 assessment-results document.

Conventions are those of the catalog export (`frameworks.framework_to_oscal`): control
`control-1.2.3` with its statement part `control-1.2.3_smt`, aigsec props in AIGSEC_NS. The
mapping (one finding per control, one observation per evidence item, evidence files in the
back-matter with their SHA-256) is described in docs/exports.md.

Every UUID is a uuid5 of the object it names, and every timestamp comes from the data, so a
re-export of an unchanged assessment is byte for byte the same document.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from django.urls import reverse

from .export_rows import EvidenceRow, ExportData, ResponseRow
from .frameworks import AIGSEC_NS, OSCAL_VERSION, _oscal_id, _prop
from .models import ResponseStatus

# How our answer maps to OSCAL's implementation state (no entry: nothing implemented yet).
IMPLEMENTATION_STATE = {
    ResponseStatus.FULL: "implemented",
    ResponseStatus.LARGELY: "partial",
    ResponseStatus.PARTIAL: "partial",
    ResponseStatus.NOT_APPLICABLE: "not-applicable",
}
# Satisfied only when fully implemented, or not applicable with its justification (the control
# asks nothing of this system; the scores leave it out too, see docs/scoring.md).
SATISFIED = (ResponseStatus.FULL, ResponseStatus.NOT_APPLICABLE)


def _line(text: str, fallback: str) -> str:
    """OSCAL titles and prop values are one line without outer spaces."""
    return " ".join((text or "").split()) or fallback


def _at(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def _day_start(day: dt.date) -> str:
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=dt.UTC).isoformat()


def _day_end(day: dt.date) -> str:
    # Evidence is valid through its `valid_until` day (evidence.selectors.freshness).
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC).isoformat()


class _Ids:
    """Deterministic UUIDs: one namespace per assessment, one name per object."""

    def __init__(self, data: ExportData) -> None:
        a = data.assessment
        self.root = uuid.uuid5(
            uuid.NAMESPACE_URL,
            f"{AIGSEC_NS}/assessment-results/{a.pk}/{_at(a.created_at)}",
        )

    def __call__(self, kind: str, key: Any) -> str:
        return str(uuid.uuid5(self.root, f"{kind}:{key}"))

    def resource(self, e: EvidenceRow) -> str:
        # A new revision is a new file, hence a new resource.
        return self(f"resource:{e.item_id}", e.revision or 0)


def _finding(r: ResponseRow, ids: _Ids) -> dict[str, Any]:
    cid = _oscal_id("control", r.control_ref)
    status = ResponseStatus(r.status)
    props = [
        _prop("label", r.control_ref, ns=None),
        _prop("response-status", r.status),
        _prop("review-decision", r.decision),
    ]
    if r.owner_email:
        props.append(_prop("owner", r.owner_email))
    if r.due_date:
        props.append(_prop("due-date", r.due_date.isoformat()))
    if r.reviewer_email:
        props.append(_prop("reviewer", r.reviewer_email))
    objective: dict[str, Any] = {
        "state": "satisfied" if status in SATISFIED else "not-satisfied",
        "reason": "pass" if status == ResponseStatus.FULL else "fail",
    }
    if status == ResponseStatus.NOT_APPLICABLE:
        objective["reason"] = "other"
        objective["remarks"] = f"Not applicable: {r.justification}"
    target: dict[str, Any] = {
        "type": "statement-id",
        "target-id": f"{cid}_smt",
        "title": _line(f"{r.control_ref} {r.control_title}", r.control_ref),
        "status": objective,
    }
    if status in IMPLEMENTATION_STATE:
        target["implementation-status"] = {"state": IMPLEMENTATION_STATE[status]}
    description = f"Self-assessed: {r.status_label}."
    if r.justification:
        description += f"\n\n{r.justification}"
    finding: dict[str, Any] = {
        "uuid": ids("finding", r.response_id),
        "title": _line(f"{r.control_ref} {r.control_title}", r.control_ref),
        "description": description,
        "props": props,
        "target": target,
    }
    if r.evidence:
        finding["related-observations"] = [
            {"observation-uuid": ids("observation", e.item_id)} for e in r.evidence
        ]
    if r.review_comment:
        finding["remarks"] = f"Review ({r.decision_label}): {r.review_comment}"
    return finding


def _observation(e: EvidenceRow, ids: _Ids) -> dict[str, Any]:
    props = [_prop("evidence-kind", e.kind), _prop("review-decision", e.decision)]
    if e.revision is not None:
        props.append(_prop("revision", e.revision))
    if e.control_refs:
        props.append(_prop("controls", " ".join(e.control_refs)))
    observation: dict[str, Any] = {
        "uuid": ids("observation", e.item_id),
        "title": _line(e.title, f"Evidence {e.item_id}"),
        "description": e.description or f"Evidence ({e.kind}) linked to the assessment.",
        "props": props,
        "methods": ["EXAMINE"],
        "types": ["control-objective"],
        "relevant-evidence": [
            {"href": f"#{ids.resource(e)}", "description": _line(e.title, "Evidence")}
        ],
        "collected": _day_start(e.collected),
    }
    if e.valid_until:
        observation["expires"] = _day_end(e.valid_until)
    return observation


def _resource(e: EvidenceRow, ids: _Ids, base_url: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "uuid": ids.resource(e),
        "title": _line(e.title, f"Evidence {e.item_id}"),
        "props": [_prop("type", "evidence", ns=None), _prop("evidence-kind", e.kind)],
    }
    if e.kind == "file" and e.revision is not None:
        href = f"{base_url}{reverse('evidence_download', args=[e.item_id])}?revision={e.revision}"
        rlink: dict[str, Any] = {"href": href}
        if e.media_type:
            rlink["media-type"] = e.media_type
        rlink["hashes"] = [{"algorithm": "SHA-256", "value": e.sha256}]
        resource["rlinks"] = [rlink]
    elif e.url:
        resource["rlinks"] = [{"href": e.url}]
    if e.note:
        resource["description"] = e.note
    return resource


def _plan(data: ExportData, ids: _Ids, base_url: str) -> dict[str, Any]:
    """There is no separate assessment plan: the plan is the framework's questionnaire, every
    control self-assessed by the team and reviewed by its auditors. `import-ap` points here."""
    version = data.assessment.framework_version
    fw = version.framework
    plan: dict[str, Any] = {
        "uuid": ids("plan", version.sha256),
        "title": _line(f"Assessment plan: {fw.title} v{version.number}", "Assessment plan"),
        "description": (
            f"The aigsec questionnaire of {fw.title} (version {version.number}): every control "
            "answered by the team, with evidence, and reviewed by its auditors. The controls "
            f"are those of the OSCAL catalog `{fw.slug}` exported by aigsec "
            "(`manage.py export_framework`)."
        ),
        "props": [
            _prop("type", "plan", ns=None),
            _prop("framework-slug", fw.slug),
            _prop("framework-version", version.number),
            _prop("content-sha256", version.sha256),
        ],
    }
    if fw.source_url:
        plan["rlinks"] = [{"href": fw.source_url}]
    return plan


def assessment_results(data: ExportData, base_url: str = "") -> dict[str, Any]:
    """The OSCAL document (a dict), for `to_oscal_json`."""
    a = data.assessment
    ids = _Ids(data)
    version = a.framework_version
    team_party = ids("party", f"team:{a.team_id}")
    metadata: dict[str, Any] = {
        "title": _line(f"{a.title}: assessment results", "Assessment results"),
        "last-modified": _at(data.last_modified),
        "version": a.status,
        "oscal-version": OSCAL_VERSION,
        "props": [
            _prop("assessment-id", a.pk),
            _prop("assessment-status", a.status),
            _prop("ai-system", _line(a.ai_system.name, str(a.ai_system_id))),
            _prop("framework-slug", version.framework.slug),
            _prop("framework-version", version.number),
        ],
        "roles": [{"id": "prepared-by", "title": "Prepared by"}],
        "parties": [
            {"uuid": team_party, "type": "organization", "name": _line(a.team.name, "Team")}
        ],
        "responsible-parties": [{"role-id": "prepared-by", "party-uuids": [team_party]}],
    }
    plan = _plan(data, ids, base_url)
    result: dict[str, Any] = {
        "uuid": ids("result", "assessment"),
        "title": _line(f"Assessment of {a.ai_system.name}", "Assessment"),
        "description": (
            f"{a.title}: the answers of {a.team.name} for {a.ai_system.name} against "
            f"{version.framework.title} (version {version.number}), with the auditors' current "
            "review decisions and the linked evidence."
        ),
        "start": _at(a.created_at),
        "props": [_prop("assessment-status", a.status)],
        "links": [{"href": f"{base_url}{reverse('assessment_detail', args=[a.pk])}"}],
        "reviewed-controls": {"control-selections": [{"include-all": {}}]},
    }
    if a.finalised_at:
        result["end"] = _at(a.finalised_at)
    if data.evidence:
        result["observations"] = [_observation(e, ids) for e in data.evidence]
    if data.responses:
        result["findings"] = [_finding(r, ids) for r in data.responses]
    resources = [plan] + [_resource(e, ids, base_url) for e in data.evidence]
    return {
        "assessment-results": {
            "uuid": ids("assessment-results", "document"),
            "metadata": metadata,
            "import-ap": {"href": f"#{plan['uuid']}"},
            "results": [result],
            "back-matter": {"resources": resources},
        }
    }


def to_oscal_json(data: ExportData, base_url: str = "") -> bytes:
    doc = assessment_results(data, base_url)
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
