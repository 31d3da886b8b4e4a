// Recording in the live room: REC for everyone, the host's Record / Stop switch, each person's "record my
// voice" choice, and a word before anyone's microphone opens while the Space is recorded. Every rule is the
// server's (live/recording.py); this module shows state and sends `set_recording` / `record_my_voice`.

import { el } from "../rooms/dom.js";
import { room } from "../rooms/room.js";

const root = document.getElementById("room");
const stylesheet = el("link", { rel: "stylesheet", href: new URL("./recordings.css", import.meta.url).href });
document.head.append(stylesheet);

const STAGE = new Set(["host", "cohost", "speaker"]);
const ackKey = `spaces:recording-told:${room.spaceId}`;
const told = () => sessionStorage.getItem(ackKey) === "1";

const pill = el("span", { class: "rec-pill", title: "This Space is being recorded", hidden: true }, "REC");
const toggle = el("button", { type: "button", class: "button--small button--ghost", hidden: true, "data-recording-toggle": "" });
const consent = el("input", { type: "checkbox", "data-record-voice": "" });
const consentLabel = el("label", { class: "check", hidden: true }, consent, " Record my voice");
const clip = el("button", { type: "button", class: "button--small button--ghost", hidden: true }, "Clip the last 30 s");
const listen = el("a", { class: "button button--small button--ghost", href: `/spaces/${room.spaceId}/listen.ogg`,
  title: "The live audio as a plain stream, for VLC or another player" }, "Open in a player");
const controls = el("div", { class: "room-recording", "aria-live": "polite" }, pill, toggle, consentLabel, clip, listen);
root.querySelector(".room__head").append(controls);

const state = () => room.state;
const me = () => state().me;
const isHost = () => Boolean(me() && me().role === "host");
const recording = () => Boolean(state().space.recording);

function myVoiceRecorded() {
  const mine = me() && [...state().speakers, ...(state().requests || [])].find((p) => p.user_id === me().user_id);
  if (mine && mine.record_voice !== undefined) return mine.record_voice;
  return root.dataset.recordVoice !== "false";
}

function render() {
  pill.hidden = !recording();
  toggle.hidden = !isHost();
  toggle.textContent = recording() ? "Stop recording" : "Record";
  consentLabel.hidden = !(me() && !isHost() && recording());
  clip.hidden = !(me() && recording());
  consent.checked = myVoiceRecorded();
  for (const person of state().speakers) {
    const item = root.querySelector(`[data-stage] [data-user-id="${person.user_id}"]`);
    if (!item || item.querySelector(".speaker__unrecorded")) continue;
    if (recording() && person.record_voice === false) {
      item.append(el("span", { class: "speaker__unrecorded", title: "Heard live, left out of the recording" }, "not recorded"));
    }
  }
}

function say(text) {
  const node = root.querySelector("[data-status]");
  if (node) node.textContent = text;
}

toggle.addEventListener("click", () => {
  const on = !recording();
  if (on && !window.confirm("Start recording? Everyone here sees REC, and speakers can keep their voice out.")) return;
  room.send({ action: "set_recording", on });
});

// A clip of what was just said (the server cuts it from what the engine has shipped, up to a minute).
clip.addEventListener("click", async () => {
  const title = window.prompt("A title for your clip", state().space.title);
  if (!title) return;
  const token = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  const body = new URLSearchParams({ title, duration: "30", back: "room" });
  try {
    const answer = await fetch(`/spaces/${room.spaceId}/clips/`, {
      method: "POST", body, credentials: "same-origin", headers: { "X-CSRFToken": token ? token[1] : "" },
    });
    const made = answer.ok && new URL(answer.url).pathname.startsWith("/clips/");
    const node = root.querySelector("[data-status]");
    if (made && node) node.replaceChildren("Your clip is ready: ", el("a", { href: answer.url, target: "_blank" }, "open it"));
    else say("The clip couldn't be made. Try again in a few seconds.");
  } catch { say("The clip couldn't be made. Try again in a few seconds."); }
});

consent.addEventListener("change", () => {
  root.dataset.recordVoice = String(consent.checked);
  room.send({ action: "record_my_voice", on: consent.checked });
});

// --- Told before the microphone opens -------------------------------------------------------------------
const dialog = el("dialog", { class: "audience", "aria-labelledby": "recording-told-heading" },
  el("h2", { id: "recording-told-heading" }, "This Space is being recorded"),
  el("p", {}, "If you speak, your voice will be in the replay. You can choose to be heard live only."),
  el("form", { method: "dialog", class: "actions" },
    el("button", { value: "yes" }, "Record my voice"),
    el("button", { value: "no", class: "button--ghost" }, "Don't record my voice"),
    el("button", { value: "cancel", class: "button--ghost" }, "Not now")));
root.append(dialog);

function ask(then) {
  dialog.returnValue = "";
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "cancel" || !dialog.returnValue) return;
    sessionStorage.setItem(ackKey, "1");
    const on = dialog.returnValue === "yes";
    root.dataset.recordVoice = String(on);
    if (on !== myVoiceRecorded() || !on) room.send({ action: "record_my_voice", on });
    then();
  }, { once: true });
  dialog.showModal();
}

const needsWord = () => recording() && me() && !isHost() && !told();
const OPENS_MIC = new Set(["unmute", "request_to_speak", "accept_invite"]);

root.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button || button.dataset.user || !OPENS_MIC.has(button.dataset.action) || !needsWord()) return;
  event.preventDefault();
  event.stopImmediatePropagation();
  ask(() => button.click());
}, true);

// Hold-Space-to-talk opens the microphone too (static/rooms/voice.js listens on the document).
window.addEventListener("keydown", (event) => {
  if (event.code !== "Space" || event.repeat || !needsWord() || !STAGE.has(me().role)) return;
  if (event.target.closest && event.target.closest("input, textarea, button, select, [contenteditable]")) return;
  event.preventDefault();
  event.stopImmediatePropagation();
  ask(() => {});
}, true);

// --- Keeping the room's state in step (room.js applies every other delta) ---------------------------------
room.on("snapshot", render);
room.on("recording_changed", (delta) => {
  state().space.recording = delta.recording;
  if (delta.recording && me() && STAGE.has(me().role) && !isHost()) {
    say("The host started recording. Untick “Record my voice” to be heard live only.");
  } else {
    say(delta.recording ? "Recording started." : "Recording stopped.");
  }
  render();
});
room.on("voice_consent_changed", (delta) => {
  for (const person of [...state().speakers, ...(state().requests || []), ...(state().invites || [])]) {
    if (person.user_id === delta.user_id) person.record_voice = delta.record_voice;
  }
  render();
});
room.on("role_changed", (delta) => {
  const person = state().speakers.find((p) => p.user_id === delta.user_id);
  if (person) person.record_voice = delta.record_voice;
  const mine = me() && delta.user_id === me().user_id;
  if (mine && STAGE.has(delta.role) && delta.previous_role === "listener" && recording() && !told()) {
    ask(() => {}); // put on stage by the host (co-host, approval): told now, still muted
  }
  render();
});
for (const name of ["speaker_muted", "speaker_unmuted", "space_updated", "removed"]) room.on(name, render);
render();
