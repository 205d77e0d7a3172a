// The feed window: recent alerts, newest first, updated live.
// Every alert text is untrusted and is only ever set with textContent.
import { cmd, events, invoke, listen, el } from "./ipc.js";

const list = document.getElementById("feed");
const empty = document.getElementById("empty");
const filter = document.getElementById("filter");
const minUrgency = document.getElementById("min-urgency");
let entries = [];
let gaps = [];
let status = null;

/** Sekoia.io's five urgency bands, least urgent first. Their cut points
 * live in core only: each entry comes with its `urgency_band`. */
export const BANDS = ["low", "moderate", "high", "major", "urgent"];

/** An entry's band ("low" to "urgent"), or "unknown". */
export function band(e) {
  return BANDS.includes(e.urgency_band) ? e.urgency_band : "unknown";
}

export function relative(iso, now = Date.now()) {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return "";
  const s = Math.max(0, Math.round((now - then) / 1000));
  if (s < 45) return "just now";
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h ago`;
  const d = Math.round(h / 24);
  return d === 1 ? "yesterday" : `${d} days ago`;
}

// Control and bidi-override characters (they could hide or reorder text).
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const MAX_CHARS = 300;

/** Untrusted text made safe to show: no controls, at most MAX_CHARS characters. */
export function clean(text) {
  const chars = Array.from(String(text ?? "").replace(UNSAFE, ""));
  return chars.length > MAX_CHARS ? `${chars.slice(0, MAX_CHARS - 1).join("")}…` : chars.join("");
}

const KIND_WORDS = { "content-proposal": "Content proposal", "liveapi-frame": "LiveAPI frame", "notifier-test": "Test" };

function titleOf(e) {
  if (e.type === "notifier-test") return "Test alert";
  if (clean(e.title)) return clean(e.title);
  if (e.kind === "case") return e.short_id ? `Case ${clean(e.short_id)}` : "Case";
  if (e.kind === "alert") return e.short_id ? `Alert ${clean(e.short_id)}` : "Alert";
  return clean(`${KIND_WORDS[e.kind] ?? e.kind ?? e.type} ${e.action}`);
}

/** What changed last, occurrences and comments, in words. */
function activity(e) {
  const parts = [];
  if (e.change) parts.push(clean(e.change));
  if (e.occurrences > 1 && !(e.change ?? "").includes("occurrence")) parts.push(`${e.occurrences} occurrences`);
  if (e.comments > 0) parts.push(e.comments === 1 ? "1 comment" : `${e.comments} comments`);
  if (e.kind === "case" && e.priority) parts.push(`priority ${clean(e.priority)}`);
  return parts.join(" · ");
}

/** At or above the band `min` ("" for all). An unknown urgency (not
 * enriched yet) is never hidden, as with pop-ups. */
function atLeast(e, min) {
  const level = band(e);
  return !min || level === "unknown" || BANDS.indexOf(level) >= BANDS.indexOf(min);
}

function matches(e, text, min) {
  if (!atLeast(e, min)) return false;
  if (!text) return true;
  const hay = [titleOf(e), e.short_id, e.rule, e.entity, e.status, e.urgency_display, e.change]
    .filter(Boolean).join(" ").toLowerCase();
  return hay.includes(text);
}

function row(e) {
  const level = band(e);
  const urgency = e.urgency === null || e.urgency === undefined
    ? (e.kind !== "alert" ? (KIND_WORDS[e.kind] ?? (e.kind === "case" ? "Case" : clean(e.kind))) : e.enriched ? "Urgency unknown" : "Not enriched yet")
    : `${clean(e.urgency_display) || level} ${e.urgency}`;
  const meta = [e.status, e.rule, e.entity].filter(Boolean).map(clean).join(" · ");
  const change = activity(e);
  const li = el("li", {
    cls: `row u-${level}${e.read ? " read" : ""}`,
    attrs: { tabindex: "0", "data-id": e.id, "data-uuid": e.uuid, "aria-label": `${titleOf(e)}, ${urgency}` },
  }, [
    el("span", { cls: "bar", attrs: { "aria-hidden": "true" } }),
    el("span", { cls: "title" }, [el("span", { cls: "dot", attrs: { "aria-hidden": "true" } }), document.createTextNode(titleOf(e))]),
    el("span", { cls: "when", text: relative(e.received_at), attrs: { title: e.received_at } }),
    el("span", { cls: "meta" }, [
      el("span", { cls: "urgency", text: urgency }),
      meta ? document.createTextNode(` · ${meta}`) : null,
      change ? el("span", { cls: "change", text: ` · ${change}` }) : null,
      e.enrich_error ? el("span", { text: ` · ${clean(e.enrich_error)}` }) : null,
    ]),
  ]);
  if (e.kind === "alert" && (e.status ?? "").toLowerCase() === "pending") {
    const ack = el("button", { text: "Acknowledge", cls: "secondary ack", attrs: { type: "button", title: "Acknowledge in Sekoia.io (a)" } });
    ack.addEventListener("click", (ev) => { ev.stopPropagation(); acknowledge(e, ack); });
    li.append(ack);
  }
  li.addEventListener("click", () => openEntry(e));
  li.addEventListener("keydown", (ev) => onRowKey(ev, e, li));
  return li;
}

/** Alert rows with "no delivery possible" rows at their place in time. */
function interleave(rows, outages) {
  const byEnd = [...outages].sort((a, b) => Date.parse(b.end) - Date.parse(a.end));
  const out = [];
  let g = 0;
  for (const r of rows) {
    while (g < byEnd.length && Date.parse(byEnd[g].end) >= Date.parse(r.received_at)) out.push(gapRow(byEnd[g++]));
    out.push(row(r));
  }
  while (g < byEnd.length) out.push(gapRow(byEnd[g++]));
  return out;
}

function gapRow(gap) {
  const from = new Date(gap.start).toLocaleString();
  const to = gap.ongoing ? "now" : new Date(gap.end).toLocaleString();
  return el("li", { cls: "gap", attrs: { role: "note" } }, [
    el("span", { text: `No webhook delivery possible from ${from} to ${to}` }),
    el("span", { cls: "why", text: ` (${clean(gap.reason)}); missed alerts are caught up from the API.` }),
  ]);
}

async function openEntry(e) {
  await markRead(e.uuid);
  if (e.url) {
    try { await invoke(cmd.feedOpen, { id: e.id }); } catch (err) { showWarning(err.message); }
  }
}

async function acknowledge(e, button) {
  if (button) button.disabled = true;
  try {
    await invoke(cmd.feedAcknowledge, { uuid: e.uuid });
  } catch (err) {
    showWarning(err.message);
    if (button) button.disabled = false;
  }
}

async function markRead(uuid) {
  try { await invoke(cmd.feedMarkRead, { uuid }); } catch (err) { showWarning(err.message); }
}

function onRowKey(ev, e, li) {
  if (ev.key === "Enter") { ev.preventDefault(); openEntry(e); }
  else if (ev.key === "r") { ev.preventDefault(); markRead(e.uuid); }
  else if (ev.key === "a" && li.querySelector(".ack")) { ev.preventDefault(); acknowledge(e, li.querySelector(".ack")); }
  else if (ev.key === "ArrowDown" || ev.key === "j") { ev.preventDefault(); sibling(li, "nextElementSibling")?.focus(); }
  else if (ev.key === "ArrowUp" || ev.key === "k") { ev.preventDefault(); (sibling(li, "previousElementSibling") ?? filter).focus(); }
}

/** The next alert row up or down, skipping "no delivery" notes. */
function sibling(li, direction) {
  let node = li[direction];
  while (node && !node.classList.contains("row")) node = node[direction];
  return node;
}

function render() {
  const focusedId = document.activeElement?.dataset?.id;
  const text = filter.value.trim().toLowerCase();
  const min = minUrgency.value;
  // The engine already gives one row per alert or case (store::FeedEntry).
  const rows = entries.filter((e) => matches(e, text, min));
  list.replaceChildren(...interleave(rows, gaps));
  if (focusedId) list.querySelector(`[data-id="${CSS.escape(focusedId)}"]`)?.focus();
  renderEmpty(entries.length === 0, rows.length === 0);
}

function renderEmpty(noEvents, noRows) {
  empty.hidden = !noRows;
  if (!noRows) return;
  if (!noEvents) {
    empty.replaceChildren(el("p", { text: "No alert matches the filter." }));
    return;
  }
  const url = status?.webhook_url;
  empty.replaceChildren(
    el("p", { text: "No alerts yet. To receive them:" }),
    el("ol", {}, [
      el("li", { text: status?.key?.stored ? "API key: stored." : "Add your Sekoia.io API key in Settings, so alerts show their title and urgency." }),
      el("li", {}, [
        document.createTextNode("In Sekoia.io, open Settings > Notifications, create a notification with the Webhook action, and paste the webhook URL"),
        url ? document.createTextNode(": ") : document.createTextNode(" shown in Settings."),
        url ? el("code", { cls: "url", text: url }) : null,
      ]),
      el("li", { text: "Check the whole path with “Send test alert” in the tray menu." }),
    ]),
    el("button", { text: "Open settings", attrs: { type: "button", id: "open-settings" } }),
  );
  empty.querySelector("#open-settings").addEventListener("click", () => invoke(cmd.appOpenSettings).catch(() => {}));
}

function showWarning(text) {
  const w = document.getElementById("warning");
  w.textContent = text ?? "";
  w.hidden = !text;
}

function showStatus(s) {
  status = s;
  const badge = document.getElementById("unread");
  badge.textContent = String(s.unread);
  badge.hidden = s.unread === 0;
  showWarning(s.warning);
  const paused = document.getElementById("paused");
  if (s.paused_until) {
    const held = s.paused_hold === "everything" ? "All pop-ups, Urgent ones too, are held back" : "Urgent alerts still pop up";
    const resume = el("button", { text: "Resume", cls: "secondary", attrs: { type: "button", id: "resume" } });
    resume.addEventListener("click", () => {
      resume.disabled = true;
      invoke(cmd.feedResume).catch((err) => { showWarning(err.message); resume.disabled = false; });
    });
    paused.replaceChildren(
      document.createTextNode(`Pop-ups paused until ${new Date(s.paused_until).toLocaleString()}. ${held}; the feed still fills.`),
      resume,
    );
  } else {
    paused.replaceChildren();
  }
  paused.hidden = !s.paused_until;
}

async function refresh() {
  try {
    [entries, gaps] = await Promise.all([
      invoke(cmd.feedList, { limit: 500 }),
      invoke(cmd.feedGaps).catch(() => []),
    ]);
    render();
  } catch (err) {
    showWarning(err.message);
  }
}

document.getElementById("mark-all").addEventListener("click", () => markRead(null));
filter.addEventListener("input", render);
minUrgency.addEventListener("change", render);
filter.addEventListener("keydown", (ev) => {
  if (ev.key === "ArrowDown") { ev.preventDefault(); list.querySelector(".row")?.focus(); }
});

listen(events.feedChanged, (s) => { showStatus(s); refresh(); });
listen(events.statusChanged, (s) => { showStatus(s); render(); });
invoke(cmd.appStatus).then(showStatus).catch(() => {}).finally(refresh);
// Relative times age: redraw every minute (cheap, no polling of the engine).
setInterval(render, 60_000);
