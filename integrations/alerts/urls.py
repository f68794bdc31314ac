from django.urls import path

from . import push_views, views

app_name = "alerts"

urlpatterns = [
    path("hooks/twilio/status/", views.twilio_status, name="twilio_status"),
    path("hooks/twilio/inbound/", views.twilio_inbound, name="twilio_inbound"),
    path("sw.js", push_views.service_worker, name="service_worker"),
    path("manifest.webmanifest", push_views.manifest, name="manifest"),
    path("push/devices/", push_views.subscribe, name="push_subscribe"),
    path("push/devices/<int:pk>/remove/", push_views.remove, name="push_remove"),
    path("push/act/", push_views.act, name="push_act"),
]
