"use strict";
const box = document.querySelector(".live");
const name = box.dataset.camera;
const stream = document.getElementById("stream");

const streamUrl = () => `/api/cameras/${name}/stream.mjpg?r=${Date.now()}`;

// A stream that broke (daemon restarted, network blip) is reopened while the camera has a signal.
stream.addEventListener("error", () => setTimeout(() => { if (stream.hasAttribute("src")) stream.src = streamUrl(); }, 2000));

// Open the stream only while frames arrive; a camera that is down shows NO SIGNAL, never a stale frame.
function showSignal(signal) {
  box.classList.toggle("no-signal", !signal);
  if (signal && !stream.hasAttribute("src")) stream.src = streamUrl();
  if (!signal && stream.hasAttribute("src")) stream.removeAttribute("src");
}

async function refresh() {
  const [data, events] = await Promise.all([
    getJSON("/api/overview"),
    getJSON(`/api/events?camera=${encodeURIComponent(name)}&limit=8`),
  ]);
  const camera = data.cameras.find((c) => c.name === name);
  showSignal(camera.signal);
  document.querySelector("#nosignal span").textContent =
    `${t("state." + camera.state)} · ${t("cam.last_frame")} ${fmtDuration(camera.frame_age_s)}`;
  const rows = [
    ["state", stateBadge(camera.state, camera.conditions)],
    ["fps", camera.fps.toFixed(1)],
    ["frame", camera.frame ?? "–"],
    ["frame_age", fmtDuration(camera.frame_age_s)],
    ["size", camera.size ? camera.size.join("×") : "–"],
    ["model", `${data.model.artifact} (${data.model.precision})`],
  ];
  document.querySelector("#camera-facts tbody").replaceChildren(
    ...rows.map(([key, value]) => el("tr", {}, el("th", {}, t(`cam.${key}`)), el("td", { class: key }, value))));
  document.getElementById("camera-events").replaceChildren(...events.events.map((e) =>
    el("li", {}, el("b", {}, e.type), ` ${e.label} ${e.score.toFixed(2)} · ${t("phase." + e.phase)} · ${fmtTime(e.ts)}`)));
}

poll(refresh, 2000);
