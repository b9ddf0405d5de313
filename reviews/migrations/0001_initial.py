"""Reviews and comments move from the evidence app to this one: Django's state only.

The tables keep their names (evidence_review, evidence_responsecomment) and their rows; nothing
is created, dropped or copied in the database. evidence/0005 removes the models from the
evidence app's state and assessments/0003 points Response.latest_review here.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0001_initial"),
        ("assessments", "0002_response_latest_review"),
        ("evidence", "0004_evidenceitem_latest_review_revision"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="Review",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "decision",
                            models.CharField(
                                choices=[
                                    ("accepted", "Accepted"),
                                    ("rejected", "Rejected"),
                                    ("changes_requested", "Changes requested"),
                                ],
                                max_length=20,
                            ),
                        ),
                        ("comment", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "evidence",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="reviews",
                                to="evidence.evidenceitem",
                            ),
                        ),
                        (
                            "response",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="reviews",
                                to="assessments.response",
                            ),
                        ),
                        (
                            "reviewer",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="reviews",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "revision",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="reviews",
                                to="evidence.evidencerevision",
                            ),
                        ),
                        (
                            "team",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="reviews",
                                to="accounts.team",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "evidence_review",
                        "ordering": ["-created_at", "-id"],
                        "indexes": [
                            models.Index(
                                fields=["response", "-created_at"], name="review_response_created"
                            ),
                            models.Index(
                                fields=["evidence", "-created_at"], name="review_evidence_created"
                            ),
                        ],
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(
                                    models.Q(
                                        ("evidence__isnull", False), ("response__isnull", True)
                                    ),
                                    models.Q(
                                        ("evidence__isnull", True), ("response__isnull", False)
                                    ),
                                    _connector="OR",
                                ),
                                name="review_exactly_one_target",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(
                                    ("decision__in", ["accepted", "rejected", "changes_requested"])
                                ),
                                name="review_decision_valid",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(
                                    ("decision", "accepted"),
                                    models.Q(("comment", ""), _negated=True),
                                    _connector="OR",
                                ),
                                name="review_comment_required",
                            ),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="ResponseComment",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("body", models.TextField()),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "author",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "response",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="comments",
                                to="assessments.response",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "evidence_responsecomment",
                        "ordering": ["created_at", "id"],
                        "indexes": [
                            models.Index(
                                fields=["response", "created_at"], name="comment_response_created"
                            )
                        ],
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("body", ""), _negated=True),
                                name="comment_body_not_empty",
                            )
                        ],
                    },
                ),
            ],
        ),
    ]
