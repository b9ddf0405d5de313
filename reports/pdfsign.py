"""PAdES signing and validation with pyHanko."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from io import BytesIO
from typing import TYPE_CHECKING

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from .signing import SigningIdentity, signing_identity, timestamper

if TYPE_CHECKING:
    from .models import Report

FIELD_NAME = "aigsec-report-signature"
KEYWORD_RE = re.compile(r"aigsec-(report|team|assessment):([0-9a-f-]+)")


def sign_pdf(data: bytes, *, identity: SigningIdentity, report: Report, team_name: str) -> bytes:
    """A PAdES B-B signature (B-T when a timestamp authority is configured) over the whole
    document."""
    writer = IncrementalPdfFileWriter(BytesIO(data))
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason=f"aigsec compliance report {report.uuid}",
        location=team_name[:100],
        name="aigsec",
        # The certificate chain goes into the signature, so a verifier needs only the root.
        embed_validation_info=False,
    )
    signer = signers.PdfSigner(meta, signer=identity.signer, timestamper=timestamper())
    out = BytesIO()
    signer.sign_pdf(writer, output=out)
    return out.getvalue()


@dataclass
class Verification:
    ok: bool
    reason: str
    signer: str = ""
    signer_fingerprint: str = ""
    signed_at: str = ""
    timestamped: bool = False
    intact: bool = False
    trusted: bool = False
    whole_file: bool = False
    claims: dict[str, str] = field(default_factory=dict)

    @property
    def report_uuid(self) -> str:
        return self.claims.get("report", "")


def _claims(reader: PdfFileReader) -> dict[str, str]:
    try:
        keywords = str(reader.trailer["/Info"].get("/Keywords", ""))
    except (KeyError, PdfError, TypeError):
        return {}
    return dict(KEYWORD_RE.findall(keywords))


def _status(reader: PdfFileReader, identity: SigningIdentity) -> PdfSignatureStatus:
    context = ValidationContext(trust_roots=identity.trust_roots(), allow_fetching=False)
    return validate_pdf_signature(reader.embedded_signatures[-1], context)


def verify_pdf(data: bytes, identity: SigningIdentity | None = None) -> Verification:
    """Is this an intact report signed by this instance? Never raises on bad input."""
    identity = identity or signing_identity()
    try:
        reader = PdfFileReader(BytesIO(data), strict=False)
        sigs = reader.embedded_signatures
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        return Verification(False, f"Not a readable PDF ({type(exc).__name__}).")
    if not sigs:
        return Verification(False, "The PDF carries no signature.")
    try:
        status = _status(reader, identity)
    except (SignatureValidationError, PdfError, ValueError, KeyError, TypeError) as exc:
        return Verification(False, f"The signature could not be validated: {exc}"[:300])
    cert = status.signing_cert
    fingerprint = cert.sha256.hex() if cert is not None else ""
    whole = status.coverage is not None and status.coverage.name == "ENTIRE_FILE"
    result = Verification(
        ok=False,
        reason="",
        signer=cert.subject.human_friendly if cert is not None else "",
        signer_fingerprint=fingerprint,
        signed_at=status.signer_reported_dt.isoformat() if status.signer_reported_dt else "",
        timestamped=status.timestamp_validity is not None,
        intact=bool(status.intact and status.valid),
        trusted=bool(status.trusted),
        whole_file=whole,
        claims=_claims(reader) if whole else {},
    )
    if not result.intact:
        result.reason = "The document was changed after it was signed (the hash does not match)."
    elif not whole:
        result.reason = "Content was added after the signature; the signed part is not the file."
    elif len(sigs) != 1:
        result.reason = "The file carries more than one signature; an aigsec report has one."
    elif not result.trusted:
        result.reason = "Signed, but not by this aigsec instance's signing certificate."
    elif not result.report_uuid:
        result.reason = "Signed by this instance, but not an aigsec report."
    else:
        result.ok = True
        result.reason = "Intact, and signed by this aigsec instance."
    return result
