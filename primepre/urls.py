"""Top-level routes: health, the JSON API, the admin's import pages and Django's admin."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from users.accounts.forms import SignInForm
from users.api.health import health

urlpatterns = [
    path("health", health, name="health"),
    path("api/", include("users.api.urls")),
    path(settings.ADMIN_URL, admin.site.urls),  # admin/ unless ADMIN_URL says otherwise
    # Before Django's own: the same page, whose form says so when a sign-in is locked out.
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=SignInForm), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("users.web.urls")),
]

# JSON under /api/ (with CORS headers, as CorsMiddleware wraps them), Django's pages elsewhere.
handler400 = "users.api.errors.bad_request"
handler403 = "users.api.errors.permission_denied"
handler404 = "users.api.errors.page_not_found"
handler500 = "users.api.errors.server_error"
