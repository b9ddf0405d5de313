"""API v1 routes for reviews (under /api/v1/)."""

from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter(trailing_slash=True, use_regex_path=False)
router.register("reviews", api.ReviewViewSet, basename="api-reviews")

urlpatterns = router.urls
