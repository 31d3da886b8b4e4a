// Every page: small enhancements over server-rendered HTML, which reads fine without them. No inline
// script anywhere (the Content-Security-Policy refuses it): pages mark elements with data-* attributes.

import { enhanceTimes } from "./times.js";
import { shareButtons } from "./share.js";

// The viewer's time zone, for forms that take a local date and time (the Space form).
const zone = (() => {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch { return ""; }
})();
for (const input of document.querySelectorAll("input[name=tz]")) input.value = zone;

// <input type="datetime-local" data-utc="..."> shows a stored UTC moment in the viewer's zone.
const pad = (n) => String(n).padStart(2, "0");
for (const input of document.querySelectorAll("input[data-utc]")) {
  const when = new Date(input.dataset.utc);
  if (!Number.isNaN(when.getTime())) {
    input.value = `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}T${pad(when.getHours())}:${pad(when.getMinutes())}`;
  }
}

// <form data-confirm="Question?">: ask before submitting.
for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}

// The Space form: the date field only when scheduling (the server checks the choice either way).
const scheduledFor = document.getElementById("id_scheduled_for");
const whenChoices = document.querySelectorAll("input[name=when]");
if (scheduledFor && whenChoices.length) {
  const box = scheduledFor.closest(".field");
  const sync = () => {
    const later = document.querySelector("input[name=when]:checked");
    box.hidden = !(later && later.value === "later");
  };
  for (const radio of whenChoices) radio.addEventListener("change", sync);
  sync();
}

// <details data-menu> (the account menu): Escape or a click outside closes it.
const menus = document.querySelectorAll("details[data-menu]");
document.addEventListener("click", (event) => {
  for (const menu of menus) if (menu.open && !menu.contains(event.target)) menu.open = false;
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  for (const menu of menus) {
    if (!menu.open) continue;
    menu.open = false;
    menu.querySelector("summary").focus();
  }
});

enhanceTimes(document);
shareButtons(document);
