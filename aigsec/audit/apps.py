from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_chain_head(sender, using="default", **kwargs) -> None:
    # The chain head row must always exist: a `flush` (or a test that empties tables) emits
    # post_migrate, and appends lock this row.
    from .models import GENESIS_HASH, AuditChainHead, AuditEvent

    if not AuditChainHead.objects.using(using).filter(pk=1).exists():
        last = AuditEvent.objects.using(using).order_by("-seq").first()
        AuditChainHead.objects.using(using).create(
            pk=1, seq=last.seq if last else 0, hash=last.hash if last else GENESIS_HASH
        )


class AuditConfig(AppConfig):
    name = "aigsec.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        post_migrate.connect(_ensure_chain_head, sender=self, weak=False)
