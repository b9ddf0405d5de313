from django.urls import path

from . import views, views_exports, views_find, views_frameworks, views_signoff

urlpatterns = [
    path("frameworks/", views_frameworks.framework_list, name="frameworks"),
    path(
        "teams/<int:team_id>/frameworks/upload/",
        views_frameworks.framework_upload,
        name="framework_upload",
    ),
    path("ai-systems/", views.ai_system_list, name="ai_system_list"),
    path("ai-systems/new/", views.ai_system_create_view, name="ai_system_create"),
    path("ai-systems/<int:pk>/", views.ai_system_detail, name="ai_system_detail"),
    path("ai-systems/<int:pk>/edit/", views.ai_system_edit, name="ai_system_edit"),
    path("ai-systems/<int:pk>/archive/", views.ai_system_archive, name="ai_system_archive"),
    path(
        "ai-systems/<int:pk>/assessments/new/",
        views.assessment_create_view,
        name="assessment_create",
    ),
    path("assessments/<int:pk>/", views.assessment_detail, name="assessment_detail"),
    path(
        "assessments/<int:pk>/pillars/<str:pillar_ref>/",
        views.questionnaire,
        name="questionnaire",
    ),
    path("assessments/<int:pk>/status/", views.assessment_status, name="assessment_status"),
    path(
        "assessments/<int:pk>/sign-off/",
        views_signoff.assessment_sign_off_view,
        name="assessment_sign_off",
    ),
    path("assessments/<int:pk>/compare/", views.assessment_compare, name="assessment_compare"),
    path(
        "assessments/<int:pk>/export/<str:fmt>/",
        views_exports.assessment_export_view,
        name="assessment_export",
    ),
    path(
        "assessments/<int:pk>/guidelines/<int:guideline_id>/assign/",
        views.guideline_assign,
        name="guideline_assign",
    ),
    path("responses/<int:pk>/", views.response_edit, name="response_edit"),
    path("my-work/", views.my_work_view, name="my_work"),
    path(
        "assessments/<int:pk>/controls/", views_find.assessment_controls, name="assessment_controls"
    ),
    path("search/", views_find.search_view, name="search"),
]
