from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Signed reports"
    default_auto_field = "django.db.models.BigAutoField"

    @staticmethod
    def seed_demo(stdout) -> None:
        from .demo import seed

        seed(stdout)
