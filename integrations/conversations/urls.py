from django.urls import path

from . import views

app_name = "conversations"

urlpatterns = [
    path("hooks/twilio/messages/status/", views.twilio_status, name="twilio_status"),
    path("leads/<int:pk>/text/", views.send, name="send"),
]
