"""A checkpoint after each burst of writes (issue 18): the debounce that `audit_record`
registers, apart from the taking of a checkpoint (checkpoints.py), so that the task it queues
imports the taker without importing this module back."""

from __future__ import annotations

import atexit
import logging
import threading

from django.conf import settings
from django.core.cache import cache
from django.db import connections

from .checkpoints import audit_checkpoint_take
from .tasks import take_checkpoint

logger = logging.getLogger(__name__)

# audit_record registers checkpoint_soon to run when its transaction commits. The first commit
# of a burst schedules one checkpoint AUDIT_CHECKPOINT_DEBOUNCE seconds later, which covers
# every event committed until then; later commits inside that window schedule nothing. With a
# broker the delayed task goes to the workers (the window is a cache key, shared by every
# process); without one (`make run`, tasks in-process) a timer thread of this process takes it.

_PENDING_KEY = "audit:checkpoint:pending"
_timer_lock = threading.Lock()
_timer: threading.Timer | None = None


def checkpoint_soon() -> None:
    delay = settings.AUDIT_CHECKPOINT_DEBOUNCE
    if delay <= 0:
        return
    if settings.CELERY_TASK_ALWAYS_EAGER:
        _start_timer(delay)
        return
    try:
        first = cache.add(_PENDING_KEY, 1, timeout=max(1, int(delay)))
    except Exception:  # the cache is down: the hourly schedule still takes one
        logger.warning("audit checkpoint: cache unreachable, not scheduled", exc_info=True)
        return
    if first:
        take_checkpoint.apply_async(countdown=delay)


def _start_timer(delay: float) -> None:
    global _timer
    with _timer_lock:
        if _timer is not None and _timer.is_alive():
            return
        if _timer is None:
            # A short-lived process (seed_demo, a management command) must not exit with its
            # last burst unsigned: the pending checkpoint is taken at exit instead.
            atexit.register(_take_if_pending)
        _timer = threading.Timer(delay, _take_in_thread)
        _timer.daemon = True
        _timer.start()


def _take_if_pending() -> None:
    with _timer_lock:
        pending = _timer is not None and _timer.is_alive()
        if pending:
            _timer.cancel()
    if pending:
        try:
            audit_checkpoint_take()
        except Exception:
            logger.exception("audit checkpoint: could not be taken at exit")


def _take_in_thread() -> None:
    try:
        audit_checkpoint_take()
    except Exception:
        logger.exception("audit checkpoint: could not be taken")
    finally:
        connections.close_all()  # this thread's own connections only
