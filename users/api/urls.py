"""JSON API routes: the existing frontend's contract and the job API."""

from django.urls import path

from users.api import health

urlpatterns = [
    path("health/", health.health, name="api-health"),
]
