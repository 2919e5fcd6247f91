"use strict";
// One row per incident (a start with its updates and end), newest first; acknowledgements are
// stored by the daemon, so every screen in the control room shows them.
const form = document.getElementById("filters");
const viewer = document.getElementById("viewer");
const OPERATOR_KEY = "adit-operator";
const CLASSES = JSON.parse(document.getElementById("classes").textContent);
form.elements.operator.value = localStorage.getItem(OPERATOR_KEY) ?? "";

function query() {
  const params = new URLSearchParams();
  for (const key of ["camera", "type", "label", "severity"]) if (form.elements[key].value) params.set(key, form.elements[key].value);
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
    for (const value of values) if (!known.has(value)) select.append(el("option", { value }, key === "severity" ? t(`sev.${value}`) : value));
    select.value = chosen;
  }
}

function deliveryCell(incident) {
  const badges = Object.entries(incident.delivered).map(([sink, done]) => {
    if ((incident.dead_letter ?? []).includes(sink)) {  // the sink refused it: set aside, see the overview
      return el("span", { class: "badge bad", title: t("ev.dead_letter") }, `${sink} ✗`);
    }
    return el("span", { class: `badge ${done ? "ok" : "wait"}`, title: t(done ? "ev.delivered" : "ev.in_outbox") },
      `${sink} ${done ? "✓" : "…"}`);
  });
  return el("td", { class: "delivery" }, badges);
}

function durationCell(incident) {
  let text = "–";
  if (incident.status === "ended") text = fmtDuration(incident.duration_s);
  else if (incident.status === "open") text = fmtDuration(Math.max(0, (Date.now() - Date.parse(incident.start_ts)) / 1000));
  return el("td", { class: "duration num" }, text, el("small", {}, t(`status.${incident.status}`)));
}

async function acknowledge(incident, button) {
  const by = form.elements.operator.value.trim();
  localStorage.setItem(OPERATOR_KEY, by);
  button.disabled = true;
  const response = await fetch(`/api/events/${incident.id}/ack`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ by }),
  });
  if (!response.ok) { button.disabled = false; button.textContent = t("ev.ack_failed"); return; }
  await refresh();
}

function ackCell(incident) {
  if (incident.ack) {
    return el("td", { class: "ack done" }, `✓ ${t("ev.acked_by")} ${incident.ack.by}`, el("small", {}, fmtTime(incident.ack.at)));
  }
  if (incident.status === "instant" && incident.severity === "info") return el("td", { class: "ack" });
  const button = el("button", { type: "button", class: "ack-button" }, t("ev.ack_button"));
  button.addEventListener("click", () => acknowledge(incident, button));
  return el("td", { class: "ack" }, button);
}

// Was the model right? Kept with the event's frame for the next labelling round; the newest answer stands.
async function giveFeedback(incident, verdict, label, cell) {
  const by = form.elements.operator.value.trim();
  localStorage.setItem(OPERATOR_KEY, by);
  const response = await fetch(`/api/events/${incident.id}/feedback`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(label ? { by, verdict, label } : { by, verdict }),
  });
  if (!response.ok) { cell.append(el("small", { class: "bad" }, t("fb.failed"))); return; }
  await refresh();
}

function feedbackCell(incident) {
  const cell = el("td", { class: "feedback" });
  if (incident.kind !== "rule") return cell;  // feedback judges the model, not the cameras or the belt
  const given = incident.feedback;
  if (given) {
    const text = given.verdict === "relabel" ? `${t("fb.relabel")} ${given.label}` : t(`fb.${given.verdict}`);
    cell.append(el("b", { class: `fb fb-${given.verdict}` }, text), el("small", {}, `${t("fb.by")} ${given.by}`));
  }
  for (const verdict of ["false_alarm", "confirmed"]) {
    const button = el("button", { type: "button", class: `fb-button fb-${verdict}` }, t(`fb.${verdict}`));
    button.addEventListener("click", () => giveFeedback(incident, verdict, null, cell));
    cell.append(button);
  }
  const other = CLASSES.filter((name) => name !== incident.label);
  const select = el("select", { class: "fb-relabel", title: t("fb.relabel") },
    el("option", { value: "" }, t("fb.relabel")), other.map((name) => el("option", { value: name }, name)));
  select.addEventListener("change", () => { if (select.value) giveFeedback(incident, "relabel", select.value, cell); });
  cell.append(select);
  return cell;
}

function row(incident) {
  const snapshot = incident.snapshot;  // the URL path the daemon serves it under
  const thumb = snapshot
    ? el("img", { src: snapshot, class: "thumb", alt: incident.type, loading: "lazy",
        onclick: () => { viewer.querySelector("img").src = snapshot; viewer.showModal(); } })
    : "";
  const classes = [`sev-${incident.severity}`, `status-${incident.status}`, incident.ack ? "acked" : "unacked"];
  return el("tr", { class: classes.join(" "), dataset: { id: incident.id } },
    el("td", {}, thumb),
    el("td", {}, fmtTime(incident.start_ts)),
    el("td", {}, incident.camera),
    el("td", {}, incident.type),
    el("td", {}, incident.label),
    el("td", {}, el("span", { class: `badge sev sev-${incident.severity}` }, t(`sev.${incident.severity}`))),
    el("td", { class: "num" }, incident.score.toFixed(2)),
    durationCell(incident),
    ackCell(incident),
    feedbackCell(incident),
    deliveryCell(incident));
}

async function refresh() {
  const data = await getJSON(`/api/incidents?${query()}`);
  fillChoices(data.choices);
  const shown = form.elements.unacked.checked ? data.incidents.filter((i) => !i.ack) : data.incidents;
  document.querySelector("#events tbody").replaceChildren(...shown.map(row));
  document.getElementById("events-empty").hidden = shown.length > 0;
}

form.addEventListener("change", (event) => { if (event.target.name !== "operator") refresh(); });
form.elements.operator.addEventListener("change", () => localStorage.setItem(OPERATOR_KEY, form.elements.operator.value.trim()));
form.addEventListener("reset", () => setTimeout(() => {
  form.elements.operator.value = localStorage.getItem(OPERATOR_KEY) ?? "";
  refresh();
}));
poll(() => (form.elements.auto.checked ? refresh() : Promise.resolve()), 3000);
