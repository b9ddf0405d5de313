from django.urls import path

from . import views

urlpatterns = [
    path("reports/", views.report_list, name="report_list"),
    path("reports/verify/", views.report_verify_page, name="report_verify"),
    path("reports/<int:pk>/status/", views.report_status, name="report_status"),
    path("reports/<int:pk>/download/", views.report_download, name="report_download"),
    path("assessments/<int:pk>/reports/", views.assessment_reports, name="assessment_reports"),
    path("assessments/<int:pk>/reports/request/", views.report_request, name="report_request"),
]
