from django.contrib import admin
from django.urls import include, path

from integrations.views import healthz

admin.site.site_header = "Leadline operations"
admin.site.site_title = "Leadline"
admin.site.index_title = "Operations"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("", include("integrations.urls")),
    path("", include("leads.urls")),
]
