"""Factories for frameworks, AI systems and assessments, built directly through the models (no
YAML loader), so API and service tests control every weight and ref."""

from __future__ import annotations

import hashlib
import itertools

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
    Responsibility,
)

from .factories import UserFactory

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


class AISystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AISystem

    name = factory.Sequence(lambda n: f"AI system {n}")
    description = "A test system."
    business_owner = "Head of Testing"
    model_source = ModelSource.HOSTED
    deployment = "Test cluster"
    # AISystem.created_by is null=True but not blank=True, so full_clean() in
    # services.ai_system_update refuses a system without a creator.
    created_by = factory.SubFactory(UserFactory)


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
