"""The agent's app under ``/``."""

from django.urls import path

from . import views

app_name = "leads"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("pool/", views.pool, name="pool"),
    path("export/<str:what>.<str:format>", views.export, name="export"),
    path("leads/<int:pk>/", views.lead_detail, name="lead"),
    path("l/<str:code>/", views.short_link, name="short"),
    path("leads/<int:pk>/accept/", views.lead_accept, name="accept"),
    path("leads/<int:pk>/claim/", views.lead_claim, name="claim"),
    path("leads/<int:pk>/status/", views.lead_status, name="status"),
    path("leads/<int:pk>/note/", views.lead_note, name="note"),
    path("leads/<int:pk>/contact/", views.lead_contact, name="contact"),
    path("leads/<int:pk>/reassign/", views.lead_reassign, name="reassign"),
    path("settings/", views.agent_settings, name="settings"),
    path("dashboard/", views.dashboard, name="dashboard"),
]
