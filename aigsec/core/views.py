from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Database and broker status. 200 when the database answers; the broker is reported."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # report, never raise: this is the probe
        checks["database"] = f"error: {type(exc).__name__}"
    if not settings.CELERY_BROKER_URL:
        checks["broker"] = "in-process"
    else:
        try:
            from aigsec.celery import app

            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
            checks["broker"] = "ok"
        except Exception as exc:
            checks["broker"] = f"error: {type(exc).__name__}"
    ok = checks["database"] == "ok" and not checks["broker"].startswith("error")
    return JsonResponse({"status": "ok" if ok else "degraded", **checks}, status=200 if ok else 503)
