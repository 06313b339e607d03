"""JSON API routes: the existing frontend's contract and the job API."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView  # job API

from users.api import health, metrics
from users.api import imports as job_api  # job API
from users.api.customers import CustomerListApi  # job API

urlpatterns = [
    path("health/", health.health, name="api-health"),
    path("admin/metrics", metrics.metrics_view, name="admin-metrics"),  # owner: deploy (#7 item 4)
    # --- job API --- (owner: job-api; #4 items 8 and 12)
    path("imports/", job_api.ImportJobListCreateApi.as_view(), name="import-job-list"),
    path("imports/<uuid:job_id>/", job_api.ImportJobDetailApi.as_view(), name="import-job-detail"),
    path("imports/<uuid:job_id>/commit/", job_api.ImportJobCommitApi.as_view(), name="import-job-commit"),
    path("imports/<uuid:job_id>/cancel/", job_api.ImportJobCancelApi.as_view(), name="import-job-cancel"),
    path("imports/<uuid:job_id>/errors/", job_api.ImportJobErrorsApi.as_view(), name="import-job-errors"),
    path("imports/<uuid:job_id>/errors.xlsx", job_api.ImportJobErrorsXlsxApi.as_view(), name="import-job-errors-xlsx"),
    path("imports/<uuid:job_id>/errors.csv", job_api.ImportJobErrorsCsvApi.as_view(), name="import-job-errors-csv"),
    path("customers/", CustomerListApi.as_view(), name="customer-list"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    # --- end job API ---
]
