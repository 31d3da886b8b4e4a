"""URLs of recordings, replays, clips and podcast feeds (include at the site root). The live Ogg stream is
routed ahead of Django: recordings.routing."""

from django.urls import path

from . import feed, views

app_name = "recordings"

urlpatterns = [
    path("spaces/<int:space_id>/replay/", views.replay, name="replay"),
    path("spaces/<int:space_id>/replay/audio.<str:kind>", views.replay_audio, name="audio"),
    path("spaces/<int:space_id>/replay/played/", views.played, name="played"),
    path("spaces/<int:space_id>/replay/settings/", views.replay_settings, name="settings"),
    path("spaces/<int:space_id>/replay/delete/", views.replay_delete, name="delete"),
    path("spaces/<int:space_id>/clips/", views.clip_new, name="clip_new"),
    path("clips/<int:clip_id>/", views.clip, name="clip"),
    path("clips/<int:clip_id>/audio.<str:kind>", views.clip_audio, name="clip_audio"),
    path("clips/<int:clip_id>/delete/", views.clip_delete, name="clip_delete"),
    path("recordings/", views.mine, name="mine"),
    path("recordings/feed/", views.feed_settings, name="feed_settings"),
    path("u/<str:handle>/podcast.xml", feed.podcast, name="podcast"),
    path("u/<str:handle>/podcast.png", feed.artwork, name="artwork"),
]
