"""Exports of an assessment: CSV and XLSX of the responses, OSCAL assessment-results JSON.

`export_data` reads everything an export shows in a fixed number of queries, whatever the size
of the assessment; the writers are pure functions of its result; `assessment_export` builds one
format and records the download in the audit trail. The OSCAL writer is in `exports_oscal`.
Column meanings and the OSCAL mapping: docs/exports.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from aigsec.accounts.models import User
from aigsec.audit.services import audit_record
from evidence.models import EvidenceRevision
from evidence.selectors import evidence_by_response
from reviews.decisions import CurrentDecision
from reviews.selectors import current_decisions_for_evidence, current_decisions_for_responses

from .export_rows import EvidenceRow, ExportData, ResponseRow
from .models import Assessment, Response


def _email(user: User | None) -> str:
    return user.email if user is not None else ""


def export_queryset() -> QuerySet[Assessment]:
    """The assessments to fetch through the door for an export: the writers read the team
    (file name, OSCAL party), AI system and framework version."""
    return Assessment.objects.select_related("team", "ai_system", "framework_version__framework")


def export_data(assessment: Assessment) -> ExportData:
    """Everything an export shows, in five queries whatever the number of responses and
    evidence items: responses (with control, guideline, pillar, owner), their current review
    decisions, their evidence links (with items), the items' latest revisions and the items'
    current review decisions. `assessment` should come with its team, AI system and framework
    version (select_related), which the writers read."""
    responses = list(
        Response.objects.filter(assessment=assessment)
        .select_related("control__guideline__pillar", "owner")
        .order_by("control__order", "id")
    )
    ids = [r.pk for r in responses]
    decisions = current_decisions_for_responses(ids)
    items_by_response = evidence_by_response(ids)
    items = {i.pk: i for found in items_by_response.values() for i in found}
    newest = (
        EvidenceRevision.objects.filter(item_id=OuterRef("item_id"))
        .order_by("-number")
        .values("pk")[:1]
    )
    latest = {
        rev.item_id: rev
        for rev in EvidenceRevision.objects.filter(item_id__in=list(items), pk=Subquery(newest))
    }
    item_decisions = current_decisions_for_evidence(list(items))

    rows: dict[int, EvidenceRow] = {}
    for pk, item in items.items():
        rev = latest.get(pk)
        rows[pk] = EvidenceRow(
            item_id=pk,
            title=item.title,
            kind=item.kind,
            description=item.description,
            url=item.url,
            note=item.note,
            revision=rev.number if rev else None,
            sha256=rev.sha256 if rev else "",
            size=rev.size if rev else None,
            media_type=rev.content_type if rev else "",
            uploaded_at=rev.uploaded_at if rev else None,
            created_at=item.created_at,
            collected=item.collected_on,
            valid_until=item.valid_until,
            decision=item_decisions[pk].decision,
        )
    out: list[ResponseRow] = []
    for r in responses:
        c = r.control
        current: CurrentDecision = decisions[r.pk]
        linked = [rows[i.pk] for i in items_by_response[r.pk]]
        for e in linked:
            e.control_refs.append(c.ref)
        out.append(
            ResponseRow(
                response_id=r.pk,
                control_ref=c.ref,
                control_title=c.title,
                pillar_ref=c.guideline.pillar.ref,
                pillar_title=c.guideline.pillar.title,
                guideline_ref=c.guideline.ref,
                guideline_title=c.guideline.title,
                status=r.status,
                justification=r.justification,
                owner_email=_email(r.owner),
                due_date=r.due_date,
                updated_at=r.updated_at,
                decision=current.decision,
                reviewer_email=_email(current.reviewer),
                review_comment=current.comment,
                evidence=linked,
            )
        )
    evidence = sorted(rows.values(), key=lambda e: (e.title.casefold(), e.item_id))
    return ExportData(assessment=assessment, responses=out, evidence=evidence)


# --- Spreadsheet cells --------------------------------------------------------------------------

# A cell starting with one of these is a formula to Excel, LibreOffice or Google Sheets, which
# would run whatever a team member typed into an answer (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_CELL = 32_767  # Excel refuses longer cells and "repairs" the file
_CONTROL_CHARS = ILLEGAL_CHARACTERS_RE  # C0 controls but tab, newline, carriage return


def safe_cell(value: Any) -> Any:
    """A spreadsheet-safe value: text loses control characters that XML cannot carry and gets a
    leading apostrophe when it would start a formula. Numbers and dates are left alone."""
    if not isinstance(value, str):
        return value
    value = _CONTROL_CHARS.sub("", value)
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def _utc_naive(moment: dt.datetime) -> dt.datetime:
    # Spreadsheets have no time zones: the headers say UTC.
    return moment.astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)


def _lines(values: Iterable[Any]) -> str:
    """One line per evidence item; a title never spans two lines."""
    return "\n".join(" ".join(str(v).split()) if v is not None else "" for v in values)


RESPONSE_COLUMNS = [
    "Control ref",
    "Pillar",
    "Guideline",
    "Control",
    "Status",
    "Justification",
    "Owner",
    "Due date",
    "Updated (UTC)",
    "Review decision",
    "Reviewer",
    "Review comment",
    "Evidence",
    "Evidence revision",
    "Evidence SHA-256",
]

EVIDENCE_COLUMNS = [
    "Title",
    "Kind",
    "Revision",
    "SHA-256",
    "Size (bytes)",
    "Media type",
    "Collected",
    "Valid until",
    "Review decision",
    "Controls",
]


def response_cells(r: ResponseRow) -> list[Any]:
    """One row of the responses table, in RESPONSE_COLUMNS order (dates as date objects)."""
    return [
        r.control_ref,
        f"{r.pillar_ref} {r.pillar_title}",
        f"{r.guideline_ref} {r.guideline_title}",
        r.control_title,
        r.status_label,
        r.justification,
        r.owner_email,
        r.due_date,
        _utc_naive(r.updated_at),
        r.decision_label,
        r.reviewer_email,
        r.review_comment,
        _lines(e.title for e in r.evidence),
        _lines(e.revision for e in r.evidence),
        _lines(e.sha256 for e in r.evidence),
    ]


def evidence_cells(e: EvidenceRow) -> list[Any]:
    return [
        e.title,
        e.kind,
        e.revision,
        e.sha256,
        e.size,
        e.media_type,
        e.collected,
        e.valid_until,
        e.decision_label,
        ", ".join(e.control_refs),
    ]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def to_csv(data: ExportData, base_url: str = "") -> bytes:
    """The responses, one row per control, UTF-8 with a header row (RFC 4180 line ends)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(RESPONSE_COLUMNS)
    for r in data.responses:
        writer.writerow([safe_cell(_text(v)) for v in response_cells(r)])
    return buf.getvalue().encode("utf-8")


# --- XLSX ---------------------------------------------------------------------------------------

_WIDTHS = {"Control ref": 11, "Pillar": 28, "Guideline": 34, "Control": 40, "Justification": 60}


def _sheet(ws: Worksheet, columns: list[str], rows: Iterable[list[Any]]) -> None:
    ws.append(columns)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    for values in rows:
        # Cut one short of the limit: the guard may still add its apostrophe.
        ws.append([safe_cell(v[: XLSX_MAX_CELL - 1] if isinstance(v, str) else v) for v in values])
    for i, name in enumerate(columns, start=1):
        letter = get_column_letter(i)
        ws.column_dimensions[letter].width = _WIDTHS.get(name, 66 if "SHA" in name else 18)
        for cell in ws[letter][1:]:
            cell.alignment = wrap
            if isinstance(cell.value, dt.datetime):
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
            elif isinstance(cell.value, dt.date):
                cell.number_format = "yyyy-mm-dd"
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions


def to_xlsx(data: ExportData, base_url: str = "") -> bytes:
    """A workbook with a "Responses" sheet (the CSV's columns) and an "Evidence" sheet."""
    wb = Workbook()
    responses = wb.active
    responses.title = "Responses"
    _sheet(responses, RESPONSE_COLUMNS, (response_cells(r) for r in data.responses))
    _sheet(
        wb.create_sheet("Evidence"), EVIDENCE_COLUMNS, (evidence_cells(e) for e in data.evidence)
    )
    a = data.assessment
    wb.properties.title = _CONTROL_CHARS.sub("", a.title)[:255]
    wb.properties.creator = "aigsec"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- Formats and the service --------------------------------------------------------------------


@dataclass(frozen=True)
class Format:
    content_type: str
    extension: str
    write: Callable[[ExportData, str], bytes]


def _oscal(data: ExportData, base_url: str) -> bytes:
    from .exports_oscal import to_oscal_json  # it imports this module's row types

    return to_oscal_json(data, base_url)


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS: dict[str, Format] = {
    "csv": Format("text/csv; charset=utf-8", "csv", to_csv),
    "xlsx": Format(XLSX_TYPE, "xlsx", to_xlsx),
    "oscal": Format("application/json", "oscal.json", _oscal),
}


class UnknownFormat(ValueError):
    def __init__(self, fmt: str) -> None:
        shown = fmt if len(fmt) <= 20 else fmt[:20] + "…"
        super().__init__(f"Unknown export format “{shown}”. Use one of: {', '.join(FORMATS)}.")


@dataclass(frozen=True)
class Export:
    content: bytes
    content_type: str
    filename: str
    sha256: str


def export_filename(assessment: Assessment, extension: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", assessment.team.slug.lower()).strip("-")
    return f"aigsec-{slug or assessment.team_id}-assessment-{assessment.pk}.{extension}"


def assessment_export(
    *, assessment: Assessment, fmt: str, actor: User, base_url: str = ""
) -> Export:
    """Build one export of the assessment and record `export.downloaded` with the SHA-256 of
    the bytes served. `base_url` (scheme and host) makes the evidence links in OSCAL absolute.
    Raises UnknownFormat. The caller has checked that `actor` may view the assessment."""
    spec = FORMATS.get(fmt)
    if spec is None:
        raise UnknownFormat(fmt)
    content = spec.write(export_data(assessment), base_url.rstrip("/"))
    digest = hashlib.sha256(content).hexdigest()
    # The event is the only write, and audit_record is atomic on its own.
    audit_record(
        "export.downloaded",
        actor=actor,
        team=assessment.team_id,
        target=f"assessment:{assessment.pk}",
        data={"format": fmt, "sha256": digest, "size": len(content)},
    )
    return Export(
        content=content,
        content_type=spec.content_type,
        filename=export_filename(assessment, spec.extension),
        sha256=digest,
    )
