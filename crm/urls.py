from django.contrib import admin
from django.urls import include, path

from integrations.views import healthz
from leads.auth import ThrottledLoginView

admin.site.site_header = "Leadline operations"
admin.site.site_title = "Leadline"
admin.site.index_title = "Operations"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("oauth/", include("social_django.urls", namespace="social")),
    path("", include("integrations.urls")),
    path("", include("leads.urls")),
]
