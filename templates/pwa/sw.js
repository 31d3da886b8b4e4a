{% autoescape off %}// The Spaces service worker (served by spaces_site/pwa.py at /sw.js; docs/phones.md).
//
// It caches the shell and nothing live: static files (served from the cache, refreshed behind it) and an
// offline page. Every page comes from the network, so a live room's page, its JSON (/room/...) and its
// websocket are never cached; a page that can't load shows the offline page instead. It also shows Web
// Push notifications ("a host you follow is live", reminders) and opens their Space when tapped.

const CONFIG = {{ config }};
const CACHE = `spaces-shell-${CONFIG.version}`;

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(CONFIG.shell.map((url) => new Request(url, { credentials: "omit", cache: "reload" })));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("spaces-shell-") && name !== CACHE) await caches.delete(name);
    }
    if (self.registration.navigationPreload) await self.registration.navigationPreload.enable();
    await self.clients.claim();
  })());
});

// Pages: the network (a preloaded answer when the browser started it early), else the offline page.
async function page(event) {
  try {
    const preloaded = await event.preloadResponse;
    if (preloaded) return preloaded;
    return await fetch(event.request);
  } catch (error) {
    const offline = await caches.match(CONFIG.offline);
    if (offline) return offline;
    throw error;
  }
}

// Static files: from the cache at once, refreshed from the network for next time.
async function staticFile(event) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(event.request);
  const fresh = fetch(event.request).then((response) => {
    if (response.ok && response.type === "basic") cache.put(event.request, response.clone());
    return response;
  });
  if (cached) {
    event.waitUntil(fresh.catch(() => {}));
    return cached;
  }
  return fresh;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(page(event));
  } else if (url.pathname.startsWith(CONFIG.static) && !request.headers.has("range")) {
    event.respondWith(staticFile(event));
  }
  // Anything else (the room's JSON, the audience list, replays, feeds) goes to the network untouched.
});

// --- Web Push (push/): {"title", "body", "url", "tag"} ---------------------------------------------------
self.addEventListener("push", (event) => {
  let message = {};
  try {
    message = event.data ? event.data.json() : {};
  } catch {
    message = { body: event.data ? event.data.text() : "" };
  }
  event.waitUntil(self.registration.showNotification(message.title || "Spaces", {
    body: message.body || "",
    tag: message.tag || undefined, // the same event twice replaces itself instead of buzzing twice
    icon: CONFIG.icon,
    badge: CONFIG.badge,
    data: { url: message.url || "/" },
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL((event.notification.data && event.notification.data.url) || "/", self.location.origin).href;
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    for (const client of windows) {
      if (client.url === target && "focus" in client) return client.focus();
    }
    return self.clients.openWindow(target);
  })());
});

// The browser replaced the subscription (Firefox does, now and then): tell the server, which knows this
// device by the old endpoint (a secret only this browser and the server hold).
self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil((async () => {
    const old = event.oldSubscription;
    const fresh = event.newSubscription || (old && await self.registration.pushManager.subscribe(old.options));
    if (!old || !fresh) return;
    const data = fresh.toJSON();
    const body = new URLSearchParams({ old_endpoint: old.endpoint, endpoint: data.endpoint, p256dh: data.keys.p256dh, auth: data.keys.auth });
    await fetch(CONFIG.renew, { method: "POST", body, credentials: "omit" });
  })());
});
{% endautoescape %}
