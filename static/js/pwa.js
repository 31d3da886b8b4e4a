// Every page: register the service worker (/sw.js, spaces_site/pwa.py), which caches the app's shell and
// shows push notifications. Browsers without service workers (or outside https) just skip it.

const script = document.querySelector("script[data-service-worker]");

if ("serviceWorker" in navigator && script && window.isSecureContext) {
  const register = () => navigator.serviceWorker.register(script.dataset.serviceWorker, { scope: "/" }).catch(() => {});
  if (document.readyState === "complete") register();
  else window.addEventListener("load", register, { once: true });
}
