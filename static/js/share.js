// <button data-share data-share-url="..." data-share-title="...">: the system share sheet where there is
// one (Web Share API, phones), else copy the link. Inside its [data-share-box], a [data-share-status]
// (role="status") says what happened, and a readonly <input data-share-field> is the last resort (shown
// and selected, to copy by hand).

export async function share({ url, title }) {
  if (navigator.share && (!navigator.canShare || navigator.canShare({ url, title }))) {
    try {
      await navigator.share({ url, title });
      return "shared";
    } catch (error) {
      if (error && error.name === "AbortError") return "cancelled";
      // Refused (not allowed here): fall back to the clipboard.
    }
  }
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(url);
      return "copied";
    } catch {
      // No permission: fall through.
    }
  }
  return "manual";
}

export function shareButtons(root) {
  for (const button of root.querySelectorAll("button[data-share]")) {
    button.addEventListener("click", async () => {
      const url = button.dataset.shareUrl || location.href;
      const outcome = await share({ url, title: button.dataset.shareTitle || document.title });
      const box = button.closest("[data-share-box]") || button.parentElement;
      const status = box.querySelector("[data-share-status]");
      const field = box.querySelector("[data-share-field]");
      if (outcome === "manual" && field) {
        field.hidden = false;
        field.focus();
        field.select();
      }
      if (status) {
        status.textContent = { copied: "Link copied.", shared: "Shared.", cancelled: "", manual: "Copy the link above." }[outcome];
        setTimeout(() => { status.textContent = ""; }, 4000);
      }
    });
  }
}
