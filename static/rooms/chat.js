// The room's chat, pinned link, reports and (for the host and co-hosts) the moderation log. Every rule is
// the server's (live/chat.py, docs/protocol.md "Chat and the pinned link"); this module shows state and
// sends actions. Text is only ever set as text: links are built as elements from escaped parts.

import { el } from "./dom.js";
import { room } from "./room.js";

const root = document.getElementById("room");
const panel = root.querySelector("[data-chat]");
const $ = (selector) => panel.querySelector(selector);
const list = $("[data-chat-list]");
const scroller = $("[data-chat-scroll]");
const newButton = $("[data-chat-new]");
const announcer = $("[data-chat-announcer]");
const form = $("[data-chat-form]");
const input = form && form.elements.text;
const rules = $("[data-chat-rules]");
const icons = $("template[data-chat-icons]");

const KEEP = 50; // what the snapshot carries; older pages come over HTTP
const NEAR_BOTTOM = 48; // px: closer than this to the end counts as "following the chat"
const ANNOUNCE_EVERY_MS = 4000; // a screen reader hears at most one summary this often
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+/gi;
const MODERATORS = new Set(["host", "cohost"]);
const STAGE = new Set(["host", "cohost", "speaker"]);

const state = () => room.state;
const me = () => state().me;
const isModerator = () => Boolean(me() && MODERATORS.has(me().role));
const chat = () => state().chat || (state().chat = { mode: "everyone", slow_seconds: 0, messages: [], muted: [] });
let pending = ""; // the text of our message in flight, given back to the input if the server refuses it
let oldestLoaded = null; // the id before which the history endpoint is asked next (null: ask from the snapshot's)
let noOlder = false;
let loadingOlder = false;

function icon(name) {
  const holder = icons && icons.content.querySelector(`[data-icon="${name}"]`);
  return holder ? holder.firstElementChild.cloneNode(true) : document.createTextNode("");
}

// --- drawing a message ----------------------------------------------------------------------------------
export function linkified(text) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    let url = match[0].replace(/[.,;:!?)\]]+$/, ""); // trailing punctuation belongs to the sentence
    if (match.index > last) parts.push(document.createTextNode(text.slice(last, match.index)));
    parts.push(el("a", { href: url, rel: "nofollow ugc noopener", target: "_blank", class: "chat__link" }, url));
    last = match.index + url.length;
  }
  if (last < text.length) parts.push(document.createTextNode(text.slice(last)));
  return parts;
}

function menuFor(message) {
  const mine = me() && message.user_id === me().user_id;
  const items = [];
  const button = (label, iconName, onClick, extra = "") => {
    const node = el("button", { type: "button", class: `button--small button--ghost ${extra}`.trim() }, icon(iconName), label);
    node.addEventListener("click", () => { node.closest("details").open = false; onClick(); });
    return node;
  };
  const deleted = message.deleted_by !== null && message.deleted_by !== undefined;
  if (!deleted && (mine || canDelete(message))) {
    items.push(button("Delete", "delete", () => room.send({ action: "delete_message", id: message.id }), "button--danger"));
  }
  if (isModerator() && !mine && message.user !== state().space.host) {
    const muted = (chat().muted || []).includes(message.user);
    items.push(button(muted ? "Unmute in chat" : "Mute in chat", muted ? "chat-unmute" : "chat-mute",
      () => room.send({ action: muted ? "chat_unmute" : "chat_mute", user: message.user })));
  }
  if (me() && !mine) {
    items.push(button("Report message", "report", () => openReport({ message })));
    items.push(button(`Report @${message.user}`, "report", () => openReport({ user: message.user })));
  }
  if (!items.length) return null;
  return el("details", { class: "chat__menu" },
    el("summary", { "aria-label": `Options for the message from @${message.user}`, title: "Options" }, icon("more")),
    el("div", { class: "chat__menu-items" }, ...items));
}

function canDelete(message) {
  if (!isModerator()) return false;
  return me().role === "host" || message.user !== state().space.host; // co-hosts: not the host's messages
}

function timeOf(iso, className) {
  const when = new Date(iso);
  const node = el("time", { class: className, title: when.toLocaleString() }, when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
  node.setAttribute("datetime", iso);
  return node;
}

function messageItem(message) {
  const deleted = message.deleted_by !== null && message.deleted_by !== undefined;
  const body = deleted
    ? el("p", { class: "chat__text chat__text--deleted" }, message.deleted_by === message.user ? "Message deleted" : "Message removed by a moderator")
    : el("p", { class: "chat__text" }, ...linkified(message.text));
  const item = el("li", { class: `chat__message${deleted ? " chat__message--deleted" : ""}`, "data-message-id": String(message.id), "data-user": message.user },
    el("p", { class: "chat__meta" },
      el("a", { class: "chat__name", href: `/u/${encodeURIComponent(message.user)}/`, "--hue": Number(message.hue) || 0 }, message.name),
      el("span", { class: "visually-hidden" }, ` @${message.user}, `),
      timeOf(message.sent_at, "muted chat__time")),
    body);
  const menu = menuFor(message);
  if (menu) item.append(menu);
  return item;
}

// --- the list, and where the reader is in it -----------------------------------------------------------
const nearBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < NEAR_BOTTOM;
function toBottom() { scroller.scrollTop = scroller.scrollHeight; newButton.hidden = true; }

function renderAll() {
  const following = nearBottom();
  list.replaceChildren(...chat().messages.map(messageItem));
  $("[data-chat-empty]").hidden = chat().messages.length > 0;
  if (following) toBottom();
}

function append(message) {
  const following = nearBottom();
  const messages = chat().messages;
  messages.push({ ...message, deleted_by: null });
  list.append(messageItem(messages[messages.length - 1]));
  // Keep what a fresh snapshot would hold, unless the reader scrolled up into older pages.
  while (following && messages.length > KEEP) { messages.shift(); list.firstElementChild.remove(); oldestLoaded = null; noOlder = false; }
  $("[data-chat-empty]").hidden = true;
  const mine = me() && message.user_id === me().user_id;
  if (following || mine) toBottom();
  else newButton.hidden = false;
  if (!mine) announce(message);
}

function replace(id) {
  const message = chat().messages.find((m) => m.id === id);
  const node = list.querySelector(`[data-message-id="${id}"]`);
  if (message && node) node.replaceWith(messageItem(message));
}

// Screen readers: one short summary at most every few seconds, never a flood.
let announceTimer = null;
let unread = [];
function announce(message) {
  unread.push(message);
  if (announceTimer) return;
  const say = () => {
    announceTimer = null;
    if (!unread.length) return;
    const last = unread[unread.length - 1];
    const more = unread.length > 1 ? `${unread.length} new messages. Latest, ` : "";
    announcer.textContent = `${more}${last.name}: ${last.text.slice(0, 140)}`;
    unread = [];
    announceTimer = setTimeout(say, ANNOUNCE_EVERY_MS);
  };
  announceTimer = setTimeout(say, 300);
}

async function loadOlder() {
  if (loadingOlder || noOlder) return;
  const first = chat().messages[0];
  const before = oldestLoaded || (first && first.id);
  if (!before) { noOlder = true; return; }
  loadingOlder = true;
  const status = $("[data-chat-older-status]");
  status.textContent = "Loading older messages…";
  try {
    const answer = await fetch(`${panel.dataset.historyUrl}?before=${before}`, { credentials: "same-origin" });
    if (!answer.ok) throw new Error(String(answer.status));
    const page = await answer.json();
    const height = scroller.scrollHeight;
    chat().messages.unshift(...page.messages);
    list.prepend(...page.messages.map(messageItem));
    scroller.scrollTop += scroller.scrollHeight - height; // the reader stays where they were
    oldestLoaded = page.before;
    noOlder = page.before === null;
    status.textContent = noOlder ? "The beginning of the chat." : "";
  } catch {
    status.textContent = "Older messages couldn't be loaded. Scroll up to try again.";
  } finally {
    loadingOlder = false;
  }
}

scroller.addEventListener("scroll", () => {
  if (nearBottom()) newButton.hidden = true;
  if (scroller.scrollTop < 40) loadOlder();
});
newButton.addEventListener("click", () => { toBottom(); scroller.focus(); });

// --- who may write, the pinned link, the host's settings --------------------------------------------------
function renderRules() {
  const { mode, slow_seconds: slow } = chat();
  const role = me() ? me().role : null;
  let reason = "";
  if (mode === "off") reason = "The chat is off.";
  else if (mode === "speakers" && !STAGE.has(role)) reason = "Only the host, co-hosts and speakers can write right now.";
  else if (me() && me().chat_muted) reason = "A host muted you in this chat. You can still listen.";
  if (input) {
    input.disabled = Boolean(reason);
    form.querySelector("button").disabled = Boolean(reason);
  }
  const notes = [reason];
  if (!reason && slow && !MODERATORS.has(role)) notes.push(`Slow mode: one message every ${slow} s.`);
  rules.textContent = notes.filter(Boolean).join(" ");
  $("[data-chat-settings]").hidden = !isModerator();
  $("[data-chat-mode]").value = mode;
  const slowSelect = $("[data-chat-slow]");
  if (![...slowSelect.options].some((o) => o.value === String(slow))) slowSelect.append(el("option", { value: String(slow) }, `Every ${slow} s`));
  slowSelect.value = String(slow);
  $("[data-chat-tabs]").hidden = !isModerator();
  if (!isModerator()) showTab("messages");
}

function renderPinned() {
  const link = state().pinned;
  const box = $("[data-pinned]");
  box.hidden = !link;
  if (!link) return;
  const anchor = $("[data-pinned-link]");
  anchor.href = link.url;
  anchor.textContent = link.title;
  $("[data-pinned-domain]").textContent = `(${link.domain})`;
  $("[data-unpin]").hidden = !isModerator();
}

$("[data-chat-mode]").addEventListener("change", (event) => room.send({ action: "set_chat", mode: event.target.value }));
$("[data-chat-slow]").addEventListener("change", (event) => room.send({ action: "set_chat", slow_seconds: Number(event.target.value) }));
$("[data-unpin]").addEventListener("click", () => room.send({ action: "unpin" }));
$("[data-pin-form]").addEventListener("submit", (event) => {
  event.preventDefault();
  const fields = event.target.elements;
  const message = { action: "pin", url: fields.url.value.trim() };
  if (fields.title.value.trim()) message.title = fields.title.value.trim();
  if (room.send(message)) event.target.reset();
});

if (form) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    if (!room.send({ action: "chat", text })) { rules.textContent = "Not connected yet. Try again in a moment."; return; }
    pending = text;
    input.value = "";
  });
}

// --- the moderation log tab (host and co-hosts) -------------------------------------------------------------
let logBefore = null;
function showTab(name) {
  for (const tab of panel.querySelectorAll("[data-chat-tab]")) {
    const selected = tab.dataset.chatTab === name;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
  }
  for (const section of panel.querySelectorAll("[data-chat-panel]")) section.hidden = section.dataset.chatPanel !== name;
}

async function loadLog(more = false) {
  const status = $("[data-log-status]");
  status.textContent = "Loading…";
  try {
    const query = more && logBefore ? `?before=${logBefore}` : "";
    const answer = await fetch(`${panel.dataset.logUrl}${query}`, { credentials: "same-origin" });
    if (!answer.ok) throw new Error(String(answer.status));
    const page = await answer.json();
    const rows = page.entries.map((entry) => el("li", { class: "chat__log-entry" },
      timeOf(entry.at, "muted"),
      ` ${entry.staff ? "Staff" : `@${entry.actor}`}: ${entry.label}${entry.target ? ` @${entry.target}` : ""}${entry.detail ? ` (${entry.detail})` : ""}`));
    if (more) $("[data-log-list]").append(...rows);
    else $("[data-log-list]").replaceChildren(...rows);
    logBefore = page.before;
    $("[data-log-more]").hidden = page.before === null;
    status.textContent = page.entries.length || more ? "" : "Nothing yet: moderator actions show up here.";
  } catch {
    status.textContent = "The log couldn't be loaded. Try again.";
  }
}

panel.querySelector("[data-chat-tabs]").addEventListener("click", (event) => {
  const tab = event.target.closest("[data-chat-tab]");
  if (!tab) return;
  showTab(tab.dataset.chatTab);
  if (tab.dataset.chatTab === "log") loadLog();
});
panel.querySelector("[data-chat-tabs]").addEventListener("keydown", (event) => {
  if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
  const tabs = [...panel.querySelectorAll("[data-chat-tab]")];
  const next = tabs[(tabs.indexOf(document.activeElement) + 1) % tabs.length];
  next.focus();
  next.click();
});
$("[data-log-more]").addEventListener("click", () => loadLog(true));

// --- reports ------------------------------------------------------------------------------------------------
const dialog = $("[data-report]");
let reportTarget = null;
function openReport(target) {
  if (!dialog) return;
  reportTarget = target;
  const reportForm = dialog.querySelector("form");
  reportForm.reset();
  dialog.querySelector("[data-report-error]").textContent = "";
  const what = target.message ? `a message from @${target.message.user}` : target.user ? `@${target.user}` : "this Space";
  dialog.querySelector("[data-report-heading]").textContent = `Report ${what}`;
  dialog.querySelector("[data-report-block-wrap] input").nextSibling.textContent = target.message || target.user
    ? " Also block them" : ` Also block the host, @${state().space.host}`;
  dialog.showModal();
}

function reportUrl(target) {
  if (target.message) return `${panel.dataset.reportUrl}${target.message.id}/report/`;
  if (target.user) return `/u/${encodeURIComponent(target.user)}/report/`;
  return `/spaces/${room.spaceId}/report/`;
}

if (dialog) {
  const reportForm = dialog.querySelector("form");
  reportForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = new URLSearchParams(new FormData(reportForm));
    if (reportTarget.user) body.set("space", String(room.spaceId));
    const error = dialog.querySelector("[data-report-error]");
    try {
      const answer = await fetch(reportUrl(reportTarget), {
        method: "POST", body, credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": reportForm.elements.csrfmiddlewaretoken.value },
      });
      const reply = await answer.json();
      if (!answer.ok) { error.textContent = reply.error || "The report couldn't be sent."; return; }
      dialog.close();
      rules.textContent = reply.message;
    } catch {
      error.textContent = "The report couldn't be sent. Try again.";
    }
  });
  dialog.querySelector("[data-report-cancel]").addEventListener("click", () => dialog.close());
  const spaceButton = $("[data-report-space]");
  if (spaceButton) spaceButton.addEventListener("click", () => openReport({}));
  // "Report" on the stage's menus and the audience's rows (room.js, audience.js).
  root.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-report-user]");
    if (!button) return;
    const menu = button.closest("details");
    if (menu) menu.open = false;
    openReport({ user: button.dataset.reportUser });
  });
}

// --- keeping in step with the room (static/rooms/room.js numbers and orders the deltas) ----------------------
room.on("snapshot", () => { oldestLoaded = null; noOlder = false; renderAll(); renderRules(); renderPinned(); });
room.on("chat_message", (delta) => {
  append(delta);
  if (pending && me() && delta.user_id === me().user_id && delta.text === pending) pending = "";
});
room.on("message_deleted", (delta) => {
  const message = chat().messages.find((m) => m.id === delta.id);
  if (message) { message.text = ""; message.deleted_by = delta.by; replace(delta.id); }
});
room.on("chat_mute_changed", (delta) => {
  if (isModerator()) {
    const muted = new Set(chat().muted || []);
    if (delta.muted) muted.add(delta.user); else muted.delete(delta.user);
    chat().muted = [...muted].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
    renderAll();
  }
  if (me() && delta.user_id === me().user_id) { me().chat_muted = delta.muted; renderRules(); }
});
room.on("chat_settings", (delta) => { Object.assign(chat(), { mode: delta.mode, slow_seconds: delta.slow_seconds }); renderRules(); });
room.on("pinned", (delta) => { state().pinned = delta.link; renderPinned(); });
room.on("role_changed", () => { renderRules(); renderPinned(); });
room.on("error", (error) => {
  if (error.action === "chat" || error.action === "delete_message" || error.action === "chat_mute" || error.action === "pin") {
    rules.textContent = error.reason;
    if (error.action === "chat" && pending && input && !input.value) input.value = pending; // nothing typed is lost
    pending = "";
  }
});

renderAll();
renderRules();
renderPinned();
toBottom();
