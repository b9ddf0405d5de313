from django.apps import AppConfig


class AssessmentsConfig(AppConfig):
    name = "assessments"
    verbose_name = "Frameworks, AI systems and assessments"

    @staticmethod
    def seed_demo(stdout) -> None:
        from .demo import seed

        seed(stdout)
