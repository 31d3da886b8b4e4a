// Who is speaking (rings on the stage, and words for screen readers), and push-to-talk for speakers.

const SPEAKING_LEVEL = 0.05;
const ANNOUNCE_EVERY_MS = 4000; // a screen reader hears at most one "… is speaking" this often
const QUIET_RESETS_MS = 10000; // after this long with nobody speaking, the same voice is news again

function sayNames(names) {
  if (names.length === 1) return `${names[0]} is speaking.`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are speaking.`;
  return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]} are speaking.`;
}

// `speaking` events (levels by user id) light the speakers' rings at once; the polite live region says
// who started speaking, rate-limited, and only when the set of speakers changed.
export function speakingIndicator(root) {
  const announcer = root.querySelector("[data-speaking-announcer]");
  let announcedKey = "";
  let lastAnnouncement = 0;
  let pending = null;
  let timer = null;
  let lastHeard = 0;

  function announce() {
    timer = null;
    if (pending === null) return;
    const { key, text } = pending;
    pending = null;
    if (key === announcedKey) return;
    announcedKey = key;
    lastAnnouncement = Date.now();
    announcer.textContent = text;
  }

  return function show(levels) {
    const names = [];
    const ids = [];
    for (const item of root.querySelectorAll("[data-stage] .speaker")) {
      const level = Number(levels[item.dataset.userId] || 0);
      const speaking = level > SPEAKING_LEVEL;
      item.classList.toggle("speaker--speaking", speaking);
      item.style.setProperty("--level", String(Math.min(1, level)));
      if (speaking) {
        ids.push(item.dataset.userId);
        names.push(item.querySelector(".speaker__name").textContent);
      }
    }
    if (!names.length) return; // silence is not news
    if (Date.now() - lastHeard > QUIET_RESETS_MS) announcedKey = "";
    lastHeard = Date.now();
    pending = { key: ids.sort().join(","), text: sayNames(names) };
    const wait = Math.max(0, lastAnnouncement + ANNOUNCE_EVERY_MS - Date.now());
    if (!timer) timer = setTimeout(announce, wait);
  };
}

function typingOrPressing(target) {
  // Space means "type a space" or "press this" there: leave it alone.
  return Boolean(target && target.closest && target.closest("input, textarea, select, button, a, summary, [contenteditable], dialog"));
}

// Hold the Space bar to talk while on stage and muted; letting go (or leaving the window) mutes again.
export function pushToTalk({ canTalk, isMuted, setMuted, onChange = () => {} }) {
  let holding = false;

  function release() {
    if (!holding) return;
    holding = false;
    onChange(false);
    setMuted(true);
  }

  document.addEventListener("keydown", (event) => {
    if (event.code !== "Space" || event.repeat || event.altKey || event.ctrlKey || event.metaKey) return;
    if (typingOrPressing(event.target) || !canTalk() || !isMuted()) return;
    event.preventDefault();
    holding = true;
    onChange(true);
    setMuted(false);
  });
  document.addEventListener("keyup", (event) => {
    if (event.code !== "Space" || !holding) return;
    event.preventDefault();
    release();
  });
  window.addEventListener("blur", release);
  document.addEventListener("visibilitychange", () => { if (document.hidden) release(); });
  return { get holding() { return holding; }, release };
}
