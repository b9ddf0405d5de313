from django.urls import path

from . import views

urlpatterns = [
    path("evidence/", views.evidence_list, name="evidence_list"),
    path("evidence/new/", views.evidence_create, name="evidence_create"),
    path("evidence/<int:pk>/", views.evidence_detail, name="evidence_detail"),
    path("evidence/<int:pk>/download/", views.evidence_download, name="evidence_download"),
    path("evidence/<int:pk>/revisions/", views.evidence_revision, name="evidence_revision"),
    path("evidence/<int:pk>/link/", views.evidence_link, name="evidence_link"),
    path("evidence/<int:pk>/unlink/", views.evidence_unlink, name="evidence_unlink"),
    path("evidence/<int:pk>/withdraw/", views.evidence_withdraw, name="evidence_withdraw"),
    path("responses/<int:pk>/evidence/", views.response_evidence, name="response_evidence"),
]
