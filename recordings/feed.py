"""A host's podcast: `/u/<handle>/podcast.xml`, RSS 2.0 with the iTunes tags podcast apps read, one item per
public replay (M4A enclosure), and `/u/<handle>/podcast.png`, square artwork in the host's colour.

Ticketed replays stay out unless the host made them public; the host can switch the feed off (/recordings/).
"""

from __future__ import annotations

import colorsys
import functools
import struct
import zlib

import numpy as np
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET
from feedgen.feed import FeedGenerator

from accounts.models import User

from .access import in_feed
from .models import PodcastFeed, Recording

ITEMS = 300
ARTWORK_SIZE = 1400  # the smallest square Apple Podcasts accepts
CATEGORY = "Society & Culture"


def _host(handle: str) -> User:
    host = get_object_or_404(User, handle__iexact=handle, is_active=True)
    preferences = PodcastFeed.objects.filter(owner=host).first()
    if preferences is not None and not preferences.enabled:
        raise Http404("This podcast feed is switched off.")
    return host


def _duration(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


@require_GET
def podcast(request: HttpRequest, handle: str) -> HttpResponse:
    host = _host(handle)
    preferences = PodcastFeed.objects.filter(owner=host).first() or PodcastFeed(owner=host)
    site = request.build_absolute_uri("/").rstrip("/")
    profile = site + host.get_absolute_url()
    artwork = f"{site}/u/{host.handle}/podcast.png"
    name = f"{host.name} on {settings.SITE_NAME}"

    fg = FeedGenerator()
    fg.load_extension("podcast")
    fg.title(name)
    fg.link(href=profile, rel="alternate")
    fg.link(href=f"{site}/u/{host.handle}/podcast.xml", rel="self")
    fg.description(host.bio or f"Replays of the Spaces @{host.handle} hosted on {settings.SITE_NAME}.")
    fg.language("en")
    fg.author({"name": host.name})
    fg.image(url=artwork, title=name, link=profile)
    fg.podcast.itunes_author(host.name)
    fg.podcast.itunes_image(artwork)
    fg.podcast.itunes_explicit("yes" if preferences.explicit else "no")
    fg.podcast.itunes_category(CATEGORY)
    fg.podcast.itunes_type("episodic")

    recordings = (
        Recording.objects.filter(space__host=host, state=Recording.State.READY)
        .exclude(m4a="")
        .select_related("space")
        .order_by("-space__ended_at")[:ITEMS]
    )
    # feedgen puts the last one added first: add oldest first, so the newest episode leads.
    for recording in reversed([recording for recording in recordings if in_feed(recording)]):
        space = recording.space
        replay = site + recording.get_absolute_url()
        entry = fg.add_entry()
        entry.guid(f"{site}/spaces/{space.pk}/replay/#recording-{recording.pk}", permalink=False)
        entry.title(space.title)
        entry.link(href=replay)
        entry.description(space.description or f"A Space hosted by @{host.handle}.")
        entry.enclosure(f"{site}/spaces/{space.pk}/replay/audio.m4a", str(recording.m4a_size), "audio/mp4")
        entry.pubDate(space.ended_at or recording.created_at)
        entry.podcast.itunes_duration(_duration(recording.duration))
        entry.podcast.itunes_explicit("yes" if preferences.explicit else "no")
    response = HttpResponse(fg.rss_str(pretty=True), content_type="application/rss+xml; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    return response


@require_GET
def artwork(request: HttpRequest, handle: str) -> HttpResponse:
    host = _host(handle)
    response = HttpResponse(_artwork_png(host.avatar_hue), content_type="image/png")
    response["Cache-Control"] = "public, max-age=86400"
    return response


@functools.lru_cache(maxsize=64)
def _artwork_png(hue: int) -> bytes:
    """The host's avatar colour with a white waveform: a plain PNG, drawn with numpy and zlib."""
    size = ARTWORK_SIZE
    red, green, blue = (round(255 * c) for c in colorsys.hls_to_rgb((hue % 360) / 360, 0.42, 0.55))
    image = np.empty((size, size, 3), dtype=np.uint8)
    image[:] = (red, green, blue)
    bars, gap = 21, 18
    width = (size // 2 - gap * (bars - 1)) // bars
    left = size // 4
    for bar in range(bars):
        height = int(size * 0.08 + size * 0.32 * abs(np.sin(bar * 0.55)) * (1 - abs(bar - bars // 2) / bars))
        x = left + bar * (width + gap)
        image[size // 2 - height // 2 : size // 2 + height // 2, x : x + width] = 255
    rows = b"".join(b"\x00" + image[y].tobytes() for y in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b"")
