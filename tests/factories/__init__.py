"""factory_boy factories for every model, one module per app, all re-exported here so that
tests write `from tests.factories import X` (or `from .factories import X` inside tests/).

Where a model has an invariant that a service keeps (an assessment's responses, the evidence
store, a review's denormalised pointers, the audit chain), its factory's `_create` calls that
service instead of writing the row, so a factory can never make what the app could not.
tests/core/test_factories.py fails when a model of ours has no factory here."""

from .accounts import (
    PASSWORD,
    ApiTokenFactory,
    MembershipFactory,
    TeamFactory,
    UserFactory,
    UserSessionFactory,
    member_of,
)
from .assessments import (
    AISystemFactory,
    AssessmentFactory,
    ControlFactory,
    FrameworkFactory,
    FrameworkVersionFactory,
    GuidelineFactory,
    PillarFactory,
    ResponseFactory,
    make_assessment,
    make_framework_version,
)
from .audit import NO_FACTORY, AuditCheckpointFactory, AuditEventFactory
from .core import IdempotencyKeyFactory
from .evidence import (
    EvidenceItemFactory,
    EvidenceLinkFactory,
    EvidenceRevisionFactory,
    csv_upload,
)
from .reports import (
    CSV,
    PNG,
    ReportFactory,
    ReportWorld,
    bundled_version,
    make_report_world,
)
from .reviews import ResponseCommentFactory, ReviewFactory
from .signoff import (
    STATEMENT,
    SignOffFactory,
    accept_all,
    answer_all,
    make_final,
    make_ready,
    submit,
)

__all__ = [
    "CSV",
    "NO_FACTORY",
    "PASSWORD",
    "PNG",
    "STATEMENT",
    "AISystemFactory",
    "ApiTokenFactory",
    "AssessmentFactory",
    "AuditCheckpointFactory",
    "AuditEventFactory",
    "ControlFactory",
    "EvidenceItemFactory",
    "EvidenceLinkFactory",
    "EvidenceRevisionFactory",
    "FrameworkFactory",
    "FrameworkVersionFactory",
    "GuidelineFactory",
    "IdempotencyKeyFactory",
    "MembershipFactory",
    "PillarFactory",
    "ReportFactory",
    "ReportWorld",
    "ResponseCommentFactory",
    "ResponseFactory",
    "ReviewFactory",
    "SignOffFactory",
    "TeamFactory",
    "UserFactory",
    "UserSessionFactory",
    "accept_all",
    "answer_all",
    "bundled_version",
    "csv_upload",
    "make_assessment",
    "make_final",
    "make_framework_version",
    "make_ready",
    "make_report_world",
    "member_of",
    "submit",
]
