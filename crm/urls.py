from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from crm.health import healthz, metrics, readyz
from integrations.alerts import api as alerts_api
from integrations.conversations import api as conversations_api
from integrations.intake import api as intake_api
from integrations.webhooks import api as webhooks_api
from leads.api import unknown_path
from leads.auth import ThrottledLoginView

# The REST API: the domain's resources (leads.api) and the edges' (intake's, which also gives
# the leads collection its create action: a lead sent in goes through intake; the alerts').
api = SimpleRouter(use_regex_path=False)
intake_api.register(api)
alerts_api.register(api)
conversations_api.register(api)
webhooks_api.register(api)

handler404 = "leads.api.not_found"

admin.site.site_header = "Leadline operations"
admin.site.site_title = "Leadline"
admin.site.index_title = "Operations"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include((api.urls, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Any other /api/ path: the API's JSON 404, with DEBUG on too.
    re_path(r"^api/(?P<rest>.*)$", unknown_path, name="api-unknown"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("oauth/", include("social_django.urls", namespace="social")),
    path("", include("integrations.intake.urls")),
    path("", include("integrations.alerts.urls")),
    path("", include("integrations.conversations.urls")),
    path("", include("integrations.imports.urls")),
    path("", include("leads.urls")),
]
