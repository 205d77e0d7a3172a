// Every IPC name the windows use, mirroring src-tauri/src/ipc.rs.
export const cmd = Object.freeze({
  feedList: "feed_list",
  feedMarkRead: "feed_mark_read",
  feedOpen: "feed_open",
  feedAcknowledge: "feed_acknowledge",
  feedGaps: "feed_gaps",
  feedResume: "feed_resume",
  feedDetail: "feed_detail",
  feedAction: "feed_action",
  feedCommunities: "feed_communities",
  settingsGet: "settings_get",
  settingsSave: "settings_save",
  settingsSetApiKey: "settings_set_api_key",
  settingsSetAutostart: "settings_set_autostart",
  settingsUrlCopied: "settings_url_copied",
  settingsRegenerateSecret: "settings_regenerate_secret",
  settingsAddForward: "settings_add_forward",
  settingsRemoveForward: "settings_remove_forward",
  appSendTest: "app_send_test",
  appStatus: "app_status",
  appOpenSettings: "app_open_settings",
});

export const events = Object.freeze({
  feedChanged: "feed-changed",
  statusChanged: "status-changed",
});

const tauri = window.__TAURI__;

/** Calls a command; rejects with { message, field } (see AppError). */
export function invoke(name, args = {}) {
  return tauri.core.invoke(name, args).catch((e) => {
    throw typeof e === "object" && e !== null && "message" in e ? e : { message: String(e), field: null };
  });
}

export function listen(name, handler) {
  return tauri.event.listen(name, (event) => handler(event.payload));
}

/** A new element with text content only: untrusted text never becomes HTML. */
export function el(tag, { text, cls, attrs } = {}, children = []) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  for (const [k, v] of Object.entries(attrs ?? {})) node.setAttribute(k, String(v));
  for (const child of children) if (child) node.append(child);
  return node;
}
