from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "aigsec.core"
    label = "core"
    verbose_name = "Shared helpers"
