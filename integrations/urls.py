from django.urls import path

from . import views

app_name = "integrations"

urlpatterns = [
    path("forms/<str:public_key>/", views.webform, name="webform"),
    path("forms/<str:public_key>/embed.js", views.webform_embed, name="webform_embed"),
    path(
        "hooks/mailchimp/<str:token>/",
        views.hook,
        {"source_key": "mailchimp"},
        name="hook_mailchimp",
    ),
    path("hooks/facebook/", views.hook, {"source_key": "facebook"}, name="hook_facebook"),
    path("hooks/zillow/", views.hook, {"source_key": "zillow"}, name="hook_zillow"),
    path("hooks/realtor/", views.hook, {"source_key": "realtor"}, name="hook_realtor"),
    path(
        "hooks/zillow-rentals/<str:token>/",
        views.hook,
        {"source_key": "zillow_rentals"},
        name="hook_zillow_rentals",
    ),
]
