from django.apps import AppConfig


class EvidenceConfig(AppConfig):
    name = "evidence"
    verbose_name = "Evidence"

    @staticmethod
    def seed_demo(stdout) -> None:
        from .demo import seed

        seed(stdout)
