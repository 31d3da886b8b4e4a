// The replay page: the <audio controls> element works on its own; this adds speed, a waveform to click,
// jumps from the speaker timeline and reactions, "share this moment" (?t=seconds) and the host's play count.

const root = document.getElementById("replay");
const player = root && root.querySelector("[data-player]");

if (player) {
  const tools = root.querySelector("[data-tools]");
  tools.hidden = false;
  const start = Number(root.dataset.start || 0);
  if (start > 0) {
    const seekOnce = () => { if (player.currentTime < 1) player.currentTime = start; };
    player.addEventListener("loadedmetadata", seekOnce, { once: true });
  }

  // Speed 1× / 1.5× / 2×.
  const speeds = [...root.querySelectorAll("[data-speed]")];
  for (const button of speeds) {
    button.addEventListener("click", () => {
      player.playbackRate = Number(button.dataset.speed);
      for (const other of speeds) other.setAttribute("aria-pressed", String(other === button));
    });
  }

  // Timeline and reactions: jump without reloading the page.
  root.addEventListener("click", (event) => {
    const link = event.target.closest("[data-seek]");
    if (!link) return;
    event.preventDefault();
    player.currentTime = Number(link.dataset.seek);
    player.play().catch(() => {});
  });

  // Share this moment.
  const output = root.querySelector("[data-share-output]");
  root.querySelector("[data-share-moment]").addEventListener("click", async () => {
    const url = new URL(location.href);
    url.searchParams.set("t", String(Math.floor(player.currentTime)));
    url.hash = "";
    try {
      if (navigator.share) await navigator.share({ title: document.title, url: url.href });
      else { await navigator.clipboard.writeText(url.href); output.textContent = "Link copied."; }
    } catch { output.textContent = url.href; }
    const clipStart = root.querySelector("#clip-start");
    if (clipStart) clipStart.value = Math.floor(player.currentTime);
  });

  // The clip form starts where the player is.
  const clipStart = root.querySelector("#clip-start");
  if (clipStart) player.addEventListener("pause", () => { clipStart.value = player.currentTime.toFixed(1); });

  // The waveform: bars from the server's peaks, the played part darker; click to seek.
  const canvas = root.querySelector("[data-waveform]");
  const peaks = JSON.parse(document.getElementById("replay-peaks").textContent || "[]");
  if (canvas && peaks.length) {
    canvas.hidden = false;
    const draw = () => {
      const ratio = window.devicePixelRatio || 1;
      const width = canvas.clientWidth;
      const height = canvas.clientHeight;
      canvas.width = width * ratio;
      canvas.height = height * ratio;
      const context = canvas.getContext("2d");
      context.scale(ratio, ratio);
      const played = player.duration ? player.currentTime / player.duration : 0;
      const step = width / peaks.length;
      const style = getComputedStyle(root);
      for (let i = 0; i < peaks.length; i += 1) {
        const bar = Math.max(2, (peaks[i] / 100) * (height - 8));
        context.fillStyle = i / peaks.length < played ? style.color : "#a9a3c4";
        context.fillRect(i * step, (height - bar) / 2, Math.max(step - 1, 1), bar);
      }
    };
    draw();
    player.addEventListener("timeupdate", draw);
    window.addEventListener("resize", draw);
    canvas.addEventListener("click", (event) => {
      if (!player.duration) return;
      const box = canvas.getBoundingClientRect();
      player.currentTime = ((event.clientX - box.left) / box.width) * player.duration;
    });
  }

  // One play per page view, for the host's count.
  player.addEventListener("play", () => {
    const token = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    fetch(root.dataset.playedUrl, { method: "POST", headers: { "X-CSRFToken": token ? token[1] : "" }, credentials: "same-origin" }).catch(() => {});
  }, { once: true });
}
