from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("settings/profile/", views.edit_profile, name="edit_profile"),
    path("u/<str:handle>/", views.profile, name="profile"),
    path("u/<str:handle>/followers/", views.followers, name="followers"),
    path("u/<str:handle>/following/", views.following, name="following"),
    path("u/<str:handle>/follow/", views.follow, name="follow"),
    path("u/<str:handle>/unfollow/", views.unfollow, name="unfollow"),
    path("u/<str:handle>/block/", views.block, name="block"),
    path("u/<str:handle>/unblock/", views.unblock, name="unblock"),
]
