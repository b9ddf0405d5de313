from celery import shared_task

from .checkpoints import audit_checkpoint_take


@shared_task(soft_time_limit=60, time_limit=90)
def take_checkpoint() -> int | None:
    cp = audit_checkpoint_take()
    return cp.seq if cp else None
