#[path = "../build-support/commit.rs"]
mod commit;
#[path = "src/ipc.rs"]
#[allow(dead_code)]
mod ipc;

fn main() {
    // The commit beside the version: `--version` and the tray's About line.
    commit::emit();
    // One `allow-<command>` permission per app command: the capability files
    // grant each window only the commands it uses.
    let manifest = tauri_build::AppManifest::new().commands(ipc::COMMANDS);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .expect("tauri build script: check tauri.conf.json and capabilities/");
}
