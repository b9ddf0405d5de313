"""The transparency log: Ed25519-signed checkpoints replace the HMAC ones, and the Merkle tree's
stored nodes.

The HMAC checkpoints are dropped, not converted: only the holder of the HMAC key could ever
check them, and they carry no Merkle root. Nothing is lost by dropping them: the hash chain they
pinned is unchanged and verifiable, and the first signed checkpoint (taken after the next audited
write, or by `manage.py audit_checkpoint`) covers every event they covered.
"""

from django.db import migrations, models


def drop_hmac_checkpoints(apps, schema_editor):
    apps.get_model("audit", "AuditCheckpoint").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_team_action_index")]

    operations = [
        migrations.RunPython(drop_hmac_checkpoints, migrations.RunPython.noop),
        migrations.RemoveField(model_name="auditcheckpoint", name="mac"),
        migrations.AddField(
            model_name="auditcheckpoint",
            name="root",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditcheckpoint",
            name="note",
            field=models.TextField(default=""),
            preserve_default=False,
        ),
        migrations.AddConstraint(
            model_name="auditcheckpoint",
            constraint=models.UniqueConstraint(
                fields=("seq",), name="audit_checkpoint_one_per_size"
            ),
        ),
        migrations.AddConstraint(
            model_name="auditcheckpoint",
            constraint=models.CheckConstraint(
                condition=models.Q(("seq__gte", 1)), name="audit_checkpoint_seq"
            ),
        ),
        migrations.CreateModel(
            name="AuditTreeNode",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("level", models.PositiveSmallIntegerField()),
                ("index", models.BigIntegerField()),
                ("hash", models.BinaryField(max_length=32)),
            ],
            options={
                "db_table": "audit_tree_node",
                "constraints": [
                    models.UniqueConstraint(fields=("level", "index"), name="audit_tree_node_key")
                ],
            },
        ),
        migrations.CreateModel(
            name="AuditTreeState",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("size", models.BigIntegerField(default=0)),
            ],
            options={"db_table": "audit_tree_state"},
        ),
    ]
