from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from integrations import api as integrations_api
from integrations.alerts import api as alerts_api
from integrations.views import healthz
from leads.auth import ThrottledLoginView

# The REST API: the domain's resources (leads.api) and the edge's (integrations.api), which
# also gives the leads collection its create action (a lead sent in goes through intake).
api = SimpleRouter(use_regex_path=False)
integrations_api.register(api)
alerts_api.register(api)

handler404 = "leads.api.not_found"

admin.site.site_header = "Leadline operations"
admin.site.site_title = "Leadline"
admin.site.index_title = "Operations"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include((api.urls, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("healthz", healthz, name="healthz"),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("oauth/", include("social_django.urls", namespace="social")),
    path("", include("integrations.urls")),
    path("", include("integrations.alerts.urls")),
    path("", include("leads.urls")),
]
