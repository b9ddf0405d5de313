from django.urls import path

from . import views_comments

urlpatterns = [
    path(
        "responses/<int:pk>/comments/",
        views_comments.response_comment,
        name="response_comment",
    ),
]
