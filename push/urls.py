from django.urls import path

from . import views

app_name = "push"

urlpatterns = [
    path("settings/push/subscribe/", views.subscribe, name="subscribe"),
    path("settings/push/unsubscribe/", views.unsubscribe, name="unsubscribe"),
    path("push/renew/", views.renew, name="renew"),
]
