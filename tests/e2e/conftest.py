"""Browser tests on the real pages: one `manage.py runserver` for the session (Daphne's: HTTP, websockets
and /static/, with the media engine inside it), on pytest-django's PostgreSQL test database, and Debian's
headless Chromium through Playwright. Every page a test opens reports its script errors and
Content-Security-Policy violations (`page.problems`), and tests assert there are none. Under that
policy a `wait_for_function` predicate must be a function ("() => ..."): Playwright evaluates a bare
expression string with eval, which the page's CSP refuses.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import aioice.ice
import pytest
from channels.db import database_sync_to_async
from django.db import connections
from playwright.async_api import TimeoutError as PlaywrightTimeout

from tests.browsers import chromium_browser
from tests.live.roomkit import session_cookie
from tests.servers import Server, free_port

# Instrumentation only: CSP violations as the page sees them (the event fires on the document).
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"} at ${where}`);
});
"""

# Instrumentation only: remember the page's peer connections so the test can read their stats.
WATCH_PEER_CONNECTIONS = """
window.__pcs = [];
const NativePeerConnection = window.RTCPeerConnection;
window.RTCPeerConnection = class extends NativePeerConnection {
  constructor(...args) { super(...args); window.__pcs.push(this); }
};
window.__lastPc = () => window.__pcs[window.__pcs.length - 1];
window.__inbound = async () => {
  const pc = window.__lastPc();
  if (!pc) return { packets: 0, energy: 0 };
  for (const report of (await pc.getStats()).values()) {
    if (report.type === "inbound-rtp" && report.kind === "audio") {
      return { packets: report.packetsReceived || 0, energy: report.totalAudioEnergy || 0 };
    }
  }
  return { packets: 0, energy: 0 };
};
"""


@pytest.fixture(autouse=True)
def loopback_ice(monkeypatch):
    # The test's aiortc peers offer 127.0.0.1 (aioice never does by itself).
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


@contextlib.contextmanager
def running_site(tmp_path_factory, **env: str) -> Iterator[Server]:
    """`manage.py runserver` with the media engine inside it (and `env` on top), for as long as the block."""
    port = free_port()
    server = Server(
        ["manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        tmp_path_factory.mktemp("runserver") / "server.log",
        port=port,
        env={"SPACES_MEDIA_IN_PROCESS": "True", "DEBUG": "True", "LOG_LEVEL": "WARNING", **env},
    )
    try:
        server.wait_listening()
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="session")
def room_server(django_db_setup, tmp_path_factory):
    """The site, shared by every browser test."""
    with running_site(tmp_path_factory) as server:
        yield server


@pytest.fixture(autouse=True)
async def _release_database_connections():
    yield
    # database_sync_to_async's thread keeps its connection (CONN_MAX_AGE): let the test database go.
    await database_sync_to_async(connections.close_all)()


@pytest.fixture
async def chromium(tmp_path):
    async with chromium_browser(tmp_path) as browser:
        yield browser


async def visit(browser, server: Server, path: str, user=None, *, width: int = 1280, height: int = 900, **options):
    """`path` in a fresh browser context (a visitor of their own), logged in as `user` by session cookie
    or anonymous. The page collects `problems`: script errors, console errors, failed requests and CSP
    violations."""
    context = await browser.new_context(viewport={"width": width, "height": height}, **options)
    context.set_default_timeout(10000)  # a browser test waits on conditions, and never for long
    await context.add_init_script(WATCH_CSP)
    await context.add_init_script(WATCH_PEER_CONNECTIONS)
    if user is not None:
        name, value = (await database_sync_to_async(session_cookie)(user)).split("=", 1)
        await context.add_cookies([{"name": name, "value": value, "url": server.base_url}])
    page = await context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(f"script error: {error}"))
    page.on("console", lambda message: message.type == "error" and page.problems.append(f"console: {message.text}"))
    page.on(
        "response", lambda answer: answer.status >= 400 and page.problems.append(f"HTTP {answer.status} {answer.url}")
    )
    response = await page.goto(f"{server.base_url}{path}")
    assert response.status < 400, (path, response.status)
    return page


async def problems(page) -> list[str]:
    """Everything wrong the page reported so far, CSP violations included."""
    return page.problems + await page.evaluate("window.__cspViolations")


async def room_is_connected(page, timeout: float = 10000) -> None:
    """room.js has applied the socket's snapshot (it marks the room with the seq it is at)."""
    await page.locator("#room[data-seq]").wait_for(state="attached", timeout=timeout)


# What the page's peer connections and the room say, for a failure message.
PEERS = """() => ({
  peers: window.__pcs.map((pc) => [pc.connectionState, pc.iceConnectionState, pc.getSenders().map((s) => !!s.track)]),
  room: [document.querySelector("[data-conn]").textContent, document.querySelector("[data-status]").textContent],
})"""


async def connected_peer(page, *, publishing: bool, timeout: float = 15000) -> None:
    """Wait until the page's newest peer connection is up (and sends a microphone track, if `publishing`);
    the page needs WATCH_PEER_CONNECTIONS."""
    check = "pc && pc.connectionState === 'connected'"
    if publishing:
        check += " && pc.getSenders().some((sender) => sender.track && sender.track.kind === 'audio')"
    try:
        await page.wait_for_function(f"() => {{ const pc = window.__lastPc(); return {check}; }}", timeout=timeout)
    except PlaywrightTimeout:
        raise AssertionError(
            f"no {'publishing ' if publishing else ''}connection: {await page.evaluate(PEERS)}"
        ) from None


async def hang_up(socket) -> None:
    """Drop a test's RoomSocket at once, as a phone losing its network would. A socket the test stopped
    reading stops reading altogether (websockets' backpressure), so a polite close() would wait 10 s for
    the server's close frame behind the unread `speaking` events."""
    socket.websocket.transport.abort()
