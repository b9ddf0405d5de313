"""Response.latest_review points at reviews.Review (the model moved app, not table): state only,
the column and its foreign key in the database stay as they are."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("assessments", "0002_response_latest_review"),
        ("reviews", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name="response",
                    name="latest_review",
                    field=models.ForeignKey(
                        blank=True,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="reviews.review",
                    ),
                ),
            ],
        ),
    ]
