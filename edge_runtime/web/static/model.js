// The model page's promote action: POST /api/promote with the operator's name, then follow /status until
// the daemon has switched (or rolled back). The daemon restarts its pipeline meanwhile; poll() rides it out.
"use strict";
const OPERATOR_KEY = "adit-operator";  // the events page's: one name for what an operator does
const promoteForm = document.getElementById("promote");
const promoteStatus = document.getElementById("promote-status");

function showPromotion(latest) {
  if (!latest) return;
  const parts = [t(`promote.status.${latest.status}`), latest.candidate, latest.by, latest.reason].filter(Boolean);
  promoteStatus.textContent = `${t("promote.latest")}: ${parts.join(" · ")}`;
  promoteStatus.dataset.status = latest.status;
}

async function promote(button) {
  if (!window.confirm(t("promote.confirm"))) return;
  const by = promoteForm.elements.operator.value.trim();
  localStorage.setItem(OPERATOR_KEY, by);
  button.disabled = true;
  const response = await fetch("/api/promote", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ by }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    promoteStatus.textContent = `${t("promote.refused")}: ${body.error ?? response.status}`;
    promoteStatus.dataset.status = "refused";
    button.disabled = false;
    return;
  }
  showPromotion(body);
}

if (promoteForm) {
  promoteForm.elements.operator.value = localStorage.getItem(OPERATOR_KEY) ?? "";
  const button = document.getElementById("promote-button");
  button.addEventListener("click", () => promote(button));
}
poll(async () => {
  if (promoteStatus.dataset.status === "refused") return;  // keep the refusal on screen
  showPromotion(((await getJSON("/status")).promotion ?? {}).latest);
}, 2000);
