"""JSON API routes: the existing frontend's contract and the job API."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView  # job API

from users.api import (
    auth,
    corrections,  # job API: the Check step
    excel,
    frontend_customers,
    health,
    metrics,
)
from users.api import imports as job_api  # job API
from users.api.customers import CustomerListApi  # job API

urlpatterns = [
    path("health/", health.health, name="api-health"),
    path("admin/metrics", metrics.metrics_view, name="admin-metrics"),
    # --- frontend contract: the paths the React app calls, unchanged (docs/api.md) ---
    path("auth/login/", auth.LoginApi.as_view(), name="auth-login"),
    path("auth/profile/", auth.ProfileApi.as_view(), name="auth-profile"),
    path("auth/token/", auth.TokenPairApi.as_view(), name="auth-token"),
    path("auth/token/refresh/", auth.TokenRefreshApi.as_view(), name="auth-token-refresh"),
    path("auth/logout/", auth.LogoutApi.as_view(), name="auth-logout"),
    path("auth/admin/users/", frontend_customers.AdminUsersListApi.as_view(), name="auth-admin-users"),
    path("auth/customers/upload/stats/", frontend_customers.UploadStatsApi.as_view(), name="customer-upload-stats"),
    path("auth/customers/excel/upload/", excel.ExcelUploadApi.as_view(), name="customer-excel-upload"),
    path("auth/customers/excel/bulk-create/", excel.BulkCreateApi.as_view(), name="customer-bulk-create"),
    path(
        "auth/customers/excel/bulk-create-async/",
        excel.BulkCreateAsyncApi.as_view(),
        name="customer-bulk-create-async",
    ),
    path(
        "auth/customers/excel/bulk-create/status/<str:task_id>/",
        excel.BulkCreateStatusApi.as_view(),
        name="customer-bulk-create-status",
    ),
    path("auth/customers/excel/template/", excel.ExcelTemplateApi.as_view(), name="customer-excel-template"),
    # --- end frontend contract ---
    # --- job API: imports of any size in the background, and the schema that documents it ---
    path("imports/", job_api.ImportJobListCreateApi.as_view(), name="import-job-list"),
    path("imports/<uuid:job_id>/", job_api.ImportJobDetailApi.as_view(), name="import-job-detail"),
    path("imports/<uuid:job_id>/commit/", job_api.ImportJobCommitApi.as_view(), name="import-job-commit"),
    path("imports/<uuid:job_id>/cancel/", job_api.ImportJobCancelApi.as_view(), name="import-job-cancel"),
    path("imports/<uuid:job_id>/undo/", job_api.ImportJobUndoApi.as_view(), name="import-job-undo"),
    path("imports/<uuid:job_id>/errors/", job_api.ImportJobErrorsApi.as_view(), name="import-job-errors"),
    path("imports/<uuid:job_id>/errors.xlsx", job_api.ImportJobErrorsXlsxApi.as_view(), name="import-job-errors-xlsx"),
    path("imports/<uuid:job_id>/errors.csv", job_api.ImportJobErrorsCsvApi.as_view(), name="import-job-errors-csv"),
    # the Check step: rows to correct, one row's correction, the audit trail (choosing columns is a PATCH of the job)
    path("imports/<uuid:job_id>/rows/", corrections.ImportJobRowsApi.as_view(), name="import-job-rows"),
    path(
        "imports/<uuid:job_id>/rows/<int:row_number>/",
        corrections.ImportJobRowApi.as_view(),
        name="import-job-row",
    ),
    path("imports/<uuid:job_id>/audit/", corrections.ImportJobAuditApi.as_view(), name="import-job-audit"),
    path("customers/", CustomerListApi.as_view(), name="customer-list"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    # --- end job API ---
]
