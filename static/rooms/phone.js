// The live room on a phone (docs/phones.md): the lock screen's player (Media Session: title, host, artwork,
// pause/play and leave), the screen kept awake while you are on stage (Screen Wake Lock), and the bottom
// bar's height (static/css/phone.css keeps the page and the status line above it). Each is skipped where
// the browser lacks it.

import { room } from "./room.js";

const root = document.getElementById("room");
const bar = root.querySelector("[data-controls]");
const session = "mediaSession" in navigator ? navigator.mediaSession : null;
let player = null; // the room's <audio> (static/rooms/audio.js makes it), once it plays
let over = false;

// --- What floats above the bottom bar (the status line) sits just above it ----------------------------------
if (bar && "ResizeObserver" in window) {
  const page = document.documentElement;
  new ResizeObserver(() => page.style.setProperty("--room-bar-height", `${bar.getBoundingClientRect().height}px`)).observe(bar);
}

// --- Media Session: the lock screen and notification shade show the Space, with its controls --------------
function artwork() {
  const icons = [...document.querySelectorAll('link[rel~="icon"][sizes], link[rel="apple-touch-icon"]')];
  return icons.map((link) => ({ src: link.href, sizes: link.getAttribute("sizes") || "180x180", type: "image/png" }));
}

function hostLine() {
  const { space, speakers } = room.state;
  const host = speakers.find((person) => person.role === "host");
  return host ? `${host.name} (@${host.user})` : `@${space.host}`;
}

function describe() {
  if (!session || over || !("MediaMetadata" in window)) return;
  session.metadata = new MediaMetadata({ title: room.state.space.title, artist: hostLine(), album: "Live on Spaces", artwork: artwork() });
}

function leave() {
  const link = root.querySelector("[data-leave]");
  window.location.assign(link ? link.href : "/");
}

function footerButton(action) {
  return bar && bar.querySelector(`button[data-action="${action}"]:not([hidden])`);
}

function handle(action, handler) {
  try { session.setActionHandler(action, handler); } catch { /* this browser doesn't offer that action */ }
}

function showMicrophone() {
  if (!session || typeof session.setMicrophoneActive !== "function") return;
  try { session.setMicrophoneActive(room.onStage && !room.isMuted); } catch { /* not offered */ }
}

if (session) {
  // Live audio has no "later": pause only stops hearing it here (you stay in the room), play picks up now.
  handle("pause", () => { if (player) player.pause(); });
  handle("play", () => { if (player) player.play().catch(() => {}); });
  handle("stop", leave);
  handle("hangup", leave);
  handle("togglemicrophone", () => {
    const button = footerButton(room.isMuted ? "unmute" : "mute");
    if (button) button.click();
  });
  document.addEventListener("playing", (event) => {
    if (!(event.target instanceof HTMLMediaElement) || over) return;
    player = event.target;
    describe();
    session.playbackState = "playing";
  }, true);
  document.addEventListener("pause", (event) => {
    if (event.target === player && !over) session.playbackState = "paused";
  }, true);
}

// --- Screen Wake Lock: a speaker's screen stays on (their phone must not lock mid-sentence) --------------
let wakeLock = null;

async function keepAwake() {
  const wanted = room.onStage && !over && document.visibilityState === "visible";
  if (wanted && !wakeLock && "wakeLock" in navigator) {
    try {
      wakeLock = await navigator.wakeLock.request("screen");
      wakeLock.addEventListener("release", () => { wakeLock = null; });
      root.dataset.awake = "true";
    } catch {
      wakeLock = null; // refused (battery saver, no permission): the screen may lock as usual
    }
  } else if (!wanted && wakeLock) {
    await wakeLock.release().catch(() => {});
    wakeLock = null;
  }
  if (!wakeLock) delete root.dataset.awake;
}

// A lock is let go whenever the page is hidden: take it again on coming back.
document.addEventListener("visibilitychange", keepAwake);

// --- Kept in step with the room ----------------------------------------------------------------------------
function update() {
  describe();
  showMicrophone();
  keepAwake();
}

function finish() {
  over = true;
  keepAwake();
  if (session) {
    session.metadata = null;
    session.playbackState = "none";
  }
}

for (const name of ["snapshot", "role_changed", "speaker_muted", "speaker_unmuted", "space_updated"]) room.on(name, update);
room.on("space_ended", finish);
room.on("removed", (delta) => { if (room.state.me && delta.user_id === room.state.me.user_id) finish(); });
window.addEventListener("pagehide", finish);
