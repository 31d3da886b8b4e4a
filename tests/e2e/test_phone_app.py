"""Spaces as an installable app in Chromium (issue 11): the manifest and its icons, the service worker that
caches the shell and never the live room, the offline page, push notifications from the settings page to
the lock screen, the Space on the lock screen while listening (Media Session), and a speaker's screen kept
awake (Screen Wake Lock).

One thing can't run here: Chromium subscribes to push through Google's servers (FCM), and there is no
internet. So `PushManager.subscribe` hands the page a subscription at a push service on loopback
(tests/push/pushservice.py), with keys the test holds, as a browser's would; everything after it is real:
the settings page's script, the server, pywebpush's encryption, the push service's request, the decryption,
and the service worker showing it (Chromium's DevTools protocol delivers the message to the worker).
"""

from __future__ import annotations

import asyncio
import json
import struct

import pytest
from channels.db import database_sync_to_async

from accounts import services as accounts
from push.models import PushSubscription
from push.services import b64url, new_key_pair
from rooms import services as rooms
from rooms.models import Participant
from tests.e2e.conftest import connected_peer, hang_up, problems, room_is_connected, running_site, visit
from tests.live.roomkit import live_space, put_on_stage
from tests.media.peers import ClientPeer
from tests.push.pushservice import Browser, LocalPushService
from tests.servers import NEEDS_SHARED_DB, ON_POSTGRES, RoomSocket

pytestmark = [
    pytest.mark.skipif(not ON_POSTGRES, reason=NEEDS_SHARED_DB),
    pytest.mark.postgres,
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

PHONE = {"width": 390, "height": 844, "is_mobile": True, "has_touch": True}


@pytest.fixture(scope="module")
def vapid_pair() -> tuple[str, str]:
    return new_key_pair()


@pytest.fixture(scope="module")
def room_server(django_db_setup, tmp_path_factory, vapid_pair):
    """The site with Web Push on, allowed to post to a push service on loopback."""
    with running_site(
        tmp_path_factory,
        VAPID_PUBLIC_KEY=vapid_pair[0],
        VAPID_PRIVATE_KEY=vapid_pair[1],
        VAPID_SUBJECT="mailto:ops@example.com",
        SPACES_PUSH_SERVICES="127.0.0.1",
    ) as server:
        yield server


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


CACHED_URLS = """async () => {
  const urls = [];
  for (const name of await caches.keys()) {
    for (const request of await (await caches.open(name)).keys()) urls.push(new URL(request.url).pathname);
  }
  return urls;
}"""


async def test_the_app_installs_from_its_manifest(room_server, chromium):
    page = await visit(chromium, room_server, "/", **PHONE)
    href = await page.locator('link[rel="manifest"]').get_attribute("href")
    answer = await page.request.get(room_server.base_url + href)
    assert answer.headers["content-type"] == "application/manifest+json"
    manifest = await answer.json()
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/" and manifest["scope"] == "/"
    assert manifest["name"] == "Spaces" and manifest["theme_color"] == manifest["background_color"]
    sizes = {}
    for icon in manifest["icons"]:
        image = await page.request.get(room_server.base_url + icon["src"])
        assert image.ok and image.headers["content-type"] == "image/png"
        width, height = png_size(await image.body())
        assert f"{width}x{height}" == icon["sizes"]
        sizes.setdefault(icon["purpose"], []).append(width)
    assert 192 in sizes["any"] and 512 in sizes["any"] and sizes["maskable"] == [512]
    touch = await page.request.get(
        room_server.base_url + await page.locator('link[rel="apple-touch-icon"]').get_attribute("href")
    )
    assert png_size(await touch.body()) == (180, 180)
    assert await problems(page) == []


async def test_the_service_worker_caches_the_shell_never_the_live_room_and_stands_in_offline(
    room_server, chromium, alice, bob
):
    space = await database_sync_to_async(live_space)(alice, title="Not for the cache")
    page = await visit(chromium, room_server, "/", bob, **PHONE)
    scope = await page.evaluate("async () => (await navigator.serviceWorker.ready).scope")
    assert scope == f"{room_server.base_url}/"
    await page.reload()
    assert await page.evaluate("() => Boolean(navigator.serviceWorker.controller)")  # it controls the site

    # Through the worker, into the live room: it connects, and its page and data stay out of the cache.
    await page.goto(f"{room_server.base_url}/spaces/{space.pk}/room/")
    await room_is_connected(page)
    await page.get_by_role("button", name="People").click()
    await page.locator("[data-audience-list] li").first.wait_for()  # the people list came from /room/audience/
    cached = await page.evaluate(CACHED_URLS)
    assert "/offline/" in cached and "/static/css/app.css" in cached and "/static/js/site.js" in cached
    assert [
        url for url in cached if not url.startswith("/static/") and url not in ("/offline/", "/manifest.webmanifest")
    ] == []
    assert not any("/room/" in url or url.startswith("/spaces/") for url in cached)

    # Offline: any page is the offline page (never a stale live room), styled from the cache.
    await page.context.set_offline(True)
    for path in ["/", f"/spaces/{space.pk}/room/", f"/spaces/{space.pk}/"]:
        await page.goto(f"{room_server.base_url}{path}")
        assert await page.locator("h1").inner_text() == "You're offline", path
        background = await page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(15, 16, 32)"  # app.css, from the cache
    await page.context.set_offline(False)
    await page.get_by_role("link", name="Try again").click()
    await page.locator("#room[data-seq]").wait_for()  # back in the room, live
    assert [p for p in await problems(page) if "ERR_INTERNET_DISCONNECTED" not in p] == []


# Stands in for the browser's push service registration (FCM), which needs the internet: see the docstring.
FAKE_PUSH_SERVICE = """
(() => {
  const fields = %s;
  let current = null;
  const subscription = () => ({
    endpoint: fields.endpoint,
    options: { userVisibleOnly: true },
    toJSON: () => ({
      endpoint: fields.endpoint, expirationTime: null, keys: { p256dh: fields.p256dh, auth: fields.auth },
    }),
    unsubscribe: async () => { current = null; return true; },
  });
  PushManager.prototype.subscribe = async function (options) {
    window.__applicationServerKey = Array.from(new Uint8Array(options.applicationServerKey));
    current = subscription();
    return current;
  };
  PushManager.prototype.getSubscription = async function () { return current; };
})();
"""


async def worker_registration_id(page) -> str:
    cdp = await page.context.new_cdp_session(page)
    found = asyncio.get_running_loop().create_future()

    def seen(event) -> None:
        for registration in event["registrations"]:
            if registration["scopeURL"].endswith("/") and not found.done():
                found.set_result(registration["registrationId"])

    cdp.on("ServiceWorker.workerRegistrationUpdated", seen)
    await cdp.send("ServiceWorker.enable")
    page.cdp = cdp
    return await asyncio.wait_for(found, 5)


async def test_a_phone_turned_on_in_settings_gets_a_host_you_follow_is_live(
    room_server, chromium, settings, vapid_pair, alice, bob
):
    settings.VAPID_PUBLIC_KEY, settings.VAPID_PRIVATE_KEY = vapid_pair  # this process sends (Celery, eager)
    settings.VAPID_SUBJECT = "mailto:ops@example.com"
    settings.SPACES_PUSH_SERVICES = ["127.0.0.1"]
    push_service = LocalPushService.start()
    phone = Browser(push_service.endpoint("bobs-phone"))
    try:
        await database_sync_to_async(accounts.follow)(bob, alice)
        page = await visit(chromium, room_server, "/settings/profile/", bob, **PHONE)
        await page.context.grant_permissions(["notifications"], origin=room_server.base_url)
        await page.context.add_init_script(FAKE_PUSH_SERVICE % json.dumps(phone.subscription()))
        await page.reload()
        state = page.locator("[data-push-state]")
        assert await state.inner_text() == "Off."
        await page.get_by_role("button", name="Turn on for this device").click()
        await page.locator("[data-push-state]", has_text="On for this device").wait_for()
        # The browser subscribed with the server's key, and the server keeps the subscription for bob.
        key = bytes(await page.evaluate("() => window.__applicationServerKey"))
        assert b64url(key) == vapid_pair[0]
        assert await database_sync_to_async(
            lambda: list(PushSubscription.objects.filter(user=bob).values_list("endpoint", flat=True))
        )() == [phone.endpoint]

        # Alice goes live: the push service gets one encrypted message for bob's phone...
        space = await database_sync_to_async(rooms.create_space)(alice, title="Evening talk", start_now=True)
        [delivery] = push_service.to(phone)
        message = phone.read(delivery)
        assert message["title"] == "Alice Liddell is live" and message["body"] == "Evening talk"
        # ... which the phone's service worker shows as a notification that opens the Space.
        registration = await worker_registration_id(page)
        await page.cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": f"{room_server.base_url}/", "registrationId": registration, "data": json.dumps(message)},
        )
        shown = await page.wait_for_function(
            """async () => { const notes = await (await navigator.serviceWorker.ready).getNotifications();
                             return notes.length ? notes.map((n) => [n.title, n.body, n.data.url]) : null; }"""
        )
        assert await shown.json_value() == [
            ["Alice Liddell is live", "Evening talk", f"{settings.SITE_URL}/spaces/{space.pk}/"]
        ]

        # Turned off: the server forgets this phone.
        await page.get_by_role("button", name="Turn off for this device").click()
        await page.locator("[data-push-state]", has_text="Off for this device").wait_for()
        assert not await database_sync_to_async(PushSubscription.objects.filter(user=bob).exists)()
        assert await problems(page) == []
    finally:
        push_service.stop()


async def test_listening_puts_the_space_on_the_lock_screen(room_server, chromium, alice, bob, carol):
    def arrange():
        space = live_space(alice, title="Lock screen talk")
        put_on_stage(space, carol, Participant.Role.SPEAKER, muted=False)
        return space

    space = await database_sync_to_async(arrange)()
    socket = await RoomSocket.open(room_server.room_socket_url(space.pk), carol)
    speaker = ClientPeer(440.0)
    host = await RoomSocket.open(room_server.room_socket_url(space.pk), alice)
    try:
        await socket.next("snapshot")
        await host.next("snapshot")
        await speaker.connect(socket.negotiate)
        page = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", bob, **PHONE)
        await room_is_connected(page)
        await connected_peer(page, publishing=False)
        await page.wait_for_function("() => navigator.mediaSession.metadata !== null", timeout=10000)
        session = await page.evaluate(
            """() => { const m = navigator.mediaSession.metadata;
                       return { title: m.title, artist: m.artist, album: m.album,
                                playback: navigator.mediaSession.playbackState,
                                artwork: m.artwork.map((a) => new URL(a.src).pathname) }; }"""
        )
        assert session["title"] == "Lock screen talk" and session["artist"] == "Alice Liddell (@alice)"
        assert session["album"] == "Live on Spaces" and session["playback"] == "playing"
        assert "/static/icons/icon-192.png" in session["artwork"]

        # The host ends it: the lock screen lets go of the Space.
        await host.send(action="end_space")
        await page.locator("[data-status]", has_text="This Space has ended").wait_for()
        await page.wait_for_function("() => navigator.mediaSession.metadata === null")
        assert await page.evaluate("() => navigator.mediaSession.playbackState") == "none"
        assert await problems(page) == []
    finally:
        await speaker.close()
        await hang_up(socket)
        await hang_up(host)


async def test_a_speakers_screen_stays_awake_while_on_stage(room_server, chromium, alice, carol):
    def arrange():
        space = live_space(alice, title="Awake")
        put_on_stage(space, carol, Participant.Role.SPEAKER)
        return space

    space = await database_sync_to_async(arrange)()
    page = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", carol, **PHONE)
    await page.context.grant_permissions(["screen-wake-lock"], origin=room_server.base_url)
    await page.reload()
    await room_is_connected(page)
    await page.locator("#room[data-awake]").wait_for(state="attached")
    # Back to the audience: the screen may sleep again.
    await page.get_by_role("button", name="Leave the stage").click()
    await page.locator("#room[data-awake]").wait_for(state="detached")

    listener = await visit(chromium, room_server, f"/spaces/{space.pk}/room/", None, **PHONE)
    await listener.context.grant_permissions(["screen-wake-lock"], origin=room_server.base_url)
    await room_is_connected(listener)
    await asyncio.sleep(0.5)
    assert await listener.locator("#room[data-awake]").count() == 0  # a listener's screen sleeps as usual
    assert await problems(page) == []


# Instrumentation only: keep the handlers the page gives the lock screen, so the test can press them.
WATCH_MEDIA_ACTIONS = """
window.__mediaActions = {};
const nativeSetActionHandler = MediaSession.prototype.setActionHandler;
MediaSession.prototype.setActionHandler = function (action, handler) {
  window.__mediaActions[action] = handler;
  return nativeSetActionHandler.call(this, action, handler);
};
"""


async def test_stop_on_the_lock_screen_leaves_the_space(room_server, chromium, alice, bob):
    space = await database_sync_to_async(live_space)(alice, title="Stop from the lock screen")
    page = await visit(chromium, room_server, "/", bob, **PHONE)
    await page.context.add_init_script(WATCH_MEDIA_ACTIONS)
    await page.goto(f"{room_server.base_url}/spaces/{space.pk}/room/")
    await room_is_connected(page)
    offered = await page.evaluate("() => Object.keys(window.__mediaActions).sort()")
    assert {"pause", "play", "stop"} <= set(offered)
    # The lock screen's stop button: the phone leaves the room quietly, as the page's own link does.
    async with page.expect_navigation():
        await page.evaluate("() => window.__mediaActions.stop({ action: 'stop' })")
    assert page.url == f"{room_server.base_url}/"
    assert await problems(page) == []
