"""The main pages, by who sees them: shared by the screenshot and accessibility tests."""

from __future__ import annotations

from django.urls import reverse

RISK, AUDITOR, MANAGER = "risk@demo.test", "auditor@demo.test", "manager@demo.test"


def main_pages(demo) -> dict[str, tuple[str | None, str]]:
    """name -> (who, url). The six of the README's screenshots come first."""
    a = demo.assessment.pk
    return {
        "dashboard": (RISK, reverse("home")),
        "questionnaire": (RISK, reverse("questionnaire", args=[a, "1"])),
        "evidence": (RISK, reverse("evidence_list")),
        "review-queue": (AUDITOR, reverse("review_queue")),
        "reports": (MANAGER, reverse("report_list")),
        "audit-trail": (AUDITOR, reverse("audit_trail")),
        "login": (None, reverse("login")),
        "my-work": (RISK, reverse("my_work")),
        "assessment": (RISK, reverse("assessment_detail", args=[a])),
        "add-evidence": (RISK, reverse("evidence_create")),
    }


SCREENSHOTS = ("dashboard", "questionnaire", "evidence", "review-queue", "reports", "audit-trail")
