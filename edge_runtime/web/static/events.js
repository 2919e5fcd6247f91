"use strict";
const form = document.getElementById("filters");
const viewer = document.getElementById("viewer");

function query() {
  const params = new URLSearchParams();
  for (const key of ["camera", "type", "label"]) if (form.elements[key].value) params.set(key, form.elements[key].value);
  for (const key of ["since", "until"]) {
    const value = form.elements[key].value;
    if (value) params.set(key, new Date(value).toISOString());  // the browser's local time -> UTC
  }
  return params.toString();
}

function fillChoices(choices) {
  for (const [key, values] of Object.entries(choices)) {
    const select = form.elements[key];
    const chosen = select.value;
    const known = new Set([...select.options].map((o) => o.value));
    for (const value of values) if (!known.has(value)) select.append(el("option", { value }, value));
    select.value = chosen;
  }
}

function deliveryCell(event) {
  const badges = Object.entries(event.delivered).map(([sink, done]) => {
    if ((event.dead_letter ?? []).includes(sink)) {  // the sink refused it: set aside, see the overview
      return el("span", { class: "badge bad", title: t("ev.dead_letter") }, `${sink} ✗`);
    }
    return el("span", { class: `badge ${done ? "ok" : "wait"}`, title: t(done ? "ev.delivered" : "ev.in_outbox") },
      `${sink} ${done ? "✓" : "…"}`);
  });
  return el("td", { class: "delivery" }, badges);
}

function row(event) {
  const snapshot = event.extra.snapshot;
  const thumb = snapshot
    ? el("img", { src: `/snapshots/${snapshot}`, class: "thumb", alt: event.type, loading: "lazy",
        onclick: () => { viewer.querySelector("img").src = `/snapshots/${snapshot}`; viewer.showModal(); } })
    : "";
  return el("tr", { class: `phase-${event.phase}`, dataset: { id: event.id } },
    el("td", {}, thumb),
    el("td", {}, fmtTime(event.ts)),
    el("td", {}, event.camera),
    el("td", {}, event.type),
    el("td", {}, event.label),
    el("td", { class: "num" }, event.score.toFixed(2)),
    el("td", {}, t(`phase.${event.phase}`)),
    deliveryCell(event));
}

async function refresh() {
  const data = await getJSON(`/api/events?${query()}`);
  fillChoices(data.choices);
  document.querySelector("#events tbody").replaceChildren(...data.events.map(row));
  document.getElementById("events-empty").hidden = data.events.length > 0;
}

form.addEventListener("change", refresh);
form.addEventListener("reset", () => setTimeout(refresh));
poll(() => (form.elements.auto.checked ? refresh() : Promise.resolve()), 3000);
