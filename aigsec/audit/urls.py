from django.urls import path

from . import views

urlpatterns = [
    path("audit/", views.audit_trail, name="audit_trail"),
    path("audit/events/<int:seq>/", views.audit_event, name="audit_event"),
    path("audit/export/<str:fmt>/", views.audit_export, name="audit_export"),
    path("audit/verify/", views.audit_verify, name="audit_verify"),
    path(".well-known/aigsec/audit-log-vkey", views.audit_log_vkey, name="audit_log_vkey"),
]
