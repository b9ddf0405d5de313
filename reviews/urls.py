from django.urls import path

from . import views

urlpatterns = [
    path("reviews/", views.review_queue, name="review_queue"),
    path("reviews/new/", views.review_create, name="review_create"),
    path("reviews/bulk/", views.review_bulk, name="review_bulk"),
    path("responses/<int:pk>/comments/", views.response_comment, name="response_comment"),
]
