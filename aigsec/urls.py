from django.conf import settings
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from aigsec.core import views as core_views
from assessments import views as assessment_views

api_v1 = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("", assessment_views.dashboard, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path(
        "favicon.ico",
        RedirectView.as_view(url=settings.STATIC_URL + "aigsec/favicon.svg", permanent=True),
        name="favicon",
    ),
    path("accounts/", include("aigsec.accounts.urls")),
    path("api/v1/", include(api_v1)),
    path("api/v1/", include("assessments.api_urls")),
    path("api/v1/", include("evidence.api_urls")),
    path("api/v1/", include("reviews.api_urls")),
    path("api/v1/", include("reports.api_urls")),
    path("api/v1/", include("aigsec.audit.api_urls")),
    path("", include("assessments.urls")),
    path("", include("evidence.urls")),
    path("", include("reviews.urls")),
    path("", include("reports.urls")),
    path("", include("aigsec.audit.urls")),
]

handler400 = "aigsec.core.errors.bad_request"
handler403 = "aigsec.core.errors.permission_denied"
handler404 = "aigsec.core.errors.page_not_found"
handler500 = "aigsec.core.errors.server_error"
