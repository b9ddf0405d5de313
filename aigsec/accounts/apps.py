from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "aigsec.accounts"
    label = "accounts"
    verbose_name = "Accounts and teams"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (login/logout audit receivers)
