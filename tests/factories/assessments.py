"""Factories for frameworks, AI systems, assessments and responses.

Framework content is built directly through the models (no YAML loader), so API and service
tests control every weight and ref. Assessments and answers go through the services, which
keep their invariants (one response per control, the version counter, the audit trail)."""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

import factory
from django.db.models import Max

from aigsec.accounts.models import Team, User
from assessments import services
from assessments.models import (
    AISystem,
    Assessment,
    Control,
    Framework,
    FrameworkVersion,
    Guideline,
    ModelSource,
    Pillar,
    Response,
    Responsibility,
)

from .accounts import TeamFactory, UserFactory

_seq = itertools.count(1)


def make_framework_version(
    n_pillars: int = 2,
    guidelines_per_pillar: int = 2,
    controls_per_guideline: int = 2,
    *,
    slug: str | None = None,
    owner_team: Team | None = None,
    title: str | None = None,
    weight: int = 1,
) -> FrameworkVersion:
    """A framework version with refs "1", "1.1", "1.1.1"… and controls ordered across it.

    The framework is reused if it exists (so a second call adds version n+1).
    """
    n = next(_seq)
    slug = slug or f"test-framework-{n}"
    framework, _ = Framework.objects.get_or_create(
        slug=slug,
        owner_team=owner_team,
        defaults={"title": title or f"Test framework {n}", "publisher": "Test publisher"},
    )
    number = (framework.versions.aggregate(m=Max("number"))["m"] or 0) + 1
    version = FrameworkVersion.objects.create(
        framework=framework,
        number=number,
        sha256=hashlib.sha256(f"{slug}:{number}:{n}".encode()).hexdigest(),
        description=f"Version {number} of {slug}",
    )
    order = itertools.count(1)
    controls = []
    for p in range(1, n_pillars + 1):
        pillar = Pillar.objects.create(version=version, ref=str(p), title=f"Pillar {p}", order=p)
        for g in range(1, guidelines_per_pillar + 1):
            guideline = Guideline.objects.create(
                version=version,
                pillar=pillar,
                ref=f"{p}.{g}",
                title=f"Guideline {p}.{g}",
                summary=f"Summary {p}.{g}",
                order=p * 100 + g,
            )
            for c in range(1, controls_per_guideline + 1):
                ref = f"{p}.{g}.{c}"
                controls.append(
                    Control(
                        version=version,
                        guideline=guideline,
                        ref=ref,
                        title=f"Control {ref}",
                        question=f"Is {ref} in place?",
                        guidance_good=f"Good {ref}",
                        guidance_partial=f"Partial {ref}",
                        typical_evidence=[f"Evidence for {ref}"],
                        responsibility=Responsibility.SHARED,
                        weight=weight,
                        order=next(order),
                    )
                )
    Control.objects.bulk_create(controls)
    return version


class FrameworkFactory(factory.django.DjangoModelFactory):
    """A bundled framework (no owner team) unless `owner_team` is given."""

    class Meta:
        model = Framework

    slug = factory.Sequence(lambda n: f"factory-framework-{n}")
    title = factory.Sequence(lambda n: f"Factory framework {n}")
    publisher = "Test publisher"
    owner_team = None


def _next_version_number(framework: Framework) -> int:
    return (framework.versions.aggregate(m=Max("number"))["m"] or 0) + 1


class FrameworkVersionFactory(factory.django.DjangoModelFactory):
    """An empty version (no pillars): add content with the factories below, or use
    `make_framework_version` for a whole tree."""

    class Meta:
        model = FrameworkVersion

    framework = factory.SubFactory(FrameworkFactory)
    number = factory.LazyAttribute(lambda o: _next_version_number(o.framework))
    sha256 = factory.Sequence(lambda n: hashlib.sha256(f"factory-version-{n}".encode()).hexdigest())
    description = factory.LazyAttribute(lambda o: f"Version {o.number}")


class PillarFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pillar

    version = factory.SubFactory(FrameworkVersionFactory)
    ref = factory.Sequence(lambda n: f"P{n}")
    title = factory.LazyAttribute(lambda o: f"Pillar {o.ref}")
    order = factory.Sequence(lambda n: n)


class GuidelineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Guideline

    pillar = factory.SubFactory(PillarFactory)
    # A guideline belongs to its pillar's version; nothing else would make sense.
    version = factory.SelfAttribute("pillar.version")
    ref = factory.Sequence(lambda n: f"G{n}")
    title = factory.LazyAttribute(lambda o: f"Guideline {o.ref}")
    summary = "A guideline made by a factory."
    order = factory.Sequence(lambda n: n)


class ControlFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Control

    guideline = factory.SubFactory(GuidelineFactory)
    version = factory.SelfAttribute("guideline.version")
    ref = factory.Sequence(lambda n: f"C{n}")
    title = factory.LazyAttribute(lambda o: f"Control {o.ref}")
    question = factory.LazyAttribute(lambda o: f"Is {o.ref} in place?")
    typical_evidence = factory.LazyAttribute(lambda o: [f"Evidence for {o.ref}"])
    responsibility = Responsibility.SHARED
    weight = 1
    order = factory.Sequence(lambda n: n)


class AISystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AISystem

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"AI system {n}")
    description = "A test system."
    business_owner = "Head of Testing"
    model_source = ModelSource.HOSTED
    deployment = "Test cluster"
    # AISystem.created_by is null=True but not blank=True, so full_clean() in
    # services.ai_system_update refuses a system without a creator.
    created_by = factory.SubFactory(UserFactory)


class AssessmentFactory(factory.django.DjangoModelFactory):
    """An assessment made by `assessment_create`: one response per control of its framework
    version (a new 2x2x2 framework unless given), audited. The arguments are the service's."""

    class Meta:
        model = Assessment

    ai_system = factory.SubFactory(AISystemFactory)
    framework_version = factory.LazyFunction(lambda: make_framework_version())
    actor = factory.LazyAttribute(lambda o: o.ai_system.created_by or UserFactory())
    title = ""
    based_on = None

    @classmethod
    def _create(cls, model_class: type[Assessment], **kwargs: Any) -> Assessment:
        return services.assessment_create(**kwargs)


class ResponseFactory(factory.django.DjangoModelFactory):
    """A response of a made assessment: the one to `control` (default: its first control),
    never a free-standing row. Answer fields (`status`, `justification`, `owner`, `due_date`)
    are saved through `response_save` by `actor` (default: the assessment's creator)."""

    class Meta:
        model = Response

    assessment = factory.SubFactory(AssessmentFactory)
    control = None
    actor = None

    @classmethod
    def _create(
        cls,
        model_class: type[Response],
        *,
        assessment: Assessment,
        control: Control | None,
        actor: User | None,
        **answer: Any,
    ) -> Response:
        responses = assessment.responses.select_related("control").order_by("control__order")
        response = responses.get(control=control) if control else responses.first()
        if response is None:
            raise ValueError("This assessment has no responses: its framework has no controls.")
        if not answer:
            return response
        answer.setdefault("status", response.status)
        answer.setdefault("justification", "")
        return services.response_save(
            response=response,
            expected_version=response.version,
            actor=actor or assessment.created_by,
            **answer,
        )


def make_assessment(
    *,
    actor: User,
    ai_system: AISystem | None = None,
    version: FrameworkVersion | None = None,
    team: Team | None = None,
    title: str = "",
    based_on: Assessment | None = None,
) -> Assessment:
    """An assessment with one response per control, created the way the app does it.

    Without `ai_system`, a new one is made in `team`; without `version`, a new 2x2x2 framework.
    """
    if ai_system is None:
        if team is None:
            raise ValueError("Give ai_system or team.")
        ai_system = AISystemFactory(team=team)
    return services.assessment_create(
        ai_system=ai_system,
        framework_version=version or make_framework_version(),
        actor=actor,
        title=title,
        based_on=based_on,
    )
