// Room audio over WebRTC: listen to the room mix, publish the microphone when on stage.
//
//   import { startAudio } from "/static/rooms/audio.js";
//   const audio = startAudio({
//     signal: (offer) => ...,          // send {"action":"webrtc_offer", sdp, type} and resolve with the
//                                      // {"event":"webrtc_answer"} message's {sdp, type}
//     iceServers: [...],               // or an async function returning them (TURN credentials expire)
//     setServerMuted: (muted) => ...,  // send {"action":"mute"} / {"action":"unmute"}
//     onState: (state) => ...,         // "connecting" | "connected" | "reconnecting" | "closed"
//     onLocalLevel: (level) => ...,    // 0..1 from your own microphone, ~10 times a second
//     onAutoplayBlocked: () => ...,    // show a "tap to listen" button that calls audio.resume()
//     onError: (error) => ...,
//   });
//   audio.listen();                    // at page load: receive-only
//   await audio.publish();             // when you become a speaker: asks for the microphone now
//   audio.stopPublishing();            // when you go back to the audience
//   await audio.setMuted(true);        // mutes the track *and* tells the server
//
// Signalling is non-trickle: the offer is sent once ICE gathering has finished. After a network blip
// (ICE "failed", or "disconnected" for a few seconds), or when an answered connection has not come up
// within a few seconds (ICE can sit in "checking" for half a minute before it fails), a fresh connection
// is negotiated by itself.

const GATHER_TIMEOUT_MS = 2000;
const DISCONNECTED_GRACE_MS = 3000;
const CONNECT_TIMEOUT_MS = 6000; // from the answer to "connected"; loopback takes well under a second
const MAX_BACKOFF_MS = 10000;

function waitForGathering(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      pc.removeEventListener("icegatheringstatechange", check);
      clearTimeout(timer);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    // Offer what we have after a while: a slow STUN/TURN server must not keep the room silent.
    const timer = setTimeout(done, GATHER_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

export function startAudio(options) {
  const opts = { onState() {}, onError() {}, onLocalLevel() {}, onAutoplayBlocked() {}, ...options };
  const player = opts.audioElement || document.createElement("audio");
  player.autoplay = true;
  player.playsInline = true;
  if (!player.isConnected) {
    player.hidden = true;
    document.body.appendChild(player);
  }

  let pc = null;
  let microphone = null; // MediaStream while publishing
  let muted = true;
  let wantPublish = false;
  let closed = false;
  let generation = 0; // bumps on every (re)negotiation so stale callbacks do nothing
  let retryTimer = null;
  let disconnectTimer = null;
  let connectTimer = null;
  let backoff = 500;
  let meter = null;

  async function iceServers() {
    const value = typeof opts.iceServers === "function" ? await opts.iceServers() : opts.iceServers;
    return value || [];
  }

  function stopMeter() {
    if (meter) {
      clearInterval(meter.timer);
      meter.context.close();
      meter = null;
    }
  }

  function startMeter(stream) {
    stopMeter();
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 512;
    context.createMediaStreamSource(stream).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const timer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      const rms = Math.sqrt(sum / samples.length);
      const db = 20 * Math.log10(rms || 1e-6);
      opts.onLocalLevel(muted ? 0 : Math.max(0, Math.min(1, (db + 60) / 60)));
    }, 100);
    meter = { context, timer };
  }

  function play(stream) {
    player.srcObject = stream;
    const started = player.play();
    if (started && started.catch) started.catch(() => opts.onAutoplayBlocked());
  }

  function scheduleReconnect() {
    if (closed || retryTimer) return;
    opts.onState("reconnecting");
    retryTimer = setTimeout(() => {
      retryTimer = null;
      connect().catch(() => {});
    }, backoff);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  }

  async function connect() {
    if (closed) return;
    const mine = ++generation;
    clearTimeout(disconnectTimer);
    clearTimeout(connectTimer);
    if (pc) pc.close();
    opts.onState("connecting");
    const servers = await iceServers();
    if (mine !== generation || closed) return; // a newer negotiation started meanwhile (listen, then publish)
    const next = new RTCPeerConnection({ iceServers: servers });
    pc = next;
    next.addEventListener("track", (event) => {
      if (mine === generation) play(event.streams[0] || new MediaStream([event.track]));
    });
    next.addEventListener("connectionstatechange", () => {
      if (mine !== generation) return;
      const state = next.connectionState;
      if (state === "connected") {
        backoff = 500;
        clearTimeout(disconnectTimer);
        clearTimeout(connectTimer);
        opts.onState("connected");
      } else if (state === "failed") {
        scheduleReconnect();
      } else if (state === "disconnected") {
        // Often recovers by itself (Wi-Fi roaming); give it a moment before starting over.
        clearTimeout(disconnectTimer);
        disconnectTimer = setTimeout(() => {
          if (mine === generation && next.connectionState !== "connected") scheduleReconnect();
        }, DISCONNECTED_GRACE_MS);
      } else if (state === "closed" && !closed) {
        // The server closed us (Space ended, removed, worker moved): the page decides what follows;
        // offering again is harmless, and the server refuses it if we may not be here.
        scheduleReconnect();
      }
    });

    const track = wantPublish && microphone ? microphone.getAudioTracks()[0] : null;
    if (track) {
      track.enabled = !muted;
      next.addTransceiver(track, { direction: "sendrecv", streams: [microphone] });
    } else {
      next.addTransceiver("audio", { direction: "recvonly" });
    }
    try {
      await next.setLocalDescription(await next.createOffer());
      await waitForGathering(next);
      if (mine !== generation) return;
      const answer = await opts.signal({ sdp: next.localDescription.sdp, type: next.localDescription.type });
      if (mine !== generation) return;
      await next.setRemoteDescription(answer);
      connectTimer = setTimeout(() => {
        if (mine === generation && next.connectionState !== "connected") scheduleReconnect();
      }, CONNECT_TIMEOUT_MS);
    } catch (error) {
      if (mine !== generation) return;
      opts.onError(error);
      scheduleReconnect();
    }
  }

  const controller = {
    get pc() {
      return pc;
    },
    get muted() {
      return muted;
    },
    get publishing() {
      return wantPublish && microphone !== null;
    },
    listen() {
      wantPublish = false;
      return connect();
    },
    async publish({ startMuted = true } = {}) {
      // Permission is asked here, when the user is on stage, never before.
      if (!microphone) {
        microphone = await navigator.mediaDevices.getUserMedia({
          audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
        });
        startMeter(microphone);
      }
      wantPublish = true;
      muted = startMuted;
      await connect();
    },
    stopPublishing() {
      wantPublish = false;
      stopMeter();
      if (microphone) {
        for (const t of microphone.getTracks()) t.stop();
        microphone = null;
      }
      muted = true;
      return connect();
    },
    async setMuted(value) {
      muted = Boolean(value);
      if (microphone) for (const t of microphone.getAudioTracks()) t.enabled = !muted;
      // The server is the authority on who is heard; the track only saves bandwidth meanwhile.
      if (opts.setServerMuted) await opts.setServerMuted(muted);
    },
    toggleMute() {
      return controller.setMuted(!muted);
    },
    reconnect() {
      backoff = 500;
      return connect();
    },
    resume() {
      return player.play();
    },
    close() {
      closed = true;
      generation++;
      clearTimeout(retryTimer);
      clearTimeout(disconnectTimer);
      clearTimeout(connectTimer);
      stopMeter();
      if (pc) pc.close();
      if (microphone) for (const t of microphone.getTracks()) t.stop();
      pc = null;
      microphone = null;
      opts.onState("closed");
    },
  };
  return controller;
}
