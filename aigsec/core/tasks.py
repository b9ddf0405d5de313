from celery import shared_task

from .idempotency import idempotency_keys_prune


@shared_task(soft_time_limit=600, time_limit=660)
def prune_idempotency_keys() -> int:
    """Daily (CELERY_BEAT_SCHEDULE): Idempotency-Key answers past their 24 hours."""
    return idempotency_keys_prune()
