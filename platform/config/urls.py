from django.contrib import admin
from django.urls import include, path
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from common.csp import with_app_policy
from publishing.oai import oai
from publishing.views import (
    dataset_landing,
    dataset_version_landing,
    dataset_version_latest_landing,
    sitemap,
)

api = [
    path("", include("accounts.urls")),
    path("", include("catalog.urls")),
    path("", include("labeling.urls")),
    path("", include("analysis.urls")),
    path("", include("registry.urls")),
    path("", include("webhooks.urls")),
    path("", include("publishing.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]

# The browser app (frontend/): one shell page, hash-routed client side.
app_shell = with_app_policy(ensure_csrf_cookie(TemplateView.as_view(template_name="index.html")))

urlpatterns = [
    path("", app_shell, name="app"),
    path("api/", include(api)),
    # its login is rate limited like the API's sign-in (accounts.admin_site); people sign in
    # through the app (POST /api/auth/login): there is no other login page
    path("admin/", admin.site.urls),
    path("datasets/<uuid:dataset_id>/", dataset_landing, name="dataset-landing"),
    path(
        "datasets/<uuid:dataset_id>/versions/latest/",
        dataset_version_latest_landing,
        name="dataset-version-latest-landing",
    ),
    path(
        "dataset-versions/<uuid:version_id>/",
        dataset_version_landing,
        name="dataset-version-landing",
    ),
    path("sitemap.xml", sitemap, name="sitemap"),
    path("oai", oai, name="oai"),  # OAI-PMH 2.0 for the public dataset versions
]
