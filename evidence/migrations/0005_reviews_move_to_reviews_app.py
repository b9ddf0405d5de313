"""Review and ResponseComment now live in the reviews app (reviews/0001): removed from this
app's state only, so their tables and rows stay. Their content types follow them (renamed,
not recreated), so anything that refers to a content type by id keeps pointing at them."""

import django.db.models.deletion
from django.db import migrations, models

MOVED = ("review", "responsecomment")


def move_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MOVED:
        # A fresh database has none yet (migrate creates them after the last migration); an
        # existing one has the old label: rename it unless the new one was already made.
        if not ContentType.objects.using(db).filter(app_label="reviews", model=model).exists():
            ContentType.objects.using(db).filter(app_label="evidence", model=model).update(
                app_label="reviews"
            )


def restore_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MOVED:
        if not ContentType.objects.using(db).filter(app_label="evidence", model=model).exists():
            ContentType.objects.using(db).filter(app_label="reviews", model=model).update(
                app_label="evidence"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("assessments", "0003_response_latest_review_reviews_app"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("evidence", "0004_evidenceitem_latest_review_revision"),
        ("reviews", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name="evidenceitem",
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
                migrations.DeleteModel(name="ResponseComment"),
                migrations.DeleteModel(name="Review"),
            ],
        ),
        migrations.RunPython(move_content_types, restore_content_types, elidable=True),
    ]
