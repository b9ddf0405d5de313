"""API v1 routes for evidence (under /api/v1/)."""

from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter(trailing_slash=True, use_regex_path=False)
router.register("evidence", api.EvidenceViewSet, basename="api-evidence")

urlpatterns = router.urls
