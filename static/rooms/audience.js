// The list of people in the room, for anyone in it: a <dialog> filled 50 at a time from
//   GET /spaces/<id>/room/audience/?cursor=<opaque>
//   → {"count", "anonymous", "people": [{"user", "user_id", "name", "initials", "hue", "role", "followed"}], "next"}
// (people you follow first), the next page fetched as you scroll near the end. The list is windowed: it
// keeps everyone in an array but draws only the rows in view (rows have one fixed height), so a room of
// thousands scrolls like a room of ten. While it is open, `presence` adds the people who join and takes
// away those who leave; hosts and co-hosts get "Invite to speak" and "Remove" on each listener's row.

import { actionButton, avatar, el, icon, profileUrl } from "./dom.js";

const ROLE_LABEL = { host: "Host", cohost: "Co-host", speaker: "Speaker" };
const SLOW_DOWN_MS = 2000; // the list shares the room's message budget: on 429, wait and ask again
const NEAR_END_PX = 600; // fetch the next page this close to the end of what is loaded
const OVERSCAN = 6; // rows drawn beyond each edge of the view, so a quick scroll shows no gap

export class AudiencePanel {
  constructor(root, { url, me, isModerator }) {
    this.dialog = root.querySelector("[data-audience]");
    this.list = root.querySelector("[data-audience-list]");
    this.scroller = root.querySelector("[data-audience-scroll]");
    this.more = root.querySelector("[data-audience-more]");
    this.status = root.querySelector("[data-audience-status]");
    this.anonymousLine = root.querySelector("[data-audience-anonymous]");
    this.countLine = root.querySelector("[data-audience-count]");
    this.url = url;
    this.me = me;
    this.isModerator = isModerator;
    this.people = []; // everyone fetched (or announced by presence), in the order shown
    this.drawn = new Map(); // handle -> {person, node} for the rows in the DOM now
    this.next = null;
    this.loading = false;
    this.failed = null; // {cursor} of a page that did not load: the button retries it, scrolling does not
    this.generation = 0;
    this.named = 0; // logged-in people in the room: the server's last word, plus presence since
    this.anonymous = 0;
    this.listenerCount = null;
    this.frame = 0;

    this.more.addEventListener("click", () => {
      if (this.failed) { const { cursor } = this.failed; this.failed = null; this.fetchPage(cursor); } else this.loadMore();
    });
    this.dialog.addEventListener("click", (event) => { if (event.target === this.dialog) this.close(); }); // the backdrop
    root.querySelector("[data-close-audience]").addEventListener("click", () => this.close());
    this.scroller.addEventListener("scroll", () => { this.schedule(); this.loadIfNearEnd(); }, { passive: true });
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting) && !this.failed) this.loadMore();
    }, { root: this.scroller, rootMargin: "600px" });
    this.observer.observe(this.more);
  }

  open() {
    if (!this.dialog.open) this.dialog.showModal();
    this.reload();
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }

  // From the first page again: the list is only kept live while it is open.
  reload() {
    this.generation += 1;
    this.people = [];
    this.drawn.clear();
    this.list.replaceChildren();
    this.next = null;
    this.loading = false;
    this.failed = null;
    this.scroller.scrollTop = 0;
    this.fetchPage(null);
  }

  loadMore() {
    if (this.next && !this.loading && this.dialog.open) this.fetchPage(this.next);
  }

  // The observer below only speaks when the "Show more" row enters or leaves the view; a page that arrives
  // while the view already sits at the end (a fast scroll, a short page) is followed from here.
  loadIfNearEnd() {
    const box = this.scroller;
    if (!this.failed && box.scrollTop + box.clientHeight >= box.scrollHeight - NEAR_END_PX) this.loadMore();
  }

  async fetchPage(cursor) {
    const generation = this.generation;
    const url = new URL(this.url, location.href);
    if (cursor) url.searchParams.set("cursor", cursor);
    const get = () => fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    this.loading = true;
    this.status.textContent = "Loading…";
    this.more.hidden = true;
    let page;
    try {
      let response = await get();
      if (response.status === 429) {
        await new Promise((resolve) => setTimeout(resolve, SLOW_DOWN_MS));
        if (generation !== this.generation) return;
        response = await get();
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      page = await response.json();
    } catch {
      if (generation === this.generation) {
        this.loading = false;
        this.status.textContent = "Couldn't load the list.";
        this.more.textContent = "Try again";
        this.failed = { cursor };
        this.more.hidden = false;
      }
      return;
    }
    if (generation !== this.generation) return; // closed and opened again meanwhile
    this.loading = false;
    this.next = page.next || null;
    this.named = Math.max(0, Number(page.count) - Number(page.anonymous)) || 0;
    this.anonymous = Number(page.anonymous) || 0;
    const known = new Set(this.people.map((person) => person.user));
    this.people.push(...page.people.filter((person) => !known.has(person.user)));
    this.status.textContent = this.people.length === 0 && !this.next ? "Nobody here is logged in." : "";
    this.more.textContent = "Show more";
    this.more.hidden = !this.next;
    this.showCounts();
    this.render();
    this.loadIfNearEnd();
  }

  // The room's presence event: the count, and who joined or left since the last one.
  presence({ listener_count: count, joined = [], left = [] }) {
    if (typeof count === "number") this.listenerCount = count;
    if (this.dialog.open) {
      const gone = new Set(left);
      const before = this.people.length;
      this.people = this.people.filter((person) => !gone.has(person.user));
      this.named = Math.max(0, this.named - (before - this.people.length));
      const known = new Set(this.people.map((person) => person.user));
      // Newcomers go on top, named by handle (presence carries no more); you too, if the list was read
      // before your own arrival was.
      const newcomers = joined.filter((handle) => !known.has(handle)).map((handle) => (
        { user: handle, name: `@${handle}`, initials: handle.slice(0, 1).toUpperCase(), hue: 0, role: "listener", followed: false }));
      this.people.unshift(...newcomers);
      this.named += newcomers.length;
      if (newcomers.length || before !== this.people.length) this.render();
    }
    this.showCounts();
  }

  // A role_changed delta: the row says the new role (and loses a listener's actions).
  update(person) {
    const at = this.people.findIndex((other) => other.user === person.user);
    if (at < 0) return;
    this.people[at] = { ...this.people[at], ...person };
    this.render();
  }

  drop(handle) {
    const before = this.people.length;
    this.people = this.people.filter((person) => person.user !== handle);
    if (this.people.length !== before) this.render();
  }

  showCounts() {
    const total = this.listenerCount;
    this.countLine.textContent = typeof total === "number" ? `· ${total.toLocaleString()}` : "";
    const anonymous = typeof total === "number" ? Math.max(0, total - this.named) : this.anonymous;
    this.anonymousLine.hidden = anonymous === 0;
    this.anonymousLine.textContent = `+ ${anonymous.toLocaleString()} anonymous listener${anonymous === 1 ? "" : "s"}`;
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.render(); });
  }

  // Draw the rows in view (and a few around them), reusing the nodes of rows that stay.
  render() {
    const rowHeight = parseFloat(getComputedStyle(this.list).getPropertyValue("--row-height")) || 60;
    const total = this.people.length;
    this.list.style.setProperty("--rows", String(total));
    const top = Math.max(0, this.scroller.scrollTop - this.list.offsetTop);
    const first = Math.max(0, Math.floor(top / rowHeight) - OVERSCAN);
    const last = Math.min(total, Math.ceil((top + this.scroller.clientHeight) / rowHeight) + OVERSCAN);
    const keep = new Map();
    for (let index = first; index < last; index += 1) {
      const person = this.people[index];
      const drawn = this.drawn.get(person.user);
      const node = drawn && drawn.person === person ? drawn.node : this.row(person);
      node.style.setProperty("--index", String(index));
      node.setAttribute("aria-posinset", String(index + 1));
      node.setAttribute("aria-setsize", String(total));
      keep.set(person.user, { person, node });
    }
    // A row that holds the focus stays, even out of view, so the keyboard never loses its place.
    for (const [handle, drawn] of this.drawn) {
      if (!keep.has(handle) && drawn.node.contains(document.activeElement) && this.people.includes(drawn.person)) keep.set(handle, drawn);
    }
    for (const [handle, drawn] of this.drawn) if (!keep.has(handle)) drawn.node.remove();
    for (const { node } of keep.values()) if (!node.isConnected) this.list.append(node);
    this.drawn = keep;
  }

  row(person) {
    const me = this.me();
    const mine = me && person.user === me.user;
    const actions = [];
    if (this.isModerator() && !mine && person.role === "listener") {
      actions.push(actionButton("Invite to speak", "invite_to_speak", person.user, { iconName: "invite" }));
      actions.push(actionButton("Remove", "remove", person.user, { iconName: "remove", extra: "button--ghost", confirm: `Remove @${person.user} from this Space? They can't come back.` }));
      for (const button of actions) button.setAttribute("aria-label", `${button.textContent} @${person.user}`);
    }
    if (me && !mine) { // static/rooms/chat.js opens the report dialog
      actions.push(el("button", { type: "button", class: "button--small button--ghost", "data-report-user": person.user, "aria-label": `Report @${person.user}` }, icon("report"), "Report"));
    }
    return el("li", { class: "audience__row", "data-user": person.user },
      avatar(person, "md"),
      el("span", { class: "audience__who" },
        el("a", { class: "audience__name", href: profileUrl(person.user), title: person.name }, person.name || `@${person.user}`),
        el("span", { class: "audience__meta muted" },
          `@${person.user}`,
          mine ? " (you)" : null,
          ROLE_LABEL[person.role] ? el("span", { class: "state-pill" }, ROLE_LABEL[person.role]) : null,
          person.followed ? el("span", { class: "following-pill" }, "Following") : null)),
      actions.length ? el("span", { class: "people-list__actions" }, ...actions) : null,
    );
  }
}
