// One way to write a moment, in the viewer's time zone and language. The server renders
// <time datetime="ISO" data-when="datetime|ago"> in UTC (rooms/templatetags/ui.py, `{% when %}`); this
// rewrites them and keeps the relative ones ("5 minutes ago") current.

const MINUTE = 60 * 1000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export function formatMoment(date, { zone = true } = {}) {
  const options = { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
  if (date.getFullYear() !== new Date().getFullYear()) options.year = "numeric";
  if (zone) options.timeZoneName = "short";
  return date.toLocaleString(undefined, options);
}

// "just now", "5 minutes ago", "in 3 hours": one unit, as a person would say it.
export function formatAgo(date, now = Date.now()) {
  const elapsed = now - date.getTime();
  if (Math.abs(elapsed) < MINUTE) return "just now";
  const words = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  const [size, unit] = Math.abs(elapsed) < HOUR ? [MINUTE, "minute"] : Math.abs(elapsed) < DAY ? [HOUR, "hour"] : [DAY, "day"];
  return words.format(-Math.trunc(elapsed / size), unit);
}

// "under a minute", "4 min", "1 h 20 min": how long someone has waited.
export function formatWait(milliseconds) {
  if (milliseconds < MINUTE) return "under a minute";
  const minutes = Math.floor(milliseconds / MINUTE);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function render(element) {
  const date = new Date(element.getAttribute("datetime"));
  if (Number.isNaN(date.getTime())) return;
  if (element.dataset.when === "ago") {
    element.textContent = formatAgo(date);
    element.title = formatMoment(date);
  } else {
    element.textContent = formatMoment(date);
  }
}

let ticking = false;
export function enhanceTimes(root) {
  for (const element of root.querySelectorAll("time[data-when]")) render(element);
  if (!ticking) {
    ticking = true;
    setInterval(() => { for (const element of document.querySelectorAll('time[data-when="ago"]')) render(element); }, 30 * 1000);
  }
}
