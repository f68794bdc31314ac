"""The agent's app under ``/``."""

from django.urls import path

from . import views

app_name = "leads"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("pool/", views.pool, name="pool"),
    path("export/<str:what>.<str:format>", views.export, name="export"),
    path("people/duplicates/", views.duplicates_page, name="duplicates"),
    path("people/merge/", views.people_merge, name="merge"),
    path("people/merges/<int:pk>/undo/", views.people_unmerge, name="unmerge"),
    path("leads/<int:pk>/", views.lead_detail, name="lead"),
    path("people/<int:pk>/", views.person, name="person"),
    path("l/<str:code>/", views.short_link, name="short"),
    path("leads/<int:pk>/accept/", views.lead_accept, name="accept"),
    path("leads/<int:pk>/claim/", views.lead_claim, name="claim"),
    path("leads/<int:pk>/status/", views.lead_status, name="status"),
    path("leads/<int:pk>/note/", views.lead_note, name="note"),
    path("leads/<int:pk>/contact/", views.lead_contact, name="contact"),
    path("leads/<int:pk>/reassign/", views.lead_reassign, name="reassign"),
    path("leads/<int:pk>/follow-up/", views.lead_follow_up, name="follow_up"),
    path("follow-ups/<int:pk>/finish/", views.task_finish, name="task_finish"),
    path("today/", views.today, name="today"),
    path("calendar/<str:token>.ics", views.calendar_feed, name="calendar"),
    path("settings/", views.agent_settings, name="settings"),
    path("settings/calendar/", views.calendar_settings, name="calendar_settings"),
    path("pause/", views.pause, name="pause"),
    path("dashboard/", views.dashboard, name="dashboard"),
]
