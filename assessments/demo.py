"""Demo content for `seed_demo`: an AI system with an assessment about a third answered."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import CommandError
from django.utils import timezone

from aigsec.accounts.models import Team, User

from . import services
from .frameworks import FrameworkFileError, bundled_framework_paths, framework_load
from .models import AISystem, Framework, ModelSource, Response, SystemStatus

DEMO_SLUG = "ncsc-cisa-secure-ai-2023"
# A plausible spread of answers; partial and n/a carry the justification they require.
ANSWERS = [
    ("full", "Documented in our AI security policy; reviewed quarterly."),
    ("largely", "In place for production; the staging pipeline is still being covered."),
    ("partial", "Started: training material exists, but not all teams have attended."),
    ("not_implemented", ""),
    ("full", "Covered by the vendor contract and our supplier review."),
    ("not_applicable", "We do not train or fine-tune models; the provider does."),
]


def _load_bundled_framework(stdout) -> Framework:
    """The bundled framework, loaded now; CommandError (and the whole demo rolled back, since
    seed_demo runs in one transaction) if its file is missing or broken."""
    for path in bundled_framework_paths():
        try:
            version, _created = framework_load(
                path.read_text(encoding="utf-8-sig"), source_name=path.name, owner_team=None
            )
        except (OSError, UnicodeDecodeError, FrameworkFileError) as exc:
            raise CommandError(
                f"The demo needs the bundled framework, which could not be loaded from "
                f"{path}: {exc}. Nothing was created."
            ) from exc
        stdout.write(f"  loaded the framework {version.framework.slug} v{version.number}")
    framework = Framework.objects.filter(slug=DEMO_SLUG, owner_team__isnull=True).first()
    if framework is None:
        raise CommandError(
            f"The demo needs the framework “{DEMO_SLUG}”, which is not among the bundled "
            "framework files. Nothing was created."
        )
    return framework


def seed(stdout) -> None:
    team = Team.objects.filter(name="Demo AI Ltd").first()
    if team is None:
        return
    framework = Framework.objects.filter(slug=DEMO_SLUG, owner_team__isnull=True).first()
    if framework is None:
        # A demo without its assessment shows nothing of what aigsec does: load the bundled
        # framework first, as `load_framework` would (same loader, idempotent).
        framework = _load_bundled_framework(stdout)
    if AISystem.objects.filter(team=team, name="Support chatbot").exists():
        return
    risk = User.objects.get(email="risk@demo.test")
    risk2 = User.objects.get(email="risk2@demo.test")
    system = services.ai_system_create(
        team=team,
        actor=risk,
        name="Support chatbot",
        description="Answers customer questions on the website using a hosted LLM via API.",
        business_owner="Head of Customer Service",
        criticality="high",
        model_source=ModelSource.EXTERNAL_API,
        deployment="EU cloud region, behind the customer portal",
        status=SystemStatus.PRODUCTION,
    )
    services.ai_system_create(
        team=team,
        actor=risk2,
        name="Invoice classifier",
        model_source=ModelSource.FINE_TUNED,
        description="Routes incoming invoices to the right ledger.",
        criticality="medium",
        deployment="On-premises GPU cluster",
        status=SystemStatus.DEVELOPMENT,
    )
    assessment = services.assessment_create(
        ai_system=system,
        framework_version=framework.versions.order_by("-number").first(),
        actor=risk,
        title="Support chatbot — 2026 baseline",
    )
    responses = list(Response.objects.filter(assessment=assessment).order_by("control__order"))
    today = timezone.localdate()
    for i, r in enumerate(responses):
        owner = risk if i % 2 == 0 else risk2
        due = today + dt.timedelta(days=(i % 9) * 7 - 14)
        if i % 3 == 0:  # about a third answered
            status, why = ANSWERS[(i // 3) % len(ANSWERS)]
            services.response_save(
                response=r,
                expected_version=r.version,
                actor=owner,
                status=status,
                justification=why,
                owner=owner,
                due_date=due,
            )
        elif i % 3 == 1:
            services.response_save(
                response=r,
                expected_version=r.version,
                actor=risk,
                status=r.status,
                justification="",
                owner=owner,
                due_date=due,
            )
    stdout.write(f"  AI system “{system.name}” with assessment #{assessment.pk}")
