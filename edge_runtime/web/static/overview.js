"use strict";
const grid = document.getElementById("cameras");

function cameraCard(camera) {
  let card = grid.querySelector(`[data-camera="${camera.name}"]`);
  if (!card) {
    card = el("article", { class: "camera", dataset: { camera: camera.name } },
      el("a", { href: `/live/${camera.name}`, class: "thumb" }, el("img", { alt: camera.name }),
        el("div", { class: "nosignal" }, el("b", {}, t("cam.no_signal")), el("span", {}))),
      el("header", {}, el("h3", {}, camera.name), el("span", { class: "state" })),
      el("dl", {}));
    grid.append(card);
  }
  const img = card.querySelector("img");
  card.classList.toggle("no-signal", !camera.signal);  // never the last frame of a camera that is down
  if (camera.signal && camera.frame !== null) img.src = `/api/cameras/${camera.name}/frame.jpg?f=${camera.frame}`;
  card.querySelector(".nosignal span").textContent =
    `${t("state." + camera.state)} · ${t("cam.last_frame")} ${fmtDuration(camera.frame_age_s)}`;
  card.querySelector(".state").replaceChildren(stateBadge(camera.state, camera.conditions));
  const last = camera.last_event;
  const facts = [
    ["fps", camera.fps.toFixed(1)],
    ["frame_age", fmtDuration(camera.frame_age_s)],
    ["processed", camera.processed],
    ["dropped", camera.dropped],
    ["reconnects", camera.reconnects],
    ["last_event", last ? `${last.type} · ${t("phase." + last.phase)} · ${fmtTime(last.ts)}` : t("cam.none")],
  ];
  if (camera.belt) {
    facts.push(["belt_load", `${(100 * camera.belt.load).toFixed(0)} %` + (camera.belt.overloaded ? ` · ${t("cam.overloaded")}` : "")]);
    facts.push(["belt_speed", `${camera.belt.speed_mps.toFixed(2)} m/s`]);
  }
  card.querySelector("dl").replaceChildren(
    ...facts.flatMap(([key, value]) => [el("dt", {}, t(`cam.${key}`)), el("dd", { class: key }, value)]));
}

async function refresh() {
  const data = await getJSON("/api/overview");
  document.getElementById("model").textContent =
    `${data.model.name} · ${data.model.artifact} (${data.model.precision}) · ${data.model.task}`;
  document.getElementById("outbox").textContent =
    `${data.outbox.depth} ${t("outbox.waiting")}` + (data.outbox.dropped ? ` · ${data.outbox.dropped} ${t("outbox.dropped")}` : "");
  document.getElementById("uptime").textContent = fmtDuration(data.uptime_s);
  data.cameras.forEach(cameraCard);
  // ok: delivering; failing: its last attempt failed; stalled: nothing delivered for too long while events wait
  const sinkState = (sink) => (sink.ok ? "sink.ok" : sink.healthy ? "sink.stalled" : "sink.failing");
  document.querySelector("#sinks tbody").replaceChildren(...data.sinks.map((sink) => el("tr", {},
    el("td", {}, sink.name),
    el("td", {}, el("span", { class: `badge ${sink.ok ? "ok" : "bad"}` }, t(sinkState(sink)))),
    el("td", { class: "num" }, sink.delivered),
    el("td", { class: "num" }, sink.pending),
    el("td", { class: "num" }, sink.failures),
    el("td", { class: `num dead ${sink.dead_letters ? "bad" : ""}` }, sink.dead_letters),
    el("td", { class: "muted" }, sink.last_error ?? sink.last_dead_letter?.error ?? ""))));
  const dead = data.outbox.dead_letters;
  document.getElementById("dead-letters").hidden = dead.length === 0;
  document.querySelector("#dead-letters tbody").replaceChildren(...dead.map((letter) => el("tr", {},
    el("td", {}, letter.ts),
    el("td", {}, letter.sink),
    el("td", { class: "muted" }, letter.id ?? "–"),
    el("td", { class: "num" }, letter.attempts),
    el("td", { class: "muted" }, letter.error))));
  const d = data.device;
  const rows = [
    ["load", `${d.load1} / ${d.load5} (${d.cpus} ${t("device.cores")})`],
    ["memory", d.memory_used_pct === null ? "–" : `${d.memory_used_pct} %`],
    ["rss", d.rss_mb === null ? "–" : `${d.rss_mb} MB`],
    ["disk", `${d.disk_free_gb} GB`],
  ];
  document.querySelector("#device tbody").replaceChildren(
    ...rows.map(([key, value]) => el("tr", {}, el("th", {}, t(`device.${key}`)), el("td", { class: key }, value))));
}

poll(refresh, 2000);
