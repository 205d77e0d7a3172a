// The settings window, in first-run order: region, API key, how Sekoia.io
// reaches this app, pop-ups, forwarders, start at login. One Save (the
// button, or Enter in any field) applies the form, then the key (checked
// against the region just saved), then Start at login. The API key field
// is write-only: the key goes to Rust (and the OS keyring), never back.
import { cmd, events, invoke, listen, el } from "./ipc.js";

const $ = (id) => document.getElementById(id);
/** The events a pop-up can follow, in words. */
const EVENT_WORDS = {
  "alert:created": "New alert",
  "alert:updated": "Alert updated (status, urgency, occurrences)",
  "alert-comment:created": "New comment on an alert",
  "alert:deleted": "Alert deleted",
  "case:created": "New case",
  "content-proposal:created": "New content proposal (detection rule suggestion)",
};
const KNOWN_EVENTS = ["alert:created", "alert:updated", "alert:deleted", "content-proposal:created"];
const TEXT_FIELDS = ["api_url", "app_url", "port", "remind_minutes", "public_url", "command", "server", "domain", "liveapi_url", "keep_days"];
const URGENCY_FIELDS = ["min_urgency", "always_popup_urgency"];
const BANDS = ["urgent", "major", "high", "moderate", "low"];
/** Sekoia.io's bands and where each starts (DESIGN.md §4). */
const BAND_STARTS = [["0", "Low and above (0+)"], ["20", "Moderate and above (20+)"], ["40", "High and above (40+)"], ["60", "Major and above (60+)"], ["80", "Urgent only (80+)"]];
const welcomeAsked = new URLSearchParams(location.search).get("welcome") === "1";
let extraEvents = [];
let regions = [];
/** The form as last loaded or saved: Save skips an unchanged form. */
let saved = null;
let autostartSaved = null;
let lastStatus = null;

/** Fills an urgency select; a value that is no band start stays, as a number. */
function urgencyOptions(select, value) {
  const v = String(value ?? "");
  const options = BAND_STARTS.map(([n, text]) => el("option", { text, attrs: { value: n } }));
  if (v !== "" && !BAND_STARTS.some(([n]) => n === v)) options.push(el("option", { text: `${v} (custom)`, attrs: { value: v } }));
  select.replaceChildren(...options);
  select.value = v === "" ? "0" : v;
}

function regionWords(name) {
  const r = regions.find((x) => x.name === name);
  return r ? `${r.name} · ${r.app_host}` : name;
}

function fill(view) {
  const f = view.form;
  regions = view.regions;
  $("region").replaceChildren(
    ...view.regions.map((r) => el("option", { text: `${r.name} · ${r.app_host}`, attrs: { value: r.name } })),
    el("option", { text: "custom (my own URLs)", attrs: { value: "custom" } }),
  );
  $("region").value = f.region;
  for (const name of TEXT_FIELDS) $(name).value = f[name] ?? "";
  for (const name of URGENCY_FIELDS) urgencyOptions($(name), f[name]);
  $("tunnel_kind").value = f.tunnel_kind;
  $("connection").value = f.connection || "webhook";
  $("resident_urgent").checked = f.resident_urgent !== false;
  for (const band of BANDS) $(`sound-${band}`).value = f.sound?.[band] ?? "";
  extraEvents = f.events.filter((e) => !KNOWN_EVENTS.includes(e));
  $("events").replaceChildren(...[...KNOWN_EVENTS, ...extraEvents].map((name) =>
    el("label", { attrs: { title: name } }, [
      el("input", { attrs: { type: "checkbox", value: name, ...(f.events.includes(name) ? { checked: "" } : {}) } }),
      document.createTextNode(` ${EVENT_WORDS[name] ?? name}`),
    ])));
  showForwards(view.forwards);
  $("autostart").checked = view.autostart === true;
  $("autostart").disabled = view.autostart === null;
  autostartSaved = view.autostart === true;
  $("config-file").textContent = `Saved to ${view.config_file}`;
  toggle();
  saved = JSON.stringify(collect());
  showStatus(view.status);
}

function showForwards(forwards) {
  $("forwards").replaceChildren(...forwards.map((f) => {
    const st = f.status;
    const state = st
      ? `${st.name}: ${st.health}; ${st.sent} sent, ${st.queued} queued, ${st.failed} failed${st.last_failure ? ` (last error: ${st.last_failure.error})` : ""}`
      : f.kind;
    const remove = el("button", { text: "Remove", cls: "secondary small", attrs: { type: "button", "data-index": f.index } });
    remove.addEventListener("click", async () => {
      try { showForwards((await invoke(cmd.settingsRemoveForward, { index: f.index })).forwards); } catch (err) { forwardError(err); }
    });
    const events = f.events.map((e) => EVENT_WORDS[e] ?? e).join(", ");
    return el("li", { cls: "forward", attrs: { "data-index": f.index } }, [
      el("span", { text: `${state} · ${events} · from urgency ${f.min_urgency} · URL in the ${f.url_in}` }),
      f.url_in === "keyring" ? remove : null,
    ]);
  }));
}

function forwardError(err) {
  for (const id of ["f-forward_kind", "f-forward_url", "f-forward_min_urgency", "f-forward_events"]) {
    $(id).querySelector(".error").textContent = "";
  }
  const box = $(`f-${err.field}`) ?? $("f-forward_url");
  box.querySelector(".error").textContent = err.message;
}

/** The API host the key is (or will be) checked against. */
function apiHost() {
  const name = $("region").value;
  if (name === "custom") {
    try { return new URL($("api_url").value).host; } catch { return "the custom API URL"; }
  }
  const r = regions.find((x) => x.name === name);
  try { return r ? new URL(r.api_url).host : name; } catch { return name; }
}

function regionChanged() {
  return saved !== null && JSON.parse(saved).region !== $("region").value;
}

function keyWords(k) {
  if (!k.stored) return "No key stored yet.";
  let text = `A key is stored (${k.source ?? "keyring"}).`;
  if (regionChanged()) return `${text} It will be checked against ${apiHost()} when you save.`;
  if (!k.checked_at) return `${text} Checking it with ${apiHost()}…`;
  const when = new Date(k.checked_at).toLocaleString();
  text += k.accepted === true ? ` Checked ${when} with ${apiHost()}: accepted.` : ` Checked ${when} with ${apiHost()}: ${k.problem ?? "not verified"}`;
  return text;
}

/** A path in works: a self-test passed, or the LiveAPI is connected. */
function pathWorks(s) {
  const h = s.health;
  return Boolean(h && (h.selftest?.ok || h.liveapi?.state === "connected"));
}

function showStatus(s) {
  lastStatus = s;
  const k = s.key;
  $("key-state").textContent = keyWords(k);
  $("key-state").className = `help${k.accepted === false ? " bad" : k.accepted === true ? " ok" : ""}`;
  $("api-key").placeholder = k.stored ? "Paste a new key to replace the stored one" : "Paste your Sekoia.io API key, then Enter";
  $("webhook-url").value = s.webhook_url ?? "";
  $("copy").dataset.url = s.webhook_url ?? "";
  $("webhook-note").textContent = s.webhook_local
    ? "This URL works only on this machine: choose a tunnel (or a public URL) so Sekoia.io can reach it."
    : "Sekoia.io posts alerts to this URL.";
  const h = s.health;
  $("tunnel-state").textContent = h ? `Tunnel: ${tunnelWords(h.tunnel)}` : "";
  $("selftest-state").textContent = h?.selftest
    ? `Last self-test ${new Date(h.selftest.at).toLocaleString()}: ${h.selftest.ok ? "passed" : "failed"} (${h.selftest.message})`
    : "No self-test yet.";
  $("liveapi-state").textContent = h && h.liveapi && h.liveapi.state !== "off" ? `LiveAPI: ${liveWords(h.liveapi)}` : "";
  // The welcome leaves once a key is stored and a path in works.
  $("welcome").hidden = !welcomeAsked || (k.stored && pathWorks(s));
  // Key problems are said at the key field; this window is the settings,
  // so no banner sends the user to them.
  const keyProblems = new Set([k.problem].filter(Boolean));
  const banner = (s.warnings ?? [s.warning]).filter((w) => w && !keyProblems.has(w) && !/^No API key/.test(w));
  $("warning").textContent = banner.join(" ");
  $("warning").hidden = banner.length === 0;
}

function liveWords(l) {
  switch (l.state) {
    case "connecting": return "connecting…";
    case "connected": return `connected since ${new Date(l.since).toLocaleString()}`;
    case "reconnecting": return `connection lost, reconnecting (attempt ${l.attempt}, next try in ${l.next_try_in_s} s): ${l.reason}`;
    case "unreachable": return `unreachable (attempt ${l.attempt}, next try in ${l.next_try_in_s} s): ${l.reason}`;
    case "key_rejected": return `the API key was refused: ${l.reason}`;
    case "no_key": return "needs an API key (step 2)";
    default: return l.state;
  }
}

function tunnelWords(t) {
  switch (t.state) {
    case "none": return t.public_url ? `none; public URL ${t.public_url}` : "none (local only)";
    case "starting": return "starting…";
    case "up": return `up at ${t.url}`;
    case "plain": return `up at ${t.url}, plain http (unencrypted): not self-tested; use an https tunnel, or set tunnel.allow_plain_http = true to accept it`;
    case "checking": return `checking ${t.url} (not confirmed by a self-test yet)`;
    case "unreachable": return `unreachable through ${t.url} (${t.failures} failed self-test(s) in a row): ${t.reason}`;
    case "restarting": return `restarting (attempt ${t.attempt}): ${t.reason}`;
    case "failed": return `failed: ${t.reason}`;
    default: return t.state;
  }
}

function toggle() {
  const custom = $("region").value === "custom";
  for (const node of document.querySelectorAll(".custom-only")) node.hidden = !custom;
  const r = regions.find((x) => x.name === $("region").value);
  $("region-host").textContent = r ? `Alert links open on ${r.app_host}; the API is ${r.api_url}` : "Give both URLs below.";
  const direct = $("connection").value === "direct";
  for (const node of document.querySelectorAll(".direct-only")) node.hidden = !direct;
  const kind = $("tunnel_kind").value;
  for (const node of document.querySelectorAll(".tunnel-opt")) node.hidden = !node.dataset.kinds.split(" ").includes(kind);
  if (lastStatus) $("key-state").textContent = keyWords(lastStatus.key);
}

function clearErrors() {
  for (const node of document.querySelectorAll(".field.invalid")) node.classList.remove("invalid");
  for (const node of document.querySelectorAll("#form .error")) node.textContent = "";
  $("autostart-error").textContent = "";
}

function fieldError(err) {
  const box = err.field && $(`f-${err.field}`);
  if (!box) return false;
  box.hidden = false;
  box.classList.add("invalid");
  box.querySelector(".error").textContent = err.message;
  box.querySelector("input, select")?.focus();
  return true;
}

function collect() {
  const form = { region: $("region").value, tunnel_kind: $("tunnel_kind").value, connection: $("connection").value };
  for (const name of TEXT_FIELDS) form[name] = $(name).value;
  for (const name of URGENCY_FIELDS) form[name] = $(name).value;
  form.events = [...document.querySelectorAll("#events input:checked")].map((c) => c.value);
  form.resident_urgent = $("resident_urgent").checked;
  form.sound = Object.fromEntries(BANDS.map((band) => [band, $(`sound-${band}`).value]));
  return form;
}

function result(node, ok, text) {
  node.textContent = text;
  node.className = `result ${ok ? "ok" : "bad"}`;
}

$("region").addEventListener("change", toggle);
$("tunnel_kind").addEventListener("change", toggle);
$("connection").addEventListener("change", toggle);
$("api_url").addEventListener("input", toggle);

/** The one Save: the form (when changed), then the key (when typed), then
 * Start at login (when changed). Stops at the first failure, in words, at
 * its field. */
async function save() {
  clearErrors();
  $("key-error").textContent = "";
  $("save").disabled = true;
  result($("save-result"), true, "Saving…");
  const done = [];
  try {
    const form = collect();
    if (JSON.stringify(form) !== saved) {
      fill(await invoke(cmd.settingsSave, { form }));
      done.push("settings");
    }
    const key = $("api-key").value;
    if (key.trim()) {
      $("key-state").textContent = `Checking the key with ${apiHost()}…`;
      try {
        await invoke(cmd.settingsSetApiKey, { key });
      } catch (err) {
        $("key-error").textContent = err.message;
        throw { message: `The key was not saved: ${err.message}`, field: null };
      }
      $("api-key").value = "";
      done.push("API key");
    }
    if (!$("autostart").disabled && $("autostart").checked !== autostartSaved) {
      try {
        autostartSaved = await invoke(cmd.settingsSetAutostart, { enabled: $("autostart").checked });
        $("autostart").checked = autostartSaved;
      } catch (err) {
        $("autostart-error").textContent = err.message;
        throw err;
      }
      done.push("start at login");
    }
    result($("save-result"), true, done.length ? `Saved and applied (${done.join(", ")}).` : "Nothing to save: no change.");
  } catch (err) {
    fieldError(err);
    result($("save-result"), false, err.message);
  } finally {
    $("save").disabled = false;
    invoke(cmd.appStatus).then(showStatus).catch(() => {});
  }
}

$("form").addEventListener("submit", (ev) => { ev.preventDefault(); save(); });
// Enter in the key field saves (it is inside the form, but say it plainly).
$("api-key").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter") { ev.preventDefault(); save(); }
});

$("copy").addEventListener("click", async () => {
  const url = $("copy").dataset.url;
  if (!url) return;
  try {
    await navigator.clipboard.writeText(url);
  } catch {
    // Older WebKit: copy the selected read-only field instead.
    $("webhook-url").select();
    document.execCommand("copy");
  }
  invoke(cmd.settingsUrlCopied).catch(() => {});
  $("copy").textContent = "Copied";
  setTimeout(() => { $("copy").textContent = "Copy"; }, 1500);
});

$("send-test").addEventListener("click", async () => {
  $("send-test").disabled = true;
  result($("test-result"), true, "Sending…");
  try {
    result($("test-result"), true, await invoke(cmd.appSendTest));
  } catch (err) {
    result($("test-result"), false, err.message);
  } finally {
    $("send-test").disabled = false;
  }
});

$("add-forward").addEventListener("click", async () => {
  const forward = {
    kind: $("forward-kind").value,
    url: $("forward-url").value,
    events: ["alert:created"],
    min_urgency: $("forward-min").value,
  };
  $("add-forward").disabled = true;
  try {
    const view = await invoke(cmd.settingsAddForward, { forward });
    showForwards(view.forwards);
    $("forward-url").value = "";
    forwardError({ field: "forward_url", message: "" });
  } catch (err) {
    forwardError(err);
  } finally {
    $("add-forward").disabled = false;
  }
});

$("regenerate").addEventListener("click", async () => {
  if (!confirm("Make a new webhook URL? The current one stops working at once.")) return;
  try {
    const url = await invoke(cmd.settingsRegenerateSecret);
    result($("test-result"), true, "New URL made: paste it into Sekoia.io.");
    $("webhook-url").value = url;
    $("copy").dataset.url = url;
  } catch (err) {
    result($("test-result"), false, err.message);
  }
});

urgencyOptions($("forward-min"), "0");
listen(events.statusChanged, showStatus);
invoke(cmd.settingsGet).then(fill).catch((err) => {
  $("warning").textContent = err.message;
  $("warning").hidden = false;
});
