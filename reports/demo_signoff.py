"""Demo content for `seed_demo`, seeded before the demo report: a signed-off (final)
assessment of the demo's second AI system, made final the only way there is: answered by a
risk owner who submits it for review, every answer accepted by the auditor, signed off by the
manager (a second person: four eyes)."""

from __future__ import annotations

from aigsec.accounts.models import Team, User
from assessments import services
from assessments.models import AISystem, Assessment, Framework, Response
from assessments.signoff import assessment_sign_off
from reviews.services import review_create

TITLE = "Invoice classifier — 2026 review"
STATEMENT = (
    "Reviewed with the auditor and the system owner: the answers are complete and the "
    "accepted evidence supports them. Approved as the 2026 baseline of the invoice classifier."
)


def seed(stdout) -> None:
    team = Team.objects.filter(name="Demo AI Ltd").first()
    system = AISystem.objects.filter(team=team, name="Invoice classifier").first()
    framework = Framework.objects.filter(slug="ncsc-cisa-secure-ai-2023").first()
    if system is None or framework is None or Assessment.objects.filter(title=TITLE).exists():
        return
    owner = User.objects.get(email="risk2@demo.test")
    auditor = User.objects.get(email="auditor@demo.test")
    manager = User.objects.get(email="manager@demo.test")
    a = services.assessment_create(
        ai_system=system,
        framework_version=framework.versions.order_by("-number").first(),
        actor=owner,
        title=TITLE,
    )
    for i, r in enumerate(Response.objects.filter(assessment=a).order_by("control__order")):
        status, why = (
            ("largely", "In place; a yearly review is planned.")
            if i % 4
            else (
                "full",
                "Documented and tested.",
            )
        )
        r = services.response_save(
            response=r, expected_version=r.version, actor=owner, status=status, justification=why
        )
        review_create(reviewer=auditor, decision="accepted", comment="", response=r)
    for step in ("in_progress", "in_review"):
        a = services.assessment_set_status(assessment=a, status=step, actor=owner)
    assessment_sign_off(assessment=a, actor=manager, statement=STATEMENT)
    stdout.write(f"  assessment #{a.pk} signed off by {manager.display_name}")
