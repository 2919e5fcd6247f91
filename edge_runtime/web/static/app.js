// Shared by every page: translations, JSON fetching, small DOM helpers. No framework, no build step.
"use strict";
const MESSAGES = JSON.parse(document.getElementById("messages").textContent);
const t = (key) => MESSAGES[key] ?? key;

async function getJSON(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 90) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function fmtTime(iso) {
  const moment = new Date(iso);
  return moment.toLocaleString(document.documentElement.lang, { hour12: false });
}

function stateBadge(state, conditions = []) {
  // a condition that is the state's own word (no frames, model failing) is not said twice
  const text = [...new Set([t(`state.${state}`), ...conditions.map((c) => t(`cond.${c}`))])].join(" · ");
  return el("span", { class: `badge state-${state}` }, text);
}

// Poll fn every ms while the page is visible; errors show in the header instead of stopping the loop.
function poll(fn, ms) {
  const run = async () => {
    if (!document.hidden) {
      try {
        await fn();
        document.body.classList.remove("stale");
      } catch (error) {
        document.body.classList.add("stale");
        console.warn(error);
      }
    }
    setTimeout(run, ms);
  };
  run();
}
