from django.urls import path

from . import views

app_name = "alerts"

urlpatterns = [
    path("hooks/twilio/status/", views.twilio_status, name="twilio_status"),
    path("hooks/twilio/inbound/", views.twilio_inbound, name="twilio_inbound"),
]
