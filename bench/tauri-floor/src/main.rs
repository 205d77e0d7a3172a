//! The framework's floor: the smallest Tauri 2 tray app — one tray icon with
//! a Quit menu, and with `--window` one hello-world window. `footprint-bench`
//! measures it beside the desktop app; nothing of ours is in it.

use tauri::menu::{Menu, MenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{image::Image, WebviewUrl, WebviewWindowBuilder};

fn main() {
    let window = std::env::args().any(|a| a == "--window");
    let app = tauri::Builder::default()
        .setup(move |app| {
            let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
            let menu = Menu::with_items(app, &[&quit])?;
            TrayIconBuilder::with_id("floor")
                .icon(Image::from_bytes(include_bytes!(
                    "../../../icons/tray-normal.png"
                ))?)
                .tooltip("Tauri floor")
                .menu(&menu)
                .on_menu_event(|app, event| {
                    if event.id() == "quit" {
                        app.exit(0);
                    }
                })
                .build(app)?;
            if window {
                WebviewWindowBuilder::new(app, "main", WebviewUrl::default())
                    .title("Hello")
                    .build()?;
            }
            Ok(())
        })
        .build(tauri::generate_context!());
    match app {
        Ok(app) => app.run(|_, event| {
            if let tauri::RunEvent::ExitRequested { api, code, .. } = event {
                if code.is_none() {
                    api.prevent_exit();
                }
            }
        }),
        Err(e) => {
            eprintln!("tauri-floor: {e}");
            std::process::exit(1);
        }
    }
}
