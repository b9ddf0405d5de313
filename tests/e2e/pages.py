"""The main pages, by who sees them: shared by the screenshot and accessibility tests."""

from __future__ import annotations

from django.urls import reverse

RISK, AUDITOR, MANAGER = "risk@demo.test", "auditor@demo.test", "manager@demo.test"


def main_pages(demo) -> dict[str, tuple[str | None, str]]:
    """name -> (who, url). The six of the README's screenshots come first."""
    from assessments.models import Assessment, Response

    a = demo.assessment.pk
    # The demo's signed-off assessment (seeded with the demo report): its page shows the sign-off.
    final = Assessment.objects.filter(team=demo.team, status="final").order_by("pk").first()
    # Summaries of the first controls and the third one opened: both kinds on one page.
    rows = list(
        Response.objects.filter(assessment=a, control__guideline__pillar__ref="1")
        .order_by("control__order")
        .values_list("pk", "control__guideline_id")[:3]
    )
    opened, section = rows[-1][0], rows[0][1]
    return {
        "dashboard": (RISK, reverse("home")),
        "questionnaire": (
            RISK,
            reverse("questionnaire", args=[a, "1"]) + f"?open={opened}#g{section}",
        ),
        "questionnaire-all-open": (RISK, reverse("questionnaire", args=[a, "1"]) + "?open=all"),
        "evidence": (RISK, reverse("evidence_list")),
        "review-queue": (AUDITOR, reverse("review_queue")),
        "reports": (MANAGER, reverse("report_list")),
        "audit-trail": (AUDITOR, reverse("audit_trail")),
        "login": (None, reverse("login")),
        "my-work": (RISK, reverse("my_work")),
        "assessment": (RISK, reverse("assessment_detail", args=[a])),
        "add-evidence": (RISK, reverse("evidence_create")),
        "search": (RISK, reverse("search") + "?q=supply"),
        "find-controls": (AUDITOR, reverse("assessment_controls", args=[a]) + "?q=data"),
        # The demo assessment is in progress: its sign-off page lists what blocks it.
        "sign-off": (MANAGER, reverse("assessment_sign_off", args=[a])),
        **(
            {"signed-off-assessment": (MANAGER, reverse("assessment_detail", args=[final.pk]))}
            if final
            else {}
        ),
    }


SCREENSHOTS = (
    "dashboard",
    "questionnaire",
    "evidence",
    "review-queue",
    "reports",
    "audit-trail",
    "sign-off",
    "signed-off-assessment",
)
