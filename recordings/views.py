"""Replay pages, recording files, clips and the host's recordings (the live Ogg stream: recordings.listen).
Thin: each looks up what the user may touch (recordings.access), does one thing, redirects."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.http import AuthenticatedHttpRequest
from live import chat
from rooms.services import RoomError

from . import access, clips, services
from .models import Clip, PodcastFeed, Recording
from .serve import M4A, OGG, serve_file

KINDS = {"ogg": OGG, "m4a": M4A}


def _recording(space_id: int) -> Recording:
    recording = Recording.objects.select_related("space__host").filter(space_id=space_id).first()
    if recording is None:
        raise Http404("This Space wasn't recorded.")
    return recording


def _start_at(request: HttpRequest) -> int:
    value = request.GET.get("t", "")
    return int(value) if value.isdigit() and len(value) < 7 else 0


def replay(request: HttpRequest, space_id: int) -> HttpResponse:
    """GET /spaces/<id>/replay/: an <audio controls> player that works before any script runs."""
    recording = _recording(space_id)
    refusal = access.replay_refusal(recording, request.user)
    is_host = access.is_host(recording, request.user)
    context = {
        "recording": recording,
        "space": recording.space,
        "refusal": refusal,
        "is_host": is_host,
        "start_at": _start_at(request),
        "clips": list(recording.clips.select_related("created_by")[:20]) if not refusal else [],
        # The room's chat, read-only, until the retention deletes it (live.chat).
        "chat": chat.transcript(space_id) if not refusal else ([], 0),
        "feed_url": request.build_absolute_uri(f"/u/{recording.space.host.handle}/podcast.xml"),
    }
    status = 200 if not refusal or recording.state in (Recording.State.FINALISING, Recording.State.EMPTY) else 403
    if recording.is_removed:
        status = 410
    return render(request, "recordings/replay.html", context, status=status)


@require_GET
def replay_audio(request: HttpRequest, space_id: int, kind: str) -> HttpResponseBase:
    recording = _recording(space_id)
    refusal = access.replay_refusal(recording, request.user)
    name = recording.audio if kind == "ogg" else recording.m4a
    if refusal or not name or kind not in KINDS:
        raise Http404(refusal or "No such file.")
    if kind == "m4a" and request.headers.get("Range", "bytes=0-") in ("bytes=0-", ""):
        Recording.objects.filter(pk=recording.pk).update(downloads=F("downloads") + 1)
    return serve_file(request, name, KINDS[kind], filename=f"space-{space_id}.{kind}")


@csrf_exempt  # a play count: anonymous listeners have no CSRF cookie, and a forged play changes nothing else
@require_POST
def played(request: HttpRequest, space_id: int) -> HttpResponse:
    """The player's script says playback started (once per page view): the host's play count."""
    recording = _recording(space_id)
    if access.replay_refusal(recording, request.user) is None:
        services.count_play(space_id)
    return HttpResponse(status=204)


@require_POST
@login_required
def replay_settings(request: AuthenticatedHttpRequest, space_id: int) -> HttpResponse:
    try:
        services.update_settings(
            space_id,
            request.user,
            is_public=request.POST.get("is_public") == "on" if "is_public_shown" in request.POST else None,
            clips=request.POST.get("clips") == "on",
        )
    except RoomError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Saved.")
    return redirect("recordings:replay", space_id)


@require_POST
@login_required
def replay_delete(request: AuthenticatedHttpRequest, space_id: int) -> HttpResponse:
    try:
        services.delete_by_host(space_id, request.user)
    except RoomError as exc:
        messages.error(request, str(exc))
        return redirect("recordings:replay", space_id)
    messages.success(request, "The recording and its clips are deleted.")
    return redirect("rooms:detail", space_id)


# --- Clips ---------------------------------------------------------------------------------------------


@require_POST
@login_required
def clip_new(request: AuthenticatedHttpRequest, space_id: int) -> HttpResponse:
    try:
        clip = clips.create_clip(
            space_id,
            request.user,
            title=request.POST.get("title", ""),
            start=_seconds(request.POST.get("start")),
            duration=_seconds(request.POST.get("duration")) or 30.0,
        )
    except RoomError as exc:
        messages.error(request, str(exc))
        return redirect("room:page" if request.POST.get("back") == "room" else "recordings:replay", space_id)
    messages.success(request, "Your clip is ready to share.")
    return redirect(clip)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        raise RoomError("Give the time in seconds.") from None


def _clip(request: HttpRequest, clip_id: int) -> tuple[Clip, str | None]:
    found = get_object_or_404(Clip.objects.select_related("recording__space__host", "created_by"), pk=clip_id)
    return found, access.listen_refusal(found.recording, request.user)


def clip(request: HttpRequest, clip_id: int) -> HttpResponse:
    """GET /clips/<id>/: the clip with Open Graph audio tags, so a shared link unfurls."""
    found, refusal = _clip(request, clip_id)
    can_remove = request.user.is_authenticated and request.user.pk in (
        found.created_by_id,
        found.recording.space.host_id,
    )
    context = {"clip": found, "space": found.recording.space, "refusal": refusal, "can_remove": can_remove}
    return render(request, "recordings/clip.html", context, status=403 if refusal else 200)


@require_GET
def clip_audio(request: HttpRequest, clip_id: int, kind: str) -> HttpResponseBase:
    found, refusal = _clip(request, clip_id)
    name = found.audio if kind == "ogg" else found.m4a
    if refusal or not name or kind not in KINDS:
        raise Http404(refusal or "No such file.")
    if request.headers.get("Range", "bytes=0-") in ("bytes=0-", ""):
        Clip.objects.filter(pk=found.pk).update(plays=F("plays") + 1)
    return serve_file(request, name, KINDS[kind], filename=f"clip-{clip_id}.{kind}")


@require_POST
@login_required
def clip_delete(request: AuthenticatedHttpRequest, clip_id: int) -> HttpResponse:
    try:
        removed = clips.delete_clip(clip_id, request.user)
    except RoomError as exc:
        messages.error(request, str(exc))
        return redirect("recordings:clip", clip_id)
    messages.success(request, "The clip is removed.")
    return redirect("recordings:replay", removed.recording.space_id)


# --- The host's recordings --------------------------------------------------------------------------------


@login_required
def mine(request: AuthenticatedHttpRequest) -> HttpResponse:
    """GET /recordings/: the host's recordings, their play counts, and the podcast feed's switch."""
    recordings = (
        Recording.objects.filter(space__host=request.user).exclude(state=Recording.State.REMOVED)
        .select_related("space").order_by("-space__ended_at", "-pk")
    )  # fmt: skip
    feed = PodcastFeed.objects.filter(owner=request.user).first() or PodcastFeed(owner=request.user)
    context = {
        "recordings": recordings,
        "feed": feed,
        "feed_url": request.build_absolute_uri(f"/u/{request.user.handle}/podcast.xml"),
    }
    return render(request, "recordings/mine.html", context)


@require_POST
@login_required
def feed_settings(request: AuthenticatedHttpRequest) -> HttpResponse:
    PodcastFeed.objects.update_or_create(
        owner=request.user,
        defaults={"enabled": request.POST.get("enabled") == "on", "explicit": request.POST.get("explicit") == "on"},
    )
    messages.success(request, "Podcast feed saved.")
    return redirect("recordings:mine")
