import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aigsec.settings")
application = get_wsgi_application()

# Load the views now rather than on the first request, then move everything made so far
# (modules, URL patterns, settings) out of the garbage collector's sight: they live as long as
# the process, and each full collection would otherwise walk them again, mid-request
# (docs/benchmarks.md).
get_resolver().url_patterns  # noqa: B018 (imports every view module)
gc.collect()
gc.freeze()
