"""tests/factories/: a factory for every model of ours, each making a valid object.

The parametrised test walks the project's concrete models (from django.apps, restricted to
this repository's packages), so a new model without a factory fails here by name."""

from __future__ import annotations

import importlib
import pkgutil
import types
from importlib import import_module

import factory
import pytest
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import models

from aigsec.accounts.models import Membership, Role
from aigsec.accounts.services import api_token_authenticate
from aigsec.audit.models import AuditChainHead, AuditEvent
from aigsec.audit.verify import audit_verify_db
from assessments.models import AssessmentStatus, ResponseStatus
from evidence.models import EvidenceKind
from reports.models import ReportStatus
from tests import factories as f

# The top-level packages of this repository (aigsec, assessments, evidence, reports, ops, ...),
# so an app added later counts too, and installed apps (auth, django_otp) do not.
_OUR_PACKAGES = {
    p.name
    for p in settings.BASE_DIR.iterdir()
    if (p / "__init__.py").is_file() and p.name != "tests"
}


def _ours(model: type[models.Model]) -> bool:
    return model.__module__.split(".")[0] in _OUR_PACKAGES


PROJECT_MODELS = sorted(
    (
        m
        for m in apps.get_models()
        if _ours(m) and not m._meta.proxy and not m._meta.auto_created and m._meta.managed
    ),
    key=lambda m: m._meta.label,
)

FACTORIES: dict[type[models.Model], type[factory.django.DjangoModelFactory]] = {
    obj._meta.model: obj
    for obj in vars(f).values()
    if isinstance(obj, type)
    and issubclass(obj, factory.django.DjangoModelFactory)
    and obj._meta.model is not None
}


def _label(model: type[models.Model]) -> str:
    return model._meta.label


def test_the_model_walk_finds_our_apps():
    # Guards the walk itself: an empty or partial list would make the test below vacuous.
    labels = {m._meta.app_label for m in PROJECT_MODELS}
    assert {"accounts", "audit", "assessments", "evidence", "reports"} <= labels
    assert not any(m._meta.app_label in {"auth", "otp_totp", "sessions"} for m in PROJECT_MODELS)


def test_every_model_of_ours_has_a_factory_or_a_reason():
    missing = [_label(m) for m in PROJECT_MODELS if m not in FACTORIES and m not in f.NO_FACTORY]
    assert not missing, f"No factory in tests/factories/ for: {', '.join(missing)}"
    assert set(f.NO_FACTORY) <= set(PROJECT_MODELS)
    assert all(f.NO_FACTORY.values()), "each model without a factory says why"


def test_the_package_re_exports_every_public_name_of_its_modules():
    for info in pkgutil.iter_modules(f.__path__):
        module = importlib.import_module(f"{f.__name__}.{info.name}")
        own = {
            name
            for name, obj in vars(module).items()
            if not name.startswith("_")
            and not isinstance(obj, types.ModuleType)
            # Defined here (functions, classes) or a constant of this module (no __module__).
            and getattr(obj, "__module__", module.__name__) == module.__name__
            and name not in {"annotations"}
        }
        missing = sorted(own - set(f.__all__))
        assert not missing, f"tests/factories/{info.name}.py: not re-exported: {missing}"
        for name in f.__all__:
            assert hasattr(f, name)


@pytest.mark.parametrize("model", [m for m in PROJECT_MODELS if m not in f.NO_FACTORY], ids=_label)
def test_factory_makes_a_valid_saved_object(db, model):
    factory_class = FACTORIES.get(model)
    if factory_class is None:
        pytest.fail(f"{_label(model)} has no factory in tests/factories/ (nor a NO_FACTORY reason)")
    made = [factory_class(), factory_class()]  # twice: sequences keep unique fields apart
    assert made[0].pk != made[1].pk
    for obj in made:
        assert isinstance(obj, model)
        stored = model._default_manager.get(pk=obj.pk)
        # Field validation, unique checks and every Meta constraint, on the stored row.
        stored.full_clean()
    # What the services the factories call record keeps the chain whole.
    result, _ = audit_verify_db()
    assert result.ok, result.reason


def test_the_chain_head_is_a_singleton_moved_by_events(db):
    """Why AuditChainHead has no factory (NO_FACTORY): one row, pk=1, always the newest event."""
    assert AuditChainHead in f.NO_FACTORY
    event = f.AuditEventFactory(action="test.moved")
    head = AuditChainHead.objects.get()
    assert (head.pk, head.seq, head.hash) == (1, event.seq, event.hash)


# --- What the service-backed factories guarantee ---------------------------------------------


def test_framework_content_factories_build_one_consistent_tree(db):
    control = f.ControlFactory(weight=5)
    guideline = control.guideline
    assert control.version == guideline.version == guideline.pillar.version
    again = f.FrameworkVersionFactory(framework=control.version.framework)
    assert again.number == control.version.number + 1


def test_an_assessment_has_a_response_per_control_and_an_audit_event(db):
    assessment = f.AssessmentFactory()
    controls = assessment.framework_version.controls.count()
    assert controls == 8  # make_framework_version's 2x2x2
    assert assessment.responses.count() == controls
    assert AuditEvent.objects.filter(
        action="assessment.created", target=f"assessment:{assessment.pk}"
    ).exists()


def test_a_response_is_one_of_its_assessment_and_answers_through_the_service(db):
    blank = f.ResponseFactory()
    assert blank.status == ResponseStatus.NOT_STARTED and blank.version == 1

    answered = f.ResponseFactory(status="partial", justification="Half the teams trained.")
    assert answered.version == 2  # response_save counted the write
    answered.assessment.refresh_from_db()
    assert answered.assessment.status == AssessmentStatus.IN_PROGRESS
    assert AuditEvent.objects.filter(
        action="response.answered", target=f"response:{answered.pk}"
    ).exists()

    with pytest.raises(ValidationError) as refused:  # the service's rule, not a bare row
        f.ResponseFactory(status="not_applicable")
    assert "justification" in refused.value.message_dict

    control = answered.assessment.framework_version.controls.order_by("-order").first()
    last = f.ResponseFactory(assessment=answered.assessment, control=control)
    assert last.control == control and last.assessment == answered.assessment


def test_file_evidence_is_stored_and_a_revision_adds_to_it(db):
    item = f.EvidenceItemFactory(file=True)
    assert item.kind == EvidenceKind.FILE
    first = item.latest_revision
    assert first.number == 1 and default_storage.exists(first.storage_name)
    assert Membership.objects.filter(team=item.team, user=item.created_by).exists()

    revision = f.EvidenceRevisionFactory(item=item)
    item.refresh_from_db()
    assert revision.number == 2 and item.latest_revision == revision
    assert default_storage.exists(revision.storage_name)

    with pytest.raises(ValidationError):  # a note has no revisions
        f.EvidenceRevisionFactory(item=f.EvidenceItemFactory())


def test_a_link_joins_evidence_and_a_response_of_one_team(db):
    link = f.EvidenceLinkFactory()
    assert link.item.team_id == link.response.assessment.team_id

    stranger_item = f.EvidenceItemFactory(link=True)
    assert stranger_item.url.startswith("https://")
    with pytest.raises(ValidationError):
        f.EvidenceLinkFactory(item=stranger_item)


def test_reviews_are_by_auditors_and_kept_as_the_latest(db):
    on_response = f.ReviewFactory()
    assert on_response.evidence is None
    on_response.response.refresh_from_db()
    assert on_response.response.latest_review == on_response
    assert (
        Membership.objects.get(team=on_response.team, user=on_response.reviewer).role
        == Role.AUDITOR
    )

    item = f.EvidenceItemFactory()
    rejected = f.ReviewFactory(evidence=item, decision="rejected", comment="Out of date.")
    item.refresh_from_db()
    assert rejected.response is None and item.latest_review == rejected

    with pytest.raises(ValidationError):  # a rejection needs its comment
        f.ReviewFactory(decision="rejected")


def test_a_comment_is_added_to_the_thread_by_a_member(db):
    comment = f.ResponseCommentFactory()
    team = comment.response.assessment.team
    assert Membership.objects.filter(team=team, user=comment.author).exists()
    assert list(comment.response.comments.all()) == [comment]


def test_an_api_token_authenticates_with_its_secret(db):
    token = f.ApiTokenFactory(read_only=True)
    assert api_token_authenticate(token.secret) == token
    assert token.token_hash != token.secret and token.is_usable


def test_a_session_record_names_a_real_session(db):
    record = f.UserSessionFactory()
    store = import_module(settings.SESSION_ENGINE).SessionStore
    assert store().exists(record.session_key)


def test_a_report_is_queued_and_can_be_rendered_and_signed(db):
    queued = f.ReportFactory()
    assert queued.status == ReportStatus.QUEUED
    assert Membership.objects.get(team=queued.team, user=queued.requested_by).role == Role.MANAGER

    signed = f.ReportFactory(rendered=True)
    assert signed.status == ReportStatus.SIGNED
    assert signed.sha256 and default_storage.exists(signed.file.name)


def test_a_checkpoint_signs_the_head(db):
    checkpoint = f.AuditCheckpointFactory()
    head = AuditEvent.objects.order_by("-seq").first()
    assert (checkpoint.seq, checkpoint.hash) == (head.seq, head.hash)
    with pytest.raises(TypeError):
        f.AuditCheckpointFactory(seq=1)
