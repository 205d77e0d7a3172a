// The settings window. The API key field is write-only: the key goes to
// Rust (and the OS keyring) and never comes back.
import { cmd, events, invoke, listen, el } from "./ipc.js";

const $ = (id) => document.getElementById(id);
const KNOWN_EVENTS = ["alert:created", "alert:updated", "alert:deleted", "content-proposal:created"];
const TEXT_FIELDS = ["api_url", "app_url", "port", "min_urgency", "always_popup_urgency", "remind_minutes", "public_url", "command", "server", "domain", "liveapi_url"];
const BANDS = ["urgent", "major", "high", "moderate", "low"];
let extraEvents = [];

$("welcome").hidden = new URLSearchParams(location.search).get("welcome") !== "1";

function fill(view) {
  const f = view.form;
  $("region").replaceChildren(
    ...view.regions.map((r) => el("option", { text: r, attrs: { value: r } })),
    el("option", { text: "custom (my own URLs)", attrs: { value: "custom" } }),
  );
  $("region").value = f.region;
  for (const name of TEXT_FIELDS) $(name).value = f[name] ?? "";
  $("tunnel_kind").value = f.tunnel_kind;
  $("connection").value = f.connection || "webhook";
  $("resident_urgent").checked = f.resident_urgent !== false;
  for (const band of BANDS) $(`sound-${band}`).value = f.sound?.[band] ?? "";
  extraEvents = f.events.filter((e) => !KNOWN_EVENTS.includes(e));
  $("events").replaceChildren(...[...KNOWN_EVENTS, ...extraEvents].map((name) =>
    el("label", {}, [
      el("input", { attrs: { type: "checkbox", value: name, ...(f.events.includes(name) ? { checked: "" } : {}) } }),
      document.createTextNode(` ${name}`),
    ])));
  showForwards(view.forwards);
  $("autostart").checked = view.autostart === true;
  $("autostart").disabled = view.autostart === null;
  $("config-file").textContent = `Saved to ${view.config_file}`;
  showStatus(view.status);
  toggle();
}

function showForwards(forwards) {
  $("forwards").replaceChildren(...forwards.map((f) => {
    const st = f.status;
    const state = st
      ? `${st.name}: ${st.health}; ${st.sent} sent, ${st.queued} queued, ${st.failed} failed${st.last_failure ? ` (last error: ${st.last_failure.error})` : ""}`
      : f.kind;
    const remove = el("button", { text: "Remove", cls: "secondary", attrs: { type: "button", "data-index": f.index } });
    remove.addEventListener("click", async () => {
      try { fill(await invoke(cmd.settingsRemoveForward, { index: f.index })); } catch (err) { forwardError(err); }
    });
    return el("li", { cls: "forward", attrs: { "data-index": f.index } }, [
      el("span", { text: `${state} · ${f.events.join(", ")} · min urgency ${f.min_urgency} · URL in the ${f.url_in}` }),
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

function showStatus(s) {
  const k = s.key;
  let text;
  if (!k.stored) text = "No key stored.";
  else {
    text = `A key is stored (${k.source ?? "keyring"}).`;
    if (k.checked_at) {
      const when = new Date(k.checked_at).toLocaleString();
      text += k.accepted === true ? ` Checked ${when}: accepted.` : ` Checked ${when}: ${k.problem ?? "not verified"}`;
    }
  }
  $("key-state").textContent = text;
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
  $("warning").textContent = s.warning ?? "";
  $("warning").hidden = !s.warning;
}

function liveWords(l) {
  switch (l.state) {
    case "connecting": return "connecting…";
    case "connected": return `connected since ${new Date(l.since).toLocaleString()}`;
    case "reconnecting": return `connection lost, reconnecting (attempt ${l.attempt}, next try in ${l.next_try_in_s} s): ${l.reason}`;
    case "unreachable": return `unreachable (attempt ${l.attempt}, next try in ${l.next_try_in_s} s): ${l.reason}`;
    case "key_rejected": return `the API key was refused: ${l.reason}`;
    case "no_key": return "needs an API key (above)";
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
  const direct = $("connection").value === "direct";
  for (const node of document.querySelectorAll(".direct-only")) node.hidden = !direct;
  const kind = $("tunnel_kind").value;
  for (const node of document.querySelectorAll(".tunnel-opt")) node.hidden = !node.dataset.kinds.split(" ").includes(kind);
}

function clearErrors() {
  for (const node of document.querySelectorAll(".field.invalid")) node.classList.remove("invalid");
  for (const node of document.querySelectorAll("#form .error")) node.textContent = "";
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

$("form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  clearErrors();
  $("save").disabled = true;
  result($("save-result"), true, "Saving…");
  try {
    fill(await invoke(cmd.settingsSave, { form: collect() }));
    result($("save-result"), true, "Saved and applied.");
  } catch (err) {
    fieldError(err);
    result($("save-result"), false, err.message);
  } finally {
    $("save").disabled = false;
  }
});

$("save-key").addEventListener("click", async () => {
  const input = $("api-key");
  $("key-error").textContent = "";
  if (!input.value.trim()) { $("key-error").textContent = "Paste a key first."; return; }
  $("save-key").disabled = true;
  $("key-state").textContent = "Checking the key with Sekoia.io…";
  try {
    await invoke(cmd.settingsSetApiKey, { key: input.value });
    input.value = "";
  } catch (err) {
    $("key-error").textContent = err.message;
  } finally {
    $("save-key").disabled = false;
    showStatus(await invoke(cmd.appStatus));
  }
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
    fill(await invoke(cmd.settingsAddForward, { forward }));
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

$("autostart").addEventListener("change", async () => {
  $("autostart-error").textContent = "";
  try {
    $("autostart").checked = await invoke(cmd.settingsSetAutostart, { enabled: $("autostart").checked });
  } catch (err) {
    $("autostart").checked = !$("autostart").checked;
    $("autostart-error").textContent = err.message;
  }
});

listen(events.statusChanged, showStatus);
invoke(cmd.settingsGet).then(fill).catch((err) => {
  $("warning").textContent = err.message;
  $("warning").hidden = false;
});
