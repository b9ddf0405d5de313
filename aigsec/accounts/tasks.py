from celery import shared_task

from .user_sessions import user_sessions_prune


@shared_task(soft_time_limit=600, time_limit=660)
def prune_sessions() -> int:
    """Daily (CELERY_BEAT_SCHEDULE): records of ended sessions past their retention."""
    return user_sessions_prune()
