from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operations tooling: backup, restore and the whole-store integrity checks. The top layer:
    it may read every app; no app imports it."""

    name = "ops"
    verbose_name = "Operations"
