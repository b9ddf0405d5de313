"""A signed report pins the audit log: the checkpoint current when it was rendered is in an
appendix (the signed note, verifiable on its own) and its size and root in the PDF keywords."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from aigsec.audit.keys import verifier
from aigsec.audit.models import AuditCheckpoint
from aigsec.audit.note import open_checkpoint
from tests.factories import make_report_world
from tests.reports.test_reports import _render, _squash, _text

pytestmark = pytest.mark.django_db


def test_a_signed_report_embeds_the_current_checkpoint(personas):
    world = make_report_world(personas)
    report, data = _render(personas, world)
    cp = AuditCheckpoint.objects.order_by("-seq").first()
    assert cp is not None and cp.seq >= report.audit_head_seq  # it covers the report's head
    keywords = str(PdfReader(io.BytesIO(data)).metadata["/Keywords"])
    assert f"aigsec-audit-log-size:{cp.seq}" in keywords
    assert f"aigsec-audit-log-root:{cp.root}" in keywords
    text = _squash(_text(data))
    assert "Appendix:auditlogcheckpoint" in text
    signature_line = cp.note.rstrip("\n").rsplit("\n", 1)[1]
    assert _squash(signature_line) in text  # the signed note, as printed
    assert open_checkpoint(cp.note, verifier()).size == cp.seq
