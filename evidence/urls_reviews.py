from django.urls import path

from . import views_reviews

urlpatterns = [
    path("reviews/", views_reviews.review_queue, name="review_queue"),
    path("reviews/new/", views_reviews.review_create, name="review_create"),
]
