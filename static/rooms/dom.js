// Building blocks the room's modules draw with. No inline style attributes (the CSP refuses them):
// custom properties go through the CSSOM (element.style.setProperty), which it allows.

const iconTemplate = document.querySelector("template[data-icons]");

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("--")) node.style.setProperty(key, String(value));
    else if (key.startsWith("data-") || key.startsWith("aria-") || ["type", "title", "role", "href", "tabindex"].includes(key)) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

// An SVG icon from the page's <template data-icons> (rendered by the server with lucide).
export function icon(name) {
  const holder = iconTemplate && iconTemplate.content.querySelector(`[data-icon="${name}"]`);
  return holder ? holder.firstElementChild.cloneNode(true) : document.createTextNode("");
}

export function avatar(person, size = "lg") {
  return el("span", { class: `avatar avatar--${size}`, "--hue": Number(person.hue) || 0, "aria-hidden": "true" }, person.initials || "?");
}

export function actionButton(label, action, user, { iconName = null, extra = "", confirm = null } = {}) {
  return el("button", { type: "button", class: `button--small ${extra}`.trim(), "data-action": action, "data-user": user, "data-confirm": confirm },
    iconName ? icon(iconName) : null, label);
}

export function profileUrl(handle) {
  return `/u/${encodeURIComponent(handle)}/`;
}
