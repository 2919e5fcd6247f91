"use strict";
// Points are kept in 0..1 of the frame (what the site configuration expects) and drawn scaled.
const form = document.getElementById("zone-form");
const still = document.getElementById("still");
const canvas = document.getElementById("zone-canvas");
const yamlBox = document.getElementById("yaml");
const status = document.getElementById("rule-status");
let points = [];

const kind = () => form.elements.kind.value;
const round = (v) => Math.round(Math.min(Math.max(v, 0), 1) * 10000) / 10000;

function loadStill() {
  still.src = `/api/cameras/${encodeURIComponent(form.elements.camera.value)}/frame.jpg?raw=1&t=${Date.now()}`;
}

function draw() {
  canvas.width = still.clientWidth;
  canvas.height = still.clientHeight;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!points.length) return;
  const xy = points.map(([x, y]) => [x * canvas.width, y * canvas.height]);
  ctx.lineWidth = 3;
  ctx.strokeStyle = kind() === "zone" ? "#ffa500" : "#ff00ff";
  ctx.fillStyle = "rgba(255,165,0,0.25)";
  ctx.beginPath();
  xy.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  if (kind() === "zone" && xy.length > 2) { ctx.closePath(); ctx.fill(); }
  ctx.stroke();
  xy.forEach(([x, y], i) => {
    ctx.fillStyle = i === 0 ? "#00ff00" : "#ffffff";
    ctx.beginPath(); ctx.arc(x, y, 5, 0, 2 * Math.PI); ctx.fill();
  });
}

function draft() {
  const rule = {
    name: form.elements.name.value,
    camera: form.elements.camera.value,
    labels: [...form.querySelectorAll("input[name=labels]:checked")].map((box) => box.value),
    min_score: Number(form.elements.min_score.value),
  };
  if (kind() === "zone") rule.zone = points;
  else rule.tripwire = { line: points, direction: form.elements.direction.value };
  return rule;
}

async function update() {
  draw();
  document.getElementById("direction-box").hidden = kind() !== "tripwire";
  const needed = kind() === "zone" ? 3 : 2;
  if (points.length < needed) {
    yamlBox.textContent = "";
    status.className = "muted";
    status.textContent = t("zones.need_points");
    return;
  }
  const response = await fetch("/api/rules/yaml", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(draft()),
  });
  const answer = await response.json();
  if (!response.ok) {
    yamlBox.textContent = "";
    status.className = "bad";
    status.textContent = answer.error;
    return;
  }
  yamlBox.textContent = answer.yaml;
  status.className = answer.warning ? "warn" : "ok";
  status.textContent = t("zones.valid") + (answer.warning ? ` (${answer.warning})` : "");
}

canvas.addEventListener("click", (event) => {
  const box = canvas.getBoundingClientRect();
  const point = [round((event.clientX - box.left) / box.width), round((event.clientY - box.top) / box.height)];
  if (kind() === "tripwire" && points.length >= 2) points = [];
  points.push(point);
  update();
});
document.getElementById("undo").addEventListener("click", () => { points.pop(); update(); });
document.getElementById("clear").addEventListener("click", () => { points = []; update(); });
document.getElementById("refresh").addEventListener("click", loadStill);
document.getElementById("copy").addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(yamlBox.textContent);  // needs https or localhost
  } catch {
    getSelection().selectAllChildren(yamlBox);
    document.execCommand("copy");
  }
  status.textContent = t("zones.copied");
});
form.addEventListener("change", (event) => {
  if (event.target.name === "kind" || event.target.name === "camera") points = [];
  if (event.target.name === "camera") loadStill();
  update();
});
form.addEventListener("input", (event) => { if (event.target.name === "name") update(); });
form.addEventListener("submit", (event) => event.preventDefault());
still.addEventListener("load", draw);
still.addEventListener("error", () => setTimeout(loadStill, 2000));  // no frame yet: try again
window.addEventListener("resize", draw);
loadStill();
