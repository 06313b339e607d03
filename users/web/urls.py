"""The admin's import pages: /imports/, one import's page, its customers, and the history."""

from django.urls import path

from users.web import views

app_name = "imports"

urlpatterns = [
    path("imports/", views.import_page, name="start"),
    path("imports/history/", views.import_history, name="history"),
    path("imports/<uuid:job_id>/", views.import_page, name="job"),
    path("imports/<uuid:job_id>/customers/", views.import_customers, name="customers"),
]
