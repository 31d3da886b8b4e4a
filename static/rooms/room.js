// The live room: one websocket, a snapshot then numbered deltas (docs/protocol.md). No build step.
// Every rule lives on the server; this module only shows state and sends actions.

import { AudiencePanel } from "./audience.js";
import { actionButton, avatar, el, icon } from "./dom.js";
import { JustJoined, keepWaitTimesCurrent, renderRequests } from "./moderation.js";
import { roomAudio } from "./room-audio.js";
import { pushToTalk, speakingIndicator } from "./voice.js";

const root = document.getElementById("room");
const $ = (selector) => root.querySelector(selector);
// Each region looks only inside itself: the stage's menus and the footer both have a "mute" button.
const controls = $("[data-controls]");
const stageList = $("[data-stage]");

const DELTAS = new Set([
  "role_changed", "speaker_muted", "speaker_unmuted", "request_added", "request_removed", "queue_moved",
  "invite_added", "invite_removed", "removed", "space_ended", "space_updated", "noop",
  "recording_changed", "voice_consent_changed", // applied by static/recordings/room.js through room.on()
  "chat_message", "message_deleted", "chat_mute_changed", "chat_settings", "pinned", // static/rooms/chat.js
]);
const FINAL_CLOSES = {
  4000: "This Space has ended.",
  4001: "You logged out.",
  4003: "You can't be in this Space.",
  4004: "This Space doesn't exist.",
  4029: "Too many connections: close another tab, then reload.", // retrying would only be refused again
};
const GAP_WAIT_MS = 400; // deltas from two processes may arrive swapped; wait a little before resyncing
const ROLE_LABEL = { host: "Host", cohost: "Co-host", speaker: "Speaker" };
const ROLE_ORDER = { host: 0, cohost: 1, speaker: 2 };
// `removed.reason`: why you had to leave (a host's `remove`, or the server ejecting you).
const REMOVED_BECAUSE = {
  removed: "You were removed from this Space.",
  ticket_refunded: "Your ticket was refunded.",
  blocked: "You can't be in this Space.",
  banned: "Your account was suspended.",
};

let state = JSON.parse(document.getElementById("room-initial").textContent);
let lastSeq = -1; // nothing from the socket yet
let socket = null;
let retries = 0;
let ended = false;
let gapTimer = null;
const early = new Map(); // seq -> delta that arrived before the one it follows
const listeners = new Map(); // event name -> handlers (signal() below waits on webrtc_answer and error)

// --- the room as the rest of this module (signalling, audio hooks) sees it ------------------------------
const room = {
  spaceId: state.space.id,
  get me() { return state.me; },
  get onStage() { return Boolean(state.me && ROLE_ORDER[state.me.role] !== undefined); },
  get isMuted() { return !state.me || state.me.is_muted; },
  get state() { return state; },
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

const isModerator = () => Boolean(state.me && (state.me.role === "host" || state.me.role === "cohost"));
const justJoined = new JustJoined(root);
const audience = new AudiencePanel(root, { url: root.dataset.audienceUrl, me: () => state.me, isModerator });
const showSpeaking = speakingIndicator(root);
const audio = roomAudio(room, {
  iceServers: JSON.parse(document.getElementById("room-ice").textContent),
  status,
  setConnection,
  tapToListenIn: $(".room__head"),
});

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
    case "presence": onPresence(message); break;
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
  root.dataset.seq = String(lastSeq); // in step with the server (tests wait on it too)
  early.clear();
  render();
  audio.sync(wasOnStage);
  emit("snapshot", snapshot);
}

function isMe(message) { return state.me && message.user_id === state.me.user_id; }

function apply(delta) {
  lastSeq = delta.seq;
  root.dataset.seq = String(lastSeq);
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
        Object.assign(state.me, { role: delta.role, is_muted: delta.is_muted, requested: false, invited: false, request_position: null });
        if (delta.role === "listener" && ROLE_ORDER[delta.previous_role] !== undefined) status("You're back in the audience.");
        if (delta.role === "speaker" && delta.previous_role === "listener") status("You're on stage. Unmute (or hold Space) when you're ready to talk.");
        if (delta.role === "cohost") status("You're now a co-host.");
        if (delta.role === "host") status("You're now the host.");
      }
      audience.update(pick(delta));
      break;
    }
    case "speaker_muted":
    case "speaker_unmuted": {
      const person = speakers.find((p) => p.user_id === delta.user_id);
      if (person) person.is_muted = delta.is_muted;
      if (isMe(delta)) {
        state.me.is_muted = delta.is_muted;
        audio.mutedByServer(delta.is_muted);
        if (delta.is_muted && delta.by && delta.by !== state.me.user) status(`@${delta.by} muted you.`);
      }
      break;
    }
    case "request_added":
      if (isMe(delta)) {
        Object.assign(state.me, { requested: true, request_position: delta.position });
        status("You asked to speak. The host will see your request.");
      }
      if (isModerator()) state.requests = without(state.requests).concat([delta]); // only they keep the list
      break;
    case "request_removed":
      if (isMe(delta)) {
        Object.assign(state.me, { requested: false, request_position: null });
        if (delta.reason === "denied") status("Your request to speak wasn't accepted this time.");
      }
      state.requests = without(state.requests);
      break;
    case "queue_moved": // a request ahead of yours left the line
      if (state.me && state.me.request_position > delta.position) state.me.request_position -= 1;
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
      justJoined.forget(delta.user);
      audience.drop(delta.user);
      if (isMe(delta)) { ended = true; finish(REMOVED_BECAUSE[delta.reason] || REMOVED_BECAUSE.removed); }
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
  audio.sync(wasOnStage);
  emit(delta.event, delta);
}

function pick(person) {
  const { user, user_id, name, initials, hue, role, is_muted } = person;
  return { user, user_id, name, initials, hue, role, is_muted };
}

// --- rendering ------------------------------------------------------------------------------------------
// "Report" (static/rooms/chat.js opens the report dialog for any [data-report-user] button).
const reportItem = (handle) => el("button", { type: "button", class: "button--small button--ghost", "data-report-user": handle }, icon("report"), "Report");

function speakerMenu(person) {
  const me = state.me;
  if (me && person.user_id !== me.user_id && (!isModerator() || person.role === "host")) {
    return el("details", { class: "speaker__menu", "data-menu-for": person.user },
      el("summary", { "aria-label": `More for @${person.user}`, title: `More for @${person.user}` }, icon("more")),
      el("div", { class: "speaker__menu-items" }, reportItem(person.user)));
  }
  if (!isModerator() || person.user_id === me.user_id || person.role === "host") return null;
  const items = [];
  const iAmHost = me.role === "host";
  if (!person.is_muted) items.push(actionButton("Mute", "mute", person.user, { iconName: "mute" }));
  if (person.role === "speaker") {
    items.push(actionButton("Move to audience", "make_listener", person.user, { iconName: "to-audience" }));
    if (iAmHost) items.push(actionButton("Make co-host", "add_cohost", person.user, { iconName: "cohost" }));
  }
  if (person.role === "cohost" && iAmHost) {
    items.push(actionButton("Remove co-host", "remove_cohost", person.user, { iconName: "uncohost" }));
    items.push(actionButton("Make host", "transfer_host", person.user, { iconName: "host", confirm: `Hand the Space over to @${person.user}? You'll become a co-host.` }));
  }
  if (person.role === "speaker" || iAmHost) {
    items.push(actionButton("Remove from Space", "remove", person.user, { iconName: "remove", extra: "button--danger", confirm: `Remove @${person.user} from this Space? They can't come back.` }));
  }
  items.push(reportItem(person.user));
  return el("details", { class: "speaker__menu", "data-menu-for": person.user },
    el("summary", { "aria-label": `Manage @${person.user}`, title: `Manage @${person.user}` }, icon("more")),
    el("div", { class: "speaker__menu-items" }, ...items));
}

function speakerItem(person) {
  const item = el("li", { class: `speaker${person.is_muted ? " speaker--muted" : ""}`, "data-user": person.user, "data-user-id": String(person.user_id) },
    el("span", { class: "speaker__ring" }, avatar(person)),
    el("span", { class: "speaker__name", title: person.name }, person.name),
    el("span", { class: "speaker__role muted" }, ROLE_LABEL[person.role] || ""),
    el("span", { class: "speaker__mic", role: "img", "aria-label": person.is_muted ? "Muted" : "Unmuted" }, icon(person.is_muted ? "mic-off" : "mic")),
  );
  const menu = speakerMenu(person);
  if (menu) item.append(menu);
  return item;
}

function render() {
  const { me, space } = state;
  $("[data-title]").textContent = space.title;
  // The server rendered the description with safe links; replace it only when the host edits it.
  const description = $("[data-description]");
  if (description.textContent !== (space.description || "")) description.textContent = space.description || "";
  showCount(state.listener_count);

  // Re-drawing the stage keeps an open menu open (a delta about someone else must not close it).
  const openMenu = stageList.querySelector("details[open]");
  const focusedMenu = openMenu && openMenu.contains(document.activeElement) ? openMenu.dataset.menuFor : null;
  stageList.replaceChildren(...state.speakers.map(speakerItem));
  if (openMenu) {
    const again = stageList.querySelector(`details[data-menu-for="${CSS.escape(openMenu.dataset.menuFor)}"]`);
    if (again) { again.open = true; if (focusedMenu) again.querySelector("summary").focus(); }
  }

  const show = (selector, visible) => { const node = controls.querySelector(selector); if (node) node.hidden = !visible; };
  const role = me ? me.role : null;
  const onStage = role === "host" || role === "cohost" || role === "speaker";
  show('[data-action="request_to_speak"]', role === "listener" && !me.requested && !me.invited);
  show('[data-action="cancel_request"]', role === "listener" && me.requested);
  show('[data-action="unmute"]', onStage && me.is_muted);
  show('[data-action="mute"]', onStage && !me.is_muted);
  show('[data-action="make_listener"]', role === "speaker" || role === "cohost");
  show('[data-action="end_space"]', role === "host");
  show("[data-ptt-hint]", onStage && me.is_muted);
  $("[data-invite]").hidden = !(role === "listener" && me.invited);
  $("[data-moderation]").hidden = !isModerator();
  const queue = $("[data-queue]");
  queue.hidden = !(role === "listener" && me.requested);
  queue.textContent = queueText(me && me.request_position);

  if (isModerator()) {
    renderRequests(root, state.requests || []);
    justJoined.render(new Set(state.speakers.map((person) => person.user)));
  }
}

function queueText(place) {
  if (!place) return "You asked to speak. The host sees requests oldest first.";
  return `You asked to speak. You're ${place === 1 ? "first" : `number ${place}`} in line (the host sees requests oldest first).`;
}

function showCount(count) {
  if (typeof count !== "number") return;
  state.listener_count = count;
  $("[data-count]").textContent = count.toLocaleString();
  $("[data-count-label]").textContent = count === 1 ? "person here" : "people here";
}

function onPresence(message) {
  showCount(message.listener_count);
  const joined = message.joined || [];
  const left = message.left || [];
  justJoined.note(joined, left, state.me && state.me.user);
  if (isModerator()) justJoined.render(new Set(state.speakers.map((person) => person.user)));
  audience.presence(message);
}

function floatReaction(item) {
  const layer = $("[data-float]");
  const shown = Math.min(item.count, 6); // a burst of 50 claps is six floating claps, not fifty
  for (let i = 0; i < shown; i += 1) {
    const bubble = el("span", { class: "reaction-float", "--x": `${10 + Math.random() * 80}%`, "--delay": `${i * 120}ms` }, item.emoji);
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

// The Space is over for this page: say so where it said "Live", and stop everything.
function finish(text) {
  ended = true;
  status(text);
  clearTimeout(statusTimer);
  setConnection("");
  const pill = $("[data-live-pill]");
  pill.className = "state-pill";
  pill.textContent = "Ended";
  $("[data-count-wrap]").hidden = true;
  $("[data-queue]").hidden = true;
  for (const button of root.querySelectorAll("button:not([data-share])")) button.disabled = true;
  for (const menu of root.querySelectorAll("details")) menu.open = false;
  audience.close();
  audio.close();
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
  if (audio.ready && !button.dataset.user && (button.dataset.action === "mute" || button.dataset.action === "unmute")) {
    audio.setMuted(button.dataset.action === "mute");
    return;
  }
  const message = { action: button.dataset.action };
  if (button.dataset.user) message.user = button.dataset.user;
  if (!room.send(message)) status("Not connected yet. Try again in a moment.", true);
  const menu = button.closest("details");
  if (menu) menu.open = false;
});

$("[data-open-audience]").addEventListener("click", () => audience.open());

// Escape closes an open speaker menu and gives focus back to its button.
root.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  const menu = event.target.closest && event.target.closest("details[open]");
  if (menu) { menu.open = false; menu.querySelector("summary").focus(); }
});

$("[data-invite-form]").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = event.target.elements.user;
  const handle = input.value.trim().replace(/^@/, "");
  if (handle && room.send({ action: "invite_to_speak", user: handle })) input.value = "";
});

keepWaitTimesCurrent(root);
pushToTalk({
  canTalk: () => room.onStage && !ended && audio.ready,
  isMuted: () => room.isMuted,
  setMuted: (muted) => audio.setMuted(muted),
  onChange: (holding) => root.classList.toggle("room--talking", holding),
});

// --- audio (static/rooms/room-audio.js) -------------------------------------------------------------------
// Negotiated once the socket is open and the role is known.
room.on("snapshot", function startOnce() {
  if (!audio.ready && !ended) audio.start();
});

window.addEventListener("pagehide", () => { ended = true; if (socket) socket.close(1000); audio.close(); });

render();
connect();

// For the room's other modules (static/recordings/room.js: REC and recording consent).
export { room };
