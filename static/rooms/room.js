// The live room: one websocket, a snapshot then numbered deltas (docs/protocol.md). No build step.
// Every rule lives on the server; this module only shows state and sends actions.

import { startAudio } from "./audio.js";

const root = document.getElementById("room");
const $ = (selector) => root.querySelector(selector);

const DELTAS = new Set([
  "role_changed", "speaker_muted", "speaker_unmuted", "request_added", "request_removed",
  "invite_added", "invite_removed", "removed", "space_ended", "space_updated", "noop",
]);
const FINAL_CLOSES = { 4000: "This Space has ended.", 4001: "You logged out.", 4003: "You can't be in this Space.", 4004: "This Space doesn't exist." };
const GAP_WAIT_MS = 400; // deltas from two processes may arrive swapped; wait a little before resyncing
const ROLE_LABEL = { host: "Host", cohost: "Co-host", speaker: "Speaker" };
const ROLE_ORDER = { host: 0, cohost: 1, speaker: 2 };

let state = JSON.parse(document.getElementById("room-initial").textContent);
let lastSeq = -1; // nothing from the socket yet
let socket = null;
let retries = 0;
let ended = false;
let gapTimer = null;
const early = new Map(); // seq -> delta that arrived before the one it follows
const listeners = new Map(); // event name -> handlers (signal() below waits on webrtc_answer and error)
let audio = null;

// --- the room as the rest of this module (signalling, audio hooks) sees it ------------------------------
const room = {
  spaceId: state.space.id,
  get me() { return state.me; },
  get onStage() { return Boolean(state.me && ROLE_ORDER[state.me.role] !== undefined); },
  get isMuted() { return !state.me || state.me.is_muted; },
  send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(message)); return true; }
    return false;
  },
  on(event, handler) {
    if (!listeners.has(event)) listeners.set(event, new Set());
    listeners.get(event).add(handler);
    return () => listeners.get(event).delete(handler);
  },
};

function emit(event, payload) {
  for (const handler of listeners.get(event) || []) {
    try { handler(payload); } catch (error) { console.error(error); }
  }
}

// --- socket --------------------------------------------------------------------------------------------
function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}${root.dataset.ws}`);
  setConnection("connecting…");
  socket.addEventListener("open", () => { retries = 0; setConnection(""); });
  socket.addEventListener("message", (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch { return; }
    receive(message);
  });
  socket.addEventListener("close", (event) => {
    const final = FINAL_CLOSES[event.code];
    if (final || ended) {
      finish(final || "This Space has ended.");
      return;
    }
    if (event.code === 4009) status("A message was too large.");
    retries += 1;
    const delay = Math.min(30000, 500 * 2 ** Math.min(retries, 6)) * (0.5 + Math.random());
    setConnection("reconnecting…");
    setTimeout(connect, delay);
  });
}

function receive(message) {
  const name = message.event;
  if (name === "snapshot") {
    applySnapshot(message);
    return;
  }
  if (DELTAS.has(name)) {
    onDelta(message);
    return;
  }
  switch (name) {
    case "presence": showCount(message.listener_count); showJoined(message.joined || []); break;
    case "reactions": for (const item of message.reactions) floatReaction(item); break;
    case "speaking": showSpeaking(message.levels || {}); break;
    case "error": status(message.reason, true); break;
    default: break;
  }
  emit(name, message);
}

function onDelta(message) {
  if (lastSeq < 0 || message.seq <= lastSeq) return; // before the snapshot, or already in it
  if (message.seq > lastSeq + 1) {
    early.set(message.seq, message);
    if (!gapTimer) {
      gapTimer = setTimeout(() => { gapTimer = null; early.clear(); room.send({ action: "snapshot" }); }, GAP_WAIT_MS);
    }
    return;
  }
  apply(message);
  while (early.has(lastSeq + 1)) {
    const next = early.get(lastSeq + 1);
    early.delete(lastSeq + 1);
    apply(next);
  }
  if (gapTimer && early.size === 0) { clearTimeout(gapTimer); gapTimer = null; }
}

// --- state -----------------------------------------------------------------------------------------------
function applySnapshot(snapshot) {
  const wasOnStage = room.onStage;
  state = snapshot;
  lastSeq = snapshot.seq;
  early.clear();
  render();
  syncAudio(wasOnStage);
  emit("snapshot", snapshot);
}

function isMe(message) { return state.me && message.user_id === state.me.user_id; }

function apply(delta) {
  lastSeq = delta.seq;
  const wasOnStage = room.onStage;
  const speakers = state.speakers;
  const without = (list) => list.filter((person) => person.user_id !== delta.user_id);
  switch (delta.event) {
    case "role_changed": {
      state.speakers = without(speakers);
      if (delta.role !== "listener") {
        state.speakers.push(pick(delta));
        state.speakers.sort((a, b) => ROLE_ORDER[a.role] - ROLE_ORDER[b.role]);
      }
      state.requests = without(state.requests);
      state.invites = without(state.invites);
      if (delta.role === "host") { state.space.host = delta.user; state.space.host_id = delta.user_id; }
      if (isMe(delta)) {
        Object.assign(state.me, { role: delta.role, is_muted: delta.is_muted, requested: false, invited: false });
        if (delta.role === "listener" && ROLE_ORDER[delta.previous_role] !== undefined) status("You're back in the audience.");
        if (delta.role === "speaker" && delta.previous_role === "listener") status("You're on stage. Unmute when you're ready to talk.");
        if (delta.role === "cohost") status("You're now a co-host.");
        if (delta.role === "host") status("You're now the host.");
      }
      break;
    }
    case "speaker_muted":
    case "speaker_unmuted": {
      const person = speakers.find((p) => p.user_id === delta.user_id);
      if (person) person.is_muted = delta.is_muted;
      if (isMe(delta)) {
        state.me.is_muted = delta.is_muted;
        muteFromServer(delta.is_muted);
        if (delta.is_muted && delta.by && delta.by !== state.me.user) status(`@${delta.by} muted you.`);
      }
      break;
    }
    case "request_added":
      if (isMe(delta)) { state.me.requested = true; status("You asked to speak. The host will see your request."); }
      if (isModerator()) state.requests = without(state.requests).concat([delta]); // only they keep the list
      break;
    case "request_removed":
      if (isMe(delta)) {
        state.me.requested = false;
        if (delta.reason === "denied") status("Your request to speak wasn't accepted this time.");
      }
      state.requests = without(state.requests);
      break;
    case "invite_added":
      if (isMe(delta)) { state.me.invited = true; status(`@${delta.by} invited you to speak.`); }
      if (isModerator()) state.invites = without(state.invites).concat([delta]);
      break;
    case "invite_removed":
      if (isMe(delta)) state.me.invited = false;
      state.invites = without(state.invites);
      break;
    case "removed":
      state.speakers = without(speakers);
      state.requests = without(state.requests);
      state.invites = without(state.invites);
      if (isMe(delta)) { ended = true; finish("You were removed from this Space."); }
      break;
    case "space_updated":
      state.space.title = delta.title;
      state.space.description = delta.description;
      break;
    case "space_ended":
      ended = true;
      finish("This Space has ended. Thanks for listening!");
      break;
    default:
      break;
  }
  render();
  syncAudio(wasOnStage);
  emit(delta.event, delta);
}

function pick(person) {
  const { user, user_id, name, initials, hue, role, is_muted } = person;
  return { user, user_id, name, initials, hue, role, is_muted };
}

// --- rendering ------------------------------------------------------------------------------------------
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key === "style") node.setAttribute("style", value);
    else if (key.startsWith("data-") || key.startsWith("aria-") || key === "type" || key === "title") node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child);
  return node;
}

function actionButton(label, action, user, extra = "") {
  return el("button", { type: "button", class: `button--small ${extra}`, "data-action": action, "data-user": user }, label);
}

function avatar(person, size = "lg") {
  return el("span", { class: `avatar avatar--${size}`, style: `--hue: ${Number(person.hue) || 0}`, "aria-hidden": "true" }, person.initials);
}

function isModerator() { return Boolean(state.me && (state.me.role === "host" || state.me.role === "cohost")); }

function speakerMenu(person) {
  const me = state.me;
  if (!isModerator() || person.user_id === me.user_id || person.role === "host") return null;
  const items = [];
  const iAmHost = me.role === "host";
  if (!person.is_muted) items.push(actionButton("🔇 Mute", "mute", person.user));
  if (person.role === "speaker") {
    items.push(actionButton("⬇ Move to audience", "make_listener", person.user));
    if (iAmHost) items.push(actionButton("⭐ Make co-host", "add_cohost", person.user));
  }
  if (person.role === "cohost" && iAmHost) {
    items.push(actionButton("Remove co-host", "remove_cohost", person.user));
    items.push(actionButton("👑 Make host", "transfer_host", person.user));
  }
  if (person.role === "speaker" || iAmHost) items.push(actionButton("Remove from Space", "remove", person.user, "button--danger"));
  return el("details", { class: "speaker__menu" }, el("summary", { "aria-label": `Manage @${person.user}` }, "⋯"), el("div", { class: "speaker__menu-items" }, ...items));
}

function render() {
  const { me, space } = state;
  $("[data-title]").textContent = space.title;
  // The server rendered the description with safe links; replace it only when the host edits it.
  const description = $("[data-description]");
  if (description.textContent !== (space.description || "")) description.textContent = space.description || "";
  showCount(state.listener_count);

  const stage = $("[data-stage]");
  stage.replaceChildren(...state.speakers.map((person) => {
    const item = el("li", { class: `speaker${person.is_muted ? " speaker--muted" : ""}`, "data-user": person.user, "data-user-id": String(person.user_id) },
      el("span", { class: "speaker__ring" }, avatar(person)),
      el("span", { class: "speaker__name" }, person.name),
      el("span", { class: "speaker__role muted" }, ROLE_LABEL[person.role] || ""),
      el("span", { class: "speaker__mic", "aria-label": person.is_muted ? "Muted" : "Unmuted" }, person.is_muted ? "🔇" : "🎙"),
    );
    const menu = speakerMenu(person);
    if (menu) item.append(menu);
    return item;
  }));

  const show = (selector, visible) => { const node = $(selector); if (node) node.hidden = !visible; };
  const role = me ? me.role : null;
  const onStage = role === "host" || role === "cohost" || role === "speaker";
  show('[data-action="request_to_speak"]', role === "listener" && !me.requested && !me.invited);
  show('[data-action="cancel_request"]', role === "listener" && me.requested);
  show('[data-action="unmute"]', onStage && me.is_muted);
  show('[data-action="mute"]', onStage && !me.is_muted);
  show('[data-action="make_listener"]', role === "speaker" || role === "cohost");
  show('[data-action="end_space"]', role === "host");
  show("[data-invite]", role === "listener" && me.invited);
  show("[data-moderation]", isModerator());

  if (isModerator()) {
    const requests = state.requests || [];
    $("[data-requests]").replaceChildren(...requests.map((person) => el("li", { class: "people-list__row" },
      avatar(person, "md"),
      el("span", { class: "people-list__name" }, `${person.name} `, el("span", { class: "muted" }, `@${person.user}`)),
      el("span", { class: "people-list__actions" }, actionButton("Approve", "approve_request", person.user), actionButton("Deny", "deny_request", person.user, "button--ghost")),
    )));
    $("[data-no-requests]").hidden = requests.length > 0;
    const badge = $("[data-request-count]");
    badge.hidden = requests.length === 0;
    badge.textContent = String(requests.length);
  }
}

function showCount(count) {
  if (typeof count !== "number") return;
  state.listener_count = count;
  $("[data-count]").textContent = count.toLocaleString();
  $("[data-count-label]").textContent = count === 1 ? "person here" : "people here";
}

const recentlyJoined = [];
function showJoined(handles) {
  if (!isModerator() || !handles.length) return;
  for (const handle of handles) {
    if (state.me && handle === state.me.user) continue;
    const at = recentlyJoined.indexOf(handle);
    if (at >= 0) recentlyJoined.splice(at, 1);
    recentlyJoined.unshift(handle);
  }
  recentlyJoined.length = Math.min(recentlyJoined.length, 8);
  $("[data-joined-wrap]").hidden = recentlyJoined.length === 0;
  const onStage = new Set(state.speakers.map((person) => person.user));
  $("[data-joined]").replaceChildren(...recentlyJoined.filter((handle) => !onStage.has(handle)).map((handle) => el("li", { class: "people-list__row" },
    el("span", { class: "people-list__name" }, `@${handle}`),
    el("span", { class: "people-list__actions" }, actionButton("Invite to speak", "invite_to_speak", handle), actionButton("Remove", "remove", handle, "button--ghost")),
  )));
}

function showSpeaking(levels) {
  for (const item of root.querySelectorAll("[data-stage] .speaker")) {
    const level = Number(levels[item.dataset.userId] || 0);
    item.classList.toggle("speaker--speaking", level > 0.05);
    item.style.setProperty("--level", String(Math.min(1, level)));
  }
}

function floatReaction(item) {
  const layer = $("[data-float]");
  const shown = Math.min(item.count, 6); // a burst of 50 claps is six floating claps, not fifty
  for (let i = 0; i < shown; i += 1) {
    const bubble = el("span", { class: "reaction-float", style: `--x: ${10 + Math.random() * 80}%; --delay: ${i * 120}ms` }, item.emoji);
    bubble.addEventListener("animationend", () => bubble.remove());
    layer.append(bubble);
  }
  if (item.users && item.users.length && item.count === 1) status(`@${item.users[0]} ${item.emoji}`);
}

let statusTimer = null;
function status(text, isError = false) {
  const node = $("[data-status]");
  node.textContent = text;
  node.classList.toggle("room__status--error", isError);
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => { node.textContent = ""; }, 6000);
}

function setConnection(text) { $("[data-conn]").textContent = text; }

function finish(text) {
  ended = true;
  status(text);
  clearTimeout(statusTimer);
  setConnection("");
  for (const button of root.querySelectorAll("button")) button.disabled = true;
  if (audio) audio.close();
  root.classList.add("room--ended");
}

// --- actions --------------------------------------------------------------------------------------------
root.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action], button[data-emoji]");
  if (!button || !root.contains(button)) return;
  if (button.dataset.emoji) {
    room.send({ action: "react", emoji: button.dataset.emoji });
    return;
  }
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  if (audio && !button.dataset.user && (button.dataset.action === "mute" || button.dataset.action === "unmute")) {
    audio.setMuted(button.dataset.action === "mute").catch((error) => status(error.message, true));
    return;
  }
  const message = { action: button.dataset.action };
  if (button.dataset.user) message.user = button.dataset.user;
  if (!room.send(message)) status("Not connected yet. Try again in a moment.", true);
  const menu = button.closest("details");
  if (menu) menu.open = false;
});

$("[data-invite-form]").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = event.target.elements.user;
  const handle = input.value.trim().replace(/^@/, "");
  if (handle && room.send({ action: "invite_to_speak", user: handle })) input.value = "";
});

// --- audio (static/rooms/audio.js, the media engine's module) ------------------------------------------------
// Listen from the start; publish the microphone while on stage. audio.js mutes the track and tells the
// server (setServerMuted) in one step; the server's word (speaker_muted) is applied back to the track.
const firstSnapshot = new Promise((resolve) => room.on("snapshot", resolve));

function signal(offer) {
  return new Promise((resolve, reject) => {
    const offAnswer = room.on("webrtc_answer", (message) => { done(); resolve({ sdp: message.sdp, type: message.type }); });
    const offError = room.on("error", (message) => {
      if (message.action === "webrtc_offer") { done(); reject(new Error(message.reason)); }
    });
    const timer = setTimeout(() => { done(); reject(new Error("No answer from the audio server.")); }, 15000);
    function done() { offAnswer(); offError(); clearTimeout(timer); }
    if (!room.send({ action: "webrtc_offer", sdp: offer.sdp, type: offer.type })) { done(); reject(new Error("Not connected.")); }
  });
}

async function startRoomAudio() {
  await firstSnapshot; // negotiate once the socket is open and the role is known
  if (ended) return;
  audio = startAudio({
    signal,
    iceServers: JSON.parse(document.getElementById("room-ice").textContent),
    setServerMuted: async (muted) => { room.send({ action: muted ? "mute" : "unmute" }); },
    onState: (value) => setConnection(value === "connected" || value === "closed" ? "" : `audio ${value}…`),
    onAutoplayBlocked: () => {
      const button = el("button", { type: "button", class: "button--small" }, "🔊 Tap to listen");
      button.addEventListener("click", () => { audio.resume(); button.remove(); });
      $(".room__head").append(button);
    },
    onError: (error) => status(error.message || String(error), true),
  });
  audio.listen();
  syncAudio(false);
}

function syncAudio(wasOnStage) {
  if (!audio) return;
  if (room.onStage && !wasOnStage) audio.publish({ startMuted: room.isMuted }).catch((error) => status(error.message, true));
  if (!room.onStage && wasOnStage) audio.stopPublishing();
}

function muteFromServer(muted) {
  // The server muted us (or confirmed): keep the microphone track in step. Unmuting is only ever ours.
  if (audio && muted) audio.setMuted(true).catch(() => {});
}

window.addEventListener("pagehide", () => { ended = true; if (socket) socket.close(1000); if (audio) audio.close(); });

render();
connect();
startRoomAudio();
