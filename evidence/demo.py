"""Demo evidence for `seed_demo`: small real files (PDF, PNG, CSV) generated here and linked
to answered controls of the demo assessment."""

from __future__ import annotations

import struct
import zlib

from django.core.files.base import ContentFile

from aigsec.accounts.models import Team, User
from assessments.models import AISystem, Response

from .models import EvidenceItem
from .services import evidence_create


def _pdf(text: str) -> bytes:
    """A minimal, valid one-page PDF with one line of text."""
    stream = f"BT /F1 14 Tf 72 760 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _png(width: int = 48, height: int = 16) -> bytes:
    """A small valid PNG: a green-to-blue gradient, like a monitoring sparkline."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(
        b"\x00" + b"".join(bytes((20, 120 + x * 2, 80 + y * 8)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


CSV = (
    "asset,kind,location,owner,sha256_published\n"
    "support-bot-prompts,prompts,git:ai/prompts,Riley Risk,yes\n"
    "support-bot-logs,logs,s3:eu-west/ai-logs,Robin Owner,no\n"
    "vendor-model-card,documentation,wiki:AI/model-cards,Riley Risk,yes\n"
)


def seed(stdout) -> None:
    team = Team.objects.filter(name="Demo AI Ltd").first()
    system = AISystem.objects.filter(team=team, name="Support chatbot").first()
    if team is None or system is None or EvidenceItem.objects.filter(team=team).exists():
        return
    risk = User.objects.get(email="risk@demo.test")
    answered = list(
        Response.objects.filter(assessment__ai_system=system)
        .exclude(status__in=["not_started", "not_implemented"])
        .order_by("control__order")
    )
    if len(answered) < 4:
        return
    files = [
        ("AI security policy", "ai-security-policy.pdf", _pdf("AI security policy, v2")),
        ("Output monitoring dashboard", "monitoring.png", _png()),
        ("AI asset inventory", "asset-inventory.csv", CSV.encode()),
    ]
    for i, (title, name, data) in enumerate(files):
        evidence_create(
            team=team,
            actor=risk,
            kind="file",
            title=title,
            uploaded_file=ContentFile(data, name=name),
            responses=answered[i * 2 : i * 2 + 2],
        )
    evidence_create(
        team=team,
        actor=risk,
        kind="link",
        title="Vendor security white paper",
        url="https://example.com/vendor/security",
        responses=answered[-1:],
    )
    stdout.write(f"  {len(files) + 1} evidence items linked to answered controls")
    from reviews.demo import seed as seed_reviews

    seed_reviews(stdout)
