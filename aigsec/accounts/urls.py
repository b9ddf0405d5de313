from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from . import views, views_mfa, views_sessions
from .forms import InvitationAwarePasswordResetForm

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/change/", views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/reset/",
        views.PasswordResetView.as_view(
            template_name="accounts/password_reset.html",
            form_class=InvitationAwarePasswordResetForm,
            email_template_name="accounts/password_reset_email.txt",
            subject_template_name="accounts/password_reset_subject.txt",
            success_url=reverse_lazy("password_reset_done"),
        ),
        name="password_reset",
    ),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        views_sessions.PasswordResetConfirmView.as_view(
            template_name="accounts/password_reset_confirm.html",
            success_url=reverse_lazy("login"),
        ),
        name="password_reset_confirm",
    ),
    path("team/switch/", views.team_switch, name="team_switch"),
    path("teams/<int:team_id>/members/", views.members, name="members"),
    path("members/<int:membership_id>/role/", views.member_role, name="member_role"),
    path("members/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("mfa/", views_mfa.mfa_setup, name="mfa_setup"),
    path("mfa/verify/", views_mfa.mfa_verify, name="mfa_verify"),
    path("mfa/manage/", views_mfa.mfa_manage, name="mfa_manage"),
    path("teams/<int:team_id>/mfa/", views_mfa.team_mfa, name="team_mfa"),
    path("sessions/", views_sessions.sessions, name="sessions"),
    path("sessions/end-others/", views_sessions.sessions_end_others, name="sessions_end_others"),
]
