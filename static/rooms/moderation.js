// The host's and co-hosts' panel: requests to speak (oldest first, with how long each has waited) and
// the people who just joined (from `presence`), each with the actions the protocol offers.

import { actionButton, avatar, el, profileUrl } from "./dom.js";
import { formatWait } from "../js/times.js";

const WAIT_REFRESH_MS = 15000;
const JUST_JOINED_SIZE = 8;

function waitedText(requestedAt) {
  const since = Date.parse(requestedAt);
  return Number.isNaN(since) ? "" : `waiting ${formatWait(Math.max(0, Date.now() - since))}`;
}

export function oldestFirst(requests) {
  return [...requests].sort((a, b) => Date.parse(a.requested_at) - Date.parse(b.requested_at));
}

export function renderRequests(root, requests) {
  const sorted = oldestFirst(requests);
  root.querySelector("[data-requests]").replaceChildren(...sorted.map((person, index) => el("li", { class: "people-list__row", "data-user": person.user },
    el("span", { class: "people-list__place muted", "aria-hidden": "true" }, String(index + 1)), // the <ol> numbers it for screen readers
    avatar(person, "md"),
    el("span", { class: "people-list__name" },
      el("a", { href: profileUrl(person.user) }, person.name), " ",
      el("span", { class: "muted" }, `@${person.user}`),
      el("span", { class: "people-list__waited muted", "data-requested-at": person.requested_at }, waitedText(person.requested_at))),
    el("span", { class: "people-list__actions" },
      actionButton("Approve", "approve_request", person.user, { iconName: "approve" }),
      actionButton("Deny", "deny_request", person.user, { iconName: "deny", extra: "button--ghost" })),
  )));
  root.querySelector("[data-no-requests]").hidden = sorted.length > 0;
  const badge = root.querySelector("[data-request-count]");
  badge.hidden = sorted.length === 0;
  badge.textContent = String(sorted.length);
}

export function keepWaitTimesCurrent(root) {
  setInterval(() => {
    for (const node of root.querySelectorAll("[data-requested-at]")) node.textContent = waitedText(node.dataset.requestedAt);
  }, WAIT_REFRESH_MS);
}

// Newest first, at most eight, never someone who is on stage, has left, or is you.
export class JustJoined {
  constructor(root) {
    this.wrap = root.querySelector("[data-joined-wrap]");
    this.list = root.querySelector("[data-joined]");
    this.handles = [];
  }

  note(joined, left, myHandle) {
    const gone = new Set(left);
    this.handles = this.handles.filter((handle) => !gone.has(handle) && !joined.includes(handle));
    for (const handle of joined) if (handle !== myHandle && !gone.has(handle)) this.handles.unshift(handle);
    this.handles.length = Math.min(this.handles.length, JUST_JOINED_SIZE);
  }

  forget(handle) {
    this.handles = this.handles.filter((other) => other !== handle);
  }

  render(onStage) {
    const shown = this.handles.filter((handle) => !onStage.has(handle));
    this.wrap.hidden = shown.length === 0;
    this.list.replaceChildren(...shown.map((handle) => el("li", { class: "people-list__row", "data-user": handle },
      el("span", { class: "people-list__name" }, el("a", { href: profileUrl(handle) }, `@${handle}`)),
      el("span", { class: "people-list__actions" },
        actionButton("Invite to speak", "invite_to_speak", handle, { iconName: "invite" }),
        actionButton("Remove", "remove", handle, { iconName: "remove", extra: "button--ghost", confirm: `Remove @${handle} from this Space? They can't come back.` })),
    )));
  }
}
