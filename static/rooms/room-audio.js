// The room's audio, wired to its socket: listen from the start, publish the microphone while on stage.
// audio.js (the media engine's module) mutes the track and tells the server (setServerMuted) in one step;
// the server's word (speaker_muted) is applied back to the track. Signalling rides the room's socket
// (`webrtc_offer` → `webrtc_answer`, docs/media.md).

import { startAudio } from "./audio.js";
import { el, icon } from "./dom.js";

const ANSWER_TIMEOUT_MS = 15000;

export function roomAudio(room, { iceServers, status, setConnection, tapToListenIn }) {
  let audio = null;

  function signal(offer) {
    return new Promise((resolve, reject) => {
      const offAnswer = room.on("webrtc_answer", (message) => { done(); resolve({ sdp: message.sdp, type: message.type }); });
      const offError = room.on("error", (message) => {
        if (message.action === "webrtc_offer") { done(); reject(new Error(message.reason)); }
      });
      const timer = setTimeout(() => { done(); reject(new Error("No answer from the audio server.")); }, ANSWER_TIMEOUT_MS);
      function done() { offAnswer(); offError(); clearTimeout(timer); }
      if (!room.send({ action: "webrtc_offer", sdp: offer.sdp, type: offer.type })) { done(); reject(new Error("Not connected.")); }
    });
  }

  return {
    get ready() { return audio !== null; },

    // Once the first snapshot says who we are: receive the room, and publish if on stage.
    start() {
      audio = startAudio({
        signal,
        iceServers,
        setServerMuted: async (muted) => { room.send({ action: muted ? "mute" : "unmute" }); },
        onState: (value) => setConnection(value === "connected" || value === "closed" ? "" : `audio ${value}…`),
        onAutoplayBlocked: () => {
          const button = el("button", { type: "button", class: "button--small" }, icon("listen"), "Tap to listen");
          button.addEventListener("click", () => { audio.resume(); button.remove(); });
          tapToListenIn.append(button);
        },
        onError: (error) => status(error.message || String(error), true),
      });
      audio.listen();
      this.sync(false);
    },

    // After any change of role: start or stop publishing.
    sync(wasOnStage) {
      if (!audio) return;
      if (room.onStage && !wasOnStage) audio.publish({ startMuted: room.isMuted }).catch((error) => status(error.message, true));
      if (!room.onStage && wasOnStage) audio.stopPublishing();
    },

    // Our own mute button (or push-to-talk): the track at once, the server told.
    setMuted(muted) {
      if (!audio) return Promise.resolve();
      return audio.setMuted(muted).catch((error) => status(error.message, true));
    },

    // The server muted us (or confirmed it): keep the microphone track in step. Unmuting is only ever ours.
    mutedByServer(muted) {
      if (audio && muted) audio.setMuted(true).catch(() => {});
    },

    close() {
      if (audio) audio.close();
    },
  };
}
