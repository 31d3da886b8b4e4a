// The settings page's "Notifications on this device": subscribe this browser to Web Push and tell the
// server (push/views.py), or the reverse. The service worker (/sw.js) shows what arrives.

const box = document.querySelector("[data-push]");
const stateLine = box.querySelector("[data-push-state]");
const onButton = box.querySelector("[data-push-on]");
const offButton = box.querySelector("[data-push-off]");
const csrf = box.querySelector("[data-push-csrf]").value;

const isIos = /iPad|iPhone|iPod/.test(navigator.userAgent) || (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
const installed = window.matchMedia("(display-mode: standalone)").matches || navigator.standalone === true;

function say(text) { stateLine.textContent = text; }

function show({ on, off }) {
  onButton.hidden = !on;
  offButton.hidden = !off;
}

function keyBytes(base64url) {
  const text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

async function post(url, fields) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "X-CSRFToken": csrf },
    body: new URLSearchParams(fields),
    credentials: "same-origin",
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.error || `The server said ${response.status}.`);
  return answer;
}

async function tellServer(subscription) {
  const { endpoint, keys } = subscription.toJSON();
  return post(box.dataset.subscribeUrl, { endpoint, p256dh: keys.p256dh, auth: keys.auth });
}

async function registration() {
  // The worker is registered on every page (static/js/pwa.js); here, wait for it if it is still starting.
  await navigator.serviceWorker.register(document.querySelector("script[data-service-worker]").dataset.serviceWorker, { scope: "/" });
  return navigator.serviceWorker.ready;
}

async function turnOn() {
  onButton.disabled = true;
  try {
    const permission = await Notification.requestPermission();
    if (permission !== "granted") {
      say("Notifications are blocked for this site. Allow them in your browser's site settings, then try again.");
      return;
    }
    const worker = await registration();
    const subscription = (await worker.pushManager.getSubscription())
      || (await worker.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(box.dataset.publicKey) }));
    await tellServer(subscription);
    say("On for this device. You'll hear when a host you follow goes live or a reminder is due.");
    show({ on: false, off: true });
  } catch (error) {
    say(`Couldn't turn notifications on: ${error.message}`);
  } finally {
    onButton.disabled = false;
  }
}

async function turnOff() {
  offButton.disabled = true;
  try {
    const worker = await registration();
    const subscription = await worker.pushManager.getSubscription();
    if (subscription) {
      await post(box.dataset.unsubscribeUrl, { endpoint: subscription.endpoint });
      await subscription.unsubscribe();
    }
    say("Off for this device.");
    show({ on: true, off: false });
  } catch (error) {
    say(`Couldn't turn notifications off: ${error.message}`);
  } finally {
    offButton.disabled = false;
  }
}

async function start() {
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    say(isIos && !installed
      ? "On iPhone and iPad: tap Share, then Add to Home Screen, and open Spaces from there to turn notifications on."
      : "This browser can't receive push notifications.");
    return;
  }
  if (Notification.permission === "denied") {
    say("Notifications are blocked for this site. Allow them in your browser's site settings to turn them on.");
    show({ on: true, off: false });
    return;
  }
  const worker = await registration();
  const subscription = await worker.pushManager.getSubscription();
  if (subscription) {
    // The browser is subscribed: make sure the server knows it (for this account, which may be new here).
    try {
      await tellServer(subscription);
      say("On for this device.");
    } catch (error) {
      say(`Couldn't check this device's notifications: ${error.message}`);
    }
  }
  show({ on: !subscription, off: Boolean(subscription) });
}

onButton.addEventListener("click", turnOn);
offButton.addEventListener("click", turnOff);
start().catch((error) => say(error.message));
