// The feed window: a triage console. Dense rows (newest or most urgent
// first), a detail pane read from the Alert API for the selected alert,
// errors where they happen. Every alert text is untrusted and is only ever
// set with textContent (el() in ipc.js).
import { cmd, events, invoke, listen, el } from "./ipc.js";

const list = document.getElementById("feed");
const empty = document.getElementById("empty");
const filter = document.getElementById("filter");
const minUrgency = document.getElementById("min-urgency");
const sortBy = document.getElementById("sort");
const communityFilter = document.getElementById("community");
const pane = document.getElementById("pane");
const shortcuts = document.getElementById("shortcuts");
let entries = [];
let gaps = [];
let status = null;
/** The uuid of the alert shown in the pane, or null. */
let selected = null;
/** Errors at a row, by entry uuid (or "id:<id>"): { message, link }. */
const rowErrors = new Map();
/** Community uuid -> { label, named }. */
const communities = new Map();

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

/** A compact age for dense rows: "now", "3 min", "2 h", "4 d". */
export function age(iso, now = Date.now()) {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return "";
  const m = Math.floor(Math.max(0, now - then) / 60_000);
  if (m < 1) return "now";
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  return h < 24 ? `${h} h` : `${Math.floor(h / 24)} d`;
}

/** A time as an analyst reads it: "14:02" today, "27 Nov 14:02" before. */
export function clock(iso, now = new Date()) {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return "";
  const hm = t.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  if (t.toDateString() === now.toDateString()) return hm;
  const day = t.toLocaleDateString([], { day: "numeric", month: "short", ...(t.getFullYear() !== now.getFullYear() ? { year: "numeric" } : {}) });
  return `${day} ${hm}`;
}

// Control (U+0085 NEXT LINE among them), line and paragraph separator
// (U+2028, U+2029: mandatory breaks that would forge a line) and
// bidi-override characters (they could hide or reorder text).
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// The same, keeping line feeds (descriptions and comments have paragraphs).
const UNSAFE_BUT_LF = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const MAX_CHARS = 300;
const MAX_LONG = 4000;

function cut(chars, max) {
  return chars.length > max ? `${chars.slice(0, max - 1).join("")}…` : chars.join("");
}

/** Untrusted text made safe to show: no controls, at most MAX_CHARS characters. */
export function clean(text) {
  return cut(Array.from(String(text ?? "").replace(UNSAFE, "")), MAX_CHARS);
}

/** Untrusted paragraphs (description, comment): line feeds kept, capped. */
function cleanLong(text) {
  return cut(Array.from(String(text ?? "").replace(UNSAFE_BUT_LF, "")), MAX_LONG);
}

const KIND_WORDS = { "content-proposal": "Content proposal", "liveapi-frame": "LiveAPI frame", "notifier-test": "Test" };

function titleOf(e) {
  if (e.type === "notifier-test") return "Test alert";
  if (clean(e.title)) return clean(e.title);
  if (e.kind === "case") return e.short_id ? `Case ${clean(e.short_id)}` : "Case";
  if (e.kind === "alert") return e.short_id ? `Alert ${clean(e.short_id)}` : "Alert";
  return clean(`${KIND_WORDS[e.kind] ?? e.kind ?? e.type} ${e.action}`);
}

/** The urgency as a word and a number ("Major 64"), or what stands instead. */
function urgencyText(e) {
  if (e.urgency !== null && e.urgency !== undefined) return `${clean(e.urgency_display) || band(e)} ${e.urgency}`;
  if (e.kind !== "alert") return KIND_WORDS[e.kind] ?? (e.kind === "case" ? "Case" : clean(e.kind));
  // An alert the API does not know says so, once the lookup failed for good.
  if (e.enrich_error) return "Not enriched";
  return e.enriched ? "Urgency unknown" : "Enriching…";
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

/** The alert's own time (else when it arrived). */
function timeOf(e) {
  return e.alert_at || e.received_at;
}

/** At or above the band `min` ("" for all). An unknown urgency (not
 * enriched yet) is never hidden, as with pop-ups. */
function atLeast(e, min) {
  const level = band(e);
  return !min || level === "unknown" || BANDS.indexOf(level) >= BANDS.indexOf(min);
}

function communityLabel(uuid) {
  if (!uuid) return "";
  return communities.get(uuid)?.label ?? uuid.split("-")[0];
}

/** More than one community seen: rows name theirs and the filter shows. */
function manyCommunities() {
  return new Set(entries.map((e) => e.community).filter(Boolean)).size > 1;
}

function matches(e, text, min, community) {
  if (!atLeast(e, min)) return false;
  if (community && e.community !== community) return false;
  if (!text) return true;
  const hay = [titleOf(e), e.short_id, e.rule, e.entity, e.status, e.urgency_display, e.change, communityLabel(e.community)]
    .filter(Boolean).join(" ").toLowerCase();
  return hay.includes(text);
}

function key(e) {
  return e.uuid || `id:${e.id}`;
}

function isPending(e) {
  return e.kind === "alert" && (e.status ?? "").toLowerCase() === "pending";
}

function row(e, showCommunity) {
  const level = band(e);
  const urgency = urgencyText(e);
  const when = timeOf(e);
  const facts = [
    e.short_id ? el("span", { cls: "sid", text: clean(e.short_id) }) : null,
    e.status ? el("span", { cls: "status", text: clean(e.status) }) : null,
    e.entity ? el("span", { text: clean(e.entity) }) : null,
    showCommunity && e.community ? el("span", { cls: "community", text: communityLabel(e.community) }) : null,
    activity(e) ? el("span", { cls: "change", text: activity(e) }) : null,
    e.enrich_error ? el("span", { cls: "problem", text: clean(e.enrich_error) }) : null,
  ].filter(Boolean);
  const li = el("li", {
    cls: `row u-${level}${e.read ? " read" : ""}${selected === key(e) ? " selected" : ""}`,
    attrs: {
      tabindex: "0", "data-id": e.id, "data-uuid": e.uuid,
      "aria-label": `${titleOf(e)}, ${urgency}${e.read ? "" : ", unread"}`,
      ...(selected === key(e) ? { "aria-current": "true" } : {}),
    },
  }, [
    el("span", { cls: "bar", attrs: { "aria-hidden": "true" } }),
    el("span", { cls: "line1" }, [
      el("span", { cls: "dot", attrs: { "aria-hidden": "true" } }),
      el("span", { cls: "urgency", text: urgency }),
      el("span", { cls: "title", text: titleOf(e), attrs: { title: titleOf(e) } }),
      el("span", {
        cls: "when",
        text: `${clock(when)} · ${age(when)}`,
        attrs: { title: `${e.alert_at ? `Raised ${new Date(e.alert_at).toLocaleString()} (${relative(e.alert_at)}); ` : ""}received ${new Date(e.received_at).toLocaleString()}` },
      }),
    ]),
    el("span", { cls: "line2" }, facts.flatMap((f, i) => (i ? [document.createTextNode(" · "), f] : [f]))),
    rowError(e),
    rowActions(e),
  ]);
  li.addEventListener("click", (ev) => { if (!ev.target.closest("button")) select(e); });
  li.addEventListener("dblclick", (ev) => { if (!ev.target.closest("button")) openEntry(e); });
  li.addEventListener("keydown", (ev) => onRowKey(ev, e, li));
  return li;
}

/** The actions shown on hover or focus, over the row's second line. */
function rowActions(e) {
  const buttons = [];
  if (e.url) {
    buttons.push(button("Open", "open", "Open in Sekoia.io (o)", () => openEntry(e)));
    buttons.push(button("Copy link", "copy", "Copy the alert's link (c)", () => copyLink(e)));
  }
  if (isPending(e)) buttons.push(button("Acknowledge", "ack", "Acknowledge in Sekoia.io (a)", (b) => acknowledge(e, b)));
  if (!e.read) buttons.push(button("Read", "mark", "Mark read (r)", () => markRead(e.uuid)));
  return buttons.length ? el("span", { cls: "actions-hover" }, buttons) : null;
}

function button(text, cls, title, onClick) {
  const b = el("button", { text, cls: `secondary small ${cls}`, attrs: { type: "button", title } });
  b.addEventListener("click", (ev) => { ev.stopPropagation(); onClick(b); });
  return b;
}

function rowError(e) {
  const problem = rowErrors.get(key(e));
  if (!problem) return null;
  return el("span", { cls: "row-error", attrs: { role: "alert" } }, [
    document.createTextNode(problem.message),
    problem.link && e.url ? button("Copy link", "copy-link", "Copy the alert's link", () => copyLink(e)) : null,
  ]);
}

/** Alert rows with "no delivery possible" rows at their place in time. */
function interleave(rows, outages, showCommunity) {
  const byEnd = [...outages].sort((a, b) => Date.parse(b.end) - Date.parse(a.end));
  const out = [];
  let g = 0;
  for (const r of rows) {
    while (g < byEnd.length && Date.parse(byEnd[g].end) >= Date.parse(r.received_at)) out.push(gapRow(byEnd[g++]));
    out.push(row(r, showCommunity));
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

function setRowError(e, message, link = false) {
  if (message) rowErrors.set(key(e), { message, link });
  else rowErrors.delete(key(e));
  render();
}

/** Opens the alert page in the browser; only a launch that worked marks it read. */
async function openEntry(e) {
  if (!e.url) return;
  try {
    await invoke(cmd.feedOpen, { id: e.id });
    setRowError(e, null);
    await markRead(e.uuid);
  } catch (err) {
    setRowError(e, err.message, true);
    if (selected === key(e)) paneProblem(err.message, true);
  }
}

/** Copies the alert's link; says so at the row (or why not). */
async function copyLink(e) {
  if (!e.url) return;
  const ok = await copyText(e.url);
  if (ok) flash(`Link to ${clean(e.short_id) || "the alert"} copied`);
  else setRowError(e, `The link could not be copied: ${e.url}`);
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Older WebKit: copy a selected, off-screen text area instead.
    const area = el("textarea", { text, cls: "offscreen", attrs: { readonly: "", "aria-hidden": "true" } });
    document.body.append(area);
    area.select();
    const done = document.execCommand("copy");
    area.remove();
    return done;
  }
}

let flashTimer = null;
/** A short confirmation at the bottom of the window. */
function flash(text) {
  let toast = document.getElementById("toast");
  if (!toast) {
    toast = el("div", { cls: "toast", attrs: { id: "toast", role: "status" } });
    document.body.append(toast);
  }
  toast.textContent = text;
  toast.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { toast.hidden = true; }, 2500);
}

async function acknowledge(e, b) {
  if (b) b.disabled = true;
  try {
    await invoke(cmd.feedAcknowledge, { uuid: e.uuid });
    setRowError(e, null);
    if (selected === key(e)) loadDetail(e, true);
  } catch (err) {
    setRowError(e, err.message);
    if (b) b.disabled = false;
  }
}

async function markRead(uuid) {
  try { await invoke(cmd.feedMarkRead, { uuid }); } catch (err) { showWarning(err.message); }
}

function onRowKey(ev, e, li) {
  if (ev.target !== li || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const keys = {
    Enter: () => select(e),
    " ": () => select(e),
    o: () => openEntry(e),
    c: () => copyLink(e),
    r: () => markRead(e.uuid),
    a: () => { if (isPending(e)) acknowledge(e, li.querySelector(".ack")); },
    ArrowDown: () => move(li, "nextElementSibling"),
    j: () => move(li, "nextElementSibling"),
    ArrowUp: () => { if (!move(li, "previousElementSibling")) filter.focus(); },
    k: () => { if (!move(li, "previousElementSibling")) filter.focus(); },
  };
  const run = keys[ev.key];
  if (run) { ev.preventDefault(); run(); }
}

/** Focuses the next row up or down (skipping notes); with the pane open,
 * the pane follows. Returns whether there was one. */
function move(li, direction) {
  let node = li[direction];
  while (node && !node.classList.contains("row")) node = node[direction];
  if (!node) return false;
  node.focus();
  node.scrollIntoView({ block: "nearest" });
  if (selected) {
    const e = entries.find((x) => String(x.id) === node.dataset.id);
    if (e) select(e, { keepFocus: true });
  }
  return true;
}

function sorted(rows) {
  if (sortBy.value === "urgency") {
    const rank = (e) => (e.urgency ?? -1);
    return [...rows].sort((a, b) => rank(b) - rank(a) || Date.parse(timeOf(b)) - Date.parse(timeOf(a)));
  }
  return [...rows].sort((a, b) => Date.parse(timeOf(b)) - Date.parse(timeOf(a)) || b.id - a.id);
}

function render() {
  const focusedId = document.activeElement?.closest?.(".row")?.dataset?.id;
  const text = filter.value.trim().toLowerCase();
  const many = manyCommunities();
  renderCommunities(many);
  // The engine already gives one row per alert or case (store::FeedEntry).
  const rows = sorted(entries.filter((e) => matches(e, text, minUrgency.value, many ? communityFilter.value : "")));
  list.setAttribute("aria-label", sortBy.value === "urgency" ? "Alerts, most urgent first" : "Alerts, newest first");
  list.replaceChildren(...(sortBy.value === "newest" ? interleave(rows, gaps, many) : rows.map((r) => row(r, many))));
  if (focusedId) list.querySelector(`[data-id="${CSS.escape(focusedId)}"]`)?.focus({ preventScroll: true });
  renderEmpty(entries.length === 0, rows.length === 0);
}

function renderCommunities(many) {
  communityFilter.hidden = !many;
  if (!many) return;
  const seen = [...new Set(entries.map((e) => e.community).filter(Boolean))];
  const current = communityFilter.value;
  communityFilter.replaceChildren(
    el("option", { text: "All communities", attrs: { value: "" } }),
    ...seen.map((u) => el("option", { text: communityLabel(u), attrs: { value: u } })),
  );
  communityFilter.value = seen.includes(current) ? current : "";
}

/** Reads the names of communities not named yet (cached by the shell). */
async function nameCommunities() {
  const unknown = [...new Set(entries.map((e) => e.community).filter((u) => u && !communities.get(u)?.named))];
  if (unknown.length === 0 || !manyCommunities()) return;
  try {
    for (const c of await invoke(cmd.feedCommunities, { uuids: unknown })) communities.set(c.uuid, { label: clean(c.label), named: c.named });
    render();
  } catch { /* labels stay the uuids' first blocks */ }
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

// ---- The detail pane ----

let detailTimer = null;
let detailSeq = 0;

/** Shows entry `e` in the pane: its feed facts at once, the Alert API's
 * answer when it comes (debounced while moving through the list). */
function select(e, { keepFocus = false } = {}) {
  selected = key(e);
  document.body.classList.add("with-pane");
  for (const r of list.querySelectorAll(".row.selected")) { r.classList.remove("selected"); r.removeAttribute("aria-current"); }
  const li = list.querySelector(`.row[data-id="${CSS.escape(String(e.id))}"]`);
  li?.classList.add("selected");
  li?.setAttribute("aria-current", "true");
  paneFrom(e, null);
  pane.hidden = false;
  if (!keepFocus && !li) pane.focus();
  clearTimeout(detailTimer);
  if (e.kind === "alert" && e.uuid) detailTimer = setTimeout(() => loadDetail(e, false), keepFocus ? 200 : 0);
}

function closePane() {
  const was = selected;
  selected = null;
  pane.hidden = true;
  document.body.classList.remove("with-pane");
  for (const r of list.querySelectorAll(".row.selected")) { r.classList.remove("selected"); r.removeAttribute("aria-current"); }
  const e = entries.find((x) => key(x) === was);
  if (e) list.querySelector(`.row[data-id="${CSS.escape(String(e.id))}"]`)?.focus();
}

async function loadDetail(e, refresh) {
  const seq = ++detailSeq;
  try {
    const detail = await invoke(cmd.feedDetail, { uuid: e.uuid, refresh });
    if (seq === detailSeq && selected === key(e)) paneFrom(currentEntry(e), detail);
  } catch (err) {
    if (seq === detailSeq && selected === key(e)) paneFrom(currentEntry(e), { alert_error: err.message, actions: [], comments: [], comments_total: 0 });
  }
}

/** The entry as the feed has it now (its status may have changed). */
function currentEntry(e) {
  return entries.find((x) => key(x) === key(e)) ?? e;
}

function fact(label, value, cls) {
  if (value === null || value === undefined || value === "") return [];
  return [el("dt", { text: label }), el("dd", { text: String(value), cls })];
}

/** A full time in the pane, 24-hour like the rows: "29 Nov 2026, 18:11:22". */
const FULL_TIME = { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" };

function epochText(secs) {
  return typeof secs === "number" ? new Date(secs * 1000).toLocaleString([], FULL_TIME) : "";
}

function isoText(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? "" : new Date(t).toLocaleString([], FULL_TIME);
}

/** Fills the pane for entry `e`; `detail` is the Alert API's answer
 * (`triage::detail::Detail`), null while it is being read. */
function paneFrom(e, detail) {
  const a = detail?.alert?.alert ?? null;
  const rec = detail?.alert ?? null;
  const level = detail?.band ?? band(e);
  const urgencyValue = a?.urgency?.current_value ?? a?.urgency?.value ?? e.urgency;
  const urgencyWord = clean(a?.urgency?.display) || clean(e.urgency_display) || (BANDS.includes(level) ? level : "");
  const urgency = urgencyValue === null || urgencyValue === undefined ? urgencyText(e) : `${urgencyWord} ${urgencyValue}`;
  const title = clean(a?.title) || titleOf(e);
  const statusName = clean(a?.status?.name) || clean(e.status);
  const close = el("button", { text: "×", cls: "secondary small close", attrs: { type: "button", title: "Close (Esc)", "aria-label": "Close the details" } });
  close.addEventListener("click", closePane);

  const head = el("div", { cls: `pane-head u-${BANDS.includes(level) ? level : "unknown"}` }, [
    el("div", { cls: "pane-title" }, [
      el("span", { cls: "chip urgency", text: urgency }),
      el("h2", { text: title }),
      close,
    ]),
    el("div", { cls: "pane-sub" }, [
      e.short_id ? el("span", { cls: "sid", text: clean(e.short_id) }) : null,
      statusName ? el("span", { cls: "status", text: ` · ${statusName}` }) : null,
      e.community ? el("span", { cls: "community", text: ` · ${communityLabel(e.community)}` }) : null,
    ]),
  ]);

  const actions = el("div", { cls: "pane-actions" });
  const comment = el("textarea", { attrs: { id: "action-comment", rows: "2", placeholder: "Comment (optional), sent with the action", "aria-label": "Comment sent with the action", maxlength: "2000" } });
  const workflow = el("div", { cls: "workflow" });
  if (detail && !detail.alert_error) {
    for (const action of detail.actions ?? []) {
      const b = el("button", { text: clean(action.name), cls: "action", attrs: { type: "button", "data-action": action.id } });
      b.addEventListener("click", () => runAction(e, action, b, comment));
      workflow.append(b);
    }
    if ((detail.actions ?? []).length === 0 && !detail.actions_error) workflow.append(el("span", { cls: "muted", text: "No workflow action applies to this status." }));
    if (detail.actions_error) workflow.append(el("span", { cls: "problem", text: `Actions unavailable: ${clean(detail.actions_error)}` }));
  } else if (!detail && e.kind === "alert") {
    workflow.append(el("span", { cls: "muted", text: "Reading the actions Sekoia.io offers…" }));
  }
  const links = el("div", { cls: "links" }, [
    e.url ? button("Open in Sekoia.io", "open-pane", "Open in Sekoia.io (o)", () => openEntry(e)) : null,
    e.url ? button("Copy link", "copy-pane", "Copy the alert's link (c)", () => copyLink(e)) : null,
    !e.read ? button("Mark read", "read-pane", "Mark read (r)", () => markRead(e.uuid)) : null,
  ]);
  actions.append(workflow);
  if (detail?.actions?.length) actions.append(comment);
  actions.append(links, el("div", { cls: "pane-problem", attrs: { role: "alert", id: "pane-problem" } }));

  const facts = el("dl", { cls: "facts" }, [
    ...fact("Status", statusName),
    ...fact("Urgency", urgency, `u-text u-${level}`),
    ...fact("Rule", clean(a?.rule?.name) || clean(e.rule)),
    ...fact("Entity", clean(a?.entity?.name) || clean(e.entity)),
    ...fact("Type", [clean(a?.alert_type?.category), clean(a?.alert_type?.value)].filter(Boolean).join(" / ")),
    ...fact("Source", clean(a?.source)),
    ...fact("Target", clean(a?.target)),
    ...fact("Community", e.community ? communityLabel(e.community) : ""),
    ...fact("Raised", a?.created_at ? epochText(a.created_at) : (e.alert_at ? isoText(e.alert_at) : "")),
    ...fact("First seen", isoText(a?.first_seen_at)),
    ...fact("Last seen", isoText(rec?.last_seen_at)),
    ...fact("Occurrences", a?.similar ?? e.occurrences),
    ...fact("Received", isoText(e.received_at)),
  ]);

  const parts = [head, actions];
  if (!detail && e.kind === "alert") parts.push(el("p", { cls: "muted loading", text: "Reading the alert from Sekoia.io…" }));
  if (detail?.alert_error) parts.push(el("p", { cls: "problem", attrs: { id: "alert-error" }, text: clean(detail.alert_error) }));
  else if (e.enrich_error && !detail) parts.push(el("p", { cls: "problem", text: clean(e.enrich_error) }));
  parts.push(facts);
  if (rec?.description) parts.push(el("h3", { text: "Description" }), el("p", { cls: "prose", text: cleanLong(rec.description) }));
  if (rec?.history?.length) {
    parts.push(el("h3", { text: "Status history" }), el("ol", { cls: "history" }, rec.history.slice(0, 20).map((h) => el("li", {}, [
      el("span", { cls: "when", text: epochText(h.at) }),
      el("span", { text: h.previous ? ` ${clean(h.previous)} → ${clean(h.status)}` : ` ${clean(h.status) || "changed"}` }),
      h.by_type ? el("span", { cls: "muted", text: ` (by ${clean(h.by_type)})` }) : null,
      h.comment ? el("div", { cls: "prose small", text: cleanLong(h.comment) }) : null,
    ]))));
  }
  if (detail && !detail.alert_error) {
    const heading = detail.comments_total > detail.comments.length
      ? `Latest comments (${detail.comments.length} of ${detail.comments_total})`
      : "Comments";
    parts.push(el("h3", { text: heading }));
    if (detail.comments_error) parts.push(el("p", { cls: "problem", text: `Comments unavailable: ${clean(detail.comments_error)}` }));
    else if (detail.comments.length === 0) parts.push(el("p", { cls: "muted", text: "No comments." }));
    else parts.push(el("ul", { cls: "comments" }, detail.comments.map((c) => el("li", {}, [
      el("div", { cls: "muted" }, [
        el("span", { cls: "author", text: author(c) }),
        el("span", { text: ` · ${epochText(c.date)}` }),
      ]),
      el("div", { cls: "prose", text: cleanLong(c.content) }),
    ]))));
  }
  const problem = rowErrors.get(key(e));
  pane.replaceChildren(...parts);
  if (problem) paneProblem(problem.message, problem.link);
}

/** A comment's author in words: a name as given, else what wrote it and
 * the first block of its id ("API key f93a35e0"). */
function author(c) {
  const words = { user: "User", apikey: "API key", avatar: "Avatar", application: "Sekoia.io" };
  const text = clean(c.author);
  const m = /^(?:(user|apikey|avatar|application):)?([0-9a-f]{8})-[0-9a-f-]{27}$/i.exec(text);
  if (!m) return text || "Someone";
  const kind = m[1] || c.created_by_type;
  return `${words[kind] ?? "User"} ${m[2]}`;
}

function paneProblem(message, withLink) {
  const box = pane.querySelector("#pane-problem");
  if (!box) return;
  box.textContent = message ?? "";
  const e = entries.find((x) => key(x) === selected);
  if (withLink && message && e?.url) box.append(document.createTextNode(" "), button("Copy link", "copy-problem", "Copy the alert's link", () => copyLink(e)));
}

async function runAction(e, action, b, comment) {
  for (const x of pane.querySelectorAll(".workflow button")) x.disabled = true;
  paneProblem(`${clean(action.name)}…`);
  try {
    const detail = await invoke(cmd.feedAction, { uuid: e.uuid, action: action.id, comment: comment.value.trim() || null });
    setRowError(e, null);
    await markRead(e.uuid);
    if (selected === key(e)) {
      paneFrom(currentEntry(e), detail);
      flash(`${clean(action.name)}: done in Sekoia.io`);
    }
  } catch (err) {
    setRowError(e, err.message);
    for (const x of pane.querySelectorAll(".workflow button")) x.disabled = false;
    paneProblem(err.message);
  }
}

// ---- Status, banners, wiring ----

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
  document.getElementById("mark-all").disabled = s.unread === 0;
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
    nameCommunities();
    // The pane follows the feed (a status changed, an action elsewhere).
    const shown = entries.find((x) => key(x) === selected);
    if (shown && !pane.contains(document.activeElement)) {
      const head = pane.querySelector(".pane-sub .status");
      if (head && shown.status && !head.textContent.includes(clean(shown.status))) loadDetail(shown, true);
    }
  } catch (err) {
    showWarning(err.message);
  }
}

document.getElementById("mark-all").addEventListener("click", () => markRead(null));
document.getElementById("help").addEventListener("click", () => shortcuts.showModal());
filter.addEventListener("input", render);
minUrgency.addEventListener("change", render);
sortBy.addEventListener("change", render);
communityFilter.addEventListener("change", render);
filter.addEventListener("keydown", (ev) => {
  if (ev.key === "ArrowDown") { ev.preventDefault(); list.querySelector(".row")?.focus(); }
  if (ev.key === "Escape") { filter.value = ""; render(); list.querySelector(".row")?.focus(); }
});
pane.addEventListener("keydown", (ev) => { if (ev.key === "Escape") { ev.preventDefault(); closePane(); } });

/** Window-wide keys, outside text fields. */
document.addEventListener("keydown", (ev) => {
  const typing = ev.target.closest?.("input, textarea, select");
  if (typing || ev.ctrlKey || ev.metaKey || ev.altKey || shortcuts.open) return;
  if (ev.key === "?") { ev.preventDefault(); shortcuts.showModal(); }
  else if (ev.key === "/") { ev.preventDefault(); filter.focus(); }
  else if (ev.key === "s") { ev.preventDefault(); sortBy.value = sortBy.value === "newest" ? "urgency" : "newest"; render(); }
  else if (ev.key === "Escape" && selected) { ev.preventDefault(); closePane(); }
  else if ((ev.key === "j" || ev.key === "ArrowDown") && !ev.target.closest?.(".row")) { ev.preventDefault(); list.querySelector(".row")?.focus(); }
  else if (selected && !ev.target.closest?.(".row") && ["o", "c", "r"].includes(ev.key)) {
    const e = entries.find((x) => key(x) === selected);
    if (!e) return;
    ev.preventDefault();
    if (ev.key === "o") openEntry(e); else if (ev.key === "c") copyLink(e); else markRead(e.uuid);
  }
});

listen(events.feedChanged, (s) => { showStatus(s); refresh(); });
listen(events.statusChanged, (s) => { showStatus(s); render(); });
invoke(cmd.appStatus).then(showStatus).catch(() => {}).finally(refresh);
// Relative times age: redraw every minute (cheap, no polling of the engine).
setInterval(render, 60_000);
