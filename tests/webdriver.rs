//! A minimal W3C WebDriver client for WebKitWebDriver (package
//! webkit2gtk-driver), which launches the desktop app and drives its real
//! WebKitGTK window. Only what the tests use: sessions, script execution,
//! elements, screenshots.
//!
//! We talk to WebKitWebDriver directly rather than through tauri-driver:
//! tauri-driver only relays to it on Linux, and the relay was the flaky part
//! on this machine (see LINUX-TESTING.md).

use crate::util::http;
use serde_json::{json, Value};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running WebKitWebDriver. Killed on drop.
pub struct Driver {
    child: Child,
    addr: SocketAddr,
    /// WebKitWebDriver's output, which includes the app's (its child).
    log: std::path::PathBuf,
}

impl Driver {
    /// Starts WebKitWebDriver with `env` applied by `configure`; its output
    /// and the app's go to `log`.
    pub fn start(log: &Path, configure: impl FnOnce(&mut Command)) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut cmd = Command::new("WebKitWebDriver");
        let out = std::fs::File::create(log).expect("driver log");
        let err = out.try_clone().expect("driver log");
        cmd.arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        configure(&mut cmd);
        let child = cmd
            .spawn()
            .expect("WebKitWebDriver (package webkit2gtk-driver) must be installed");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "WebKitWebDriver did not listen within 10 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            addr,
            log: log.to_owned(),
        }
    }

    /// Launches `binary args` and attaches to its web view.
    pub fn session(&self, binary: &Path, args: &[String]) -> Session<'_> {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "webkitgtk:browserOptions": {"binary": binary, "args": args}
        }}});
        let value = self.call("POST", "/session", Some(&caps));
        let id = value["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {value}"))
            .to_owned();
        Session { driver: self, id }
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.try_call(method, path, body)
            .unwrap_or_else(|(status, parsed)| panic!("{method} {path} -> {status}: {parsed}"))
    }

    /// [`Driver::call`], with a refusal as `Err((status, body))`.
    fn try_call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, (u16, Value)> {
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let headers: &[(&str, &str)] = if body.is_some() {
            &[("Content-Type", "application/json")]
        } else {
            &[]
        };
        let (status, text) = http(self.addr, method, path, headers, bytes.as_bytes());
        let parsed: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: {status}, not JSON ({e}): {text}"));
        if status < 300 {
            Ok(parsed["value"].clone())
        } else {
            Err((status, parsed))
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebDriver session: the app's window.
pub struct Session<'a> {
    driver: &'a Driver,
    id: String,
}

impl Session<'_> {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.driver
            .call(method, &format!("/session/{}{path}", self.id), body)
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub fn execute(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(&json!({"script": script, "args": args})),
        )
    }

    /// Runs an async script: it must call `arguments[arguments.length - 1]`.
    pub fn execute_async(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/async",
            Some(&json!({"script": script, "args": args})),
        )
    }

    /// Waits until `script` returns something truthy, and returns it.
    pub fn wait_for(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let value = self.execute(script, json!([]));
            if !(value.is_null() || value == json!(false) || value == json!("")) {
                return value;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&self.driver.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                panic!(
                    "timed out waiting for {what}; the app's last log lines:\n{}",
                    tail.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn find(&self, css: &str) -> String {
        let value = self.call(
            "POST",
            "/element",
            Some(&json!({"using": "css selector", "value": css})),
        );
        value[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {value}"))
            .to_owned()
    }

    /// Clicks `css` after scrolling it to the middle of the window (where
    /// no sticky bar covers it, as a user would see it).
    /// A live list may redraw `css` between the lookup and the click: a
    /// stale element is looked up again (a few times).
    pub fn click(&self, css: &str) {
        for attempt in 0.. {
            let id = self.find(css);
            self.execute(
                "document.querySelector(arguments[0])?.scrollIntoView({ block: 'center' })",
                json!([css]),
            );
            let path = format!("/session/{}/element/{id}/click", self.id);
            match self.driver.try_call("POST", &path, Some(&json!({}))) {
                Ok(_) => return,
                Err((_, body))
                    if attempt < 4 && body["value"]["error"] == "stale element reference" =>
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err((status, body)) => panic!("click {css} -> {status}: {body}"),
            }
        }
    }

    pub fn clear_and_type(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.call("POST", &format!("/element/{id}/clear"), Some(&json!({})));
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            Some(&json!({"text": text})),
        );
    }

    /// Sends `text` as key presses to the element `css` (W3C key codes
    /// such as `\u{E007}` Enter work).
    pub fn send_keys(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            Some(&json!({"text": text})),
        );
    }

    /// Sets the window's outer size in CSS pixels.
    pub fn set_window_size(&self, width: u32, height: u32) {
        self.call(
            "POST",
            "/window/rect",
            Some(&json!({"width": width, "height": height})),
        );
    }

    pub fn text(&self, css: &str) -> String {
        let id = self.find(css);
        self.call("GET", &format!("/element/{id}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// A PNG of the window, saved at `path` (after two frames are painted).
    pub fn screenshot(&self, path: &Path) {
        use base64::Engine;
        self.execute_async(
            "const done = arguments[arguments.length - 1]; \
             requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 200)));",
            json!([]),
        );
        let data = self.call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or_default())
            .expect("screenshot is base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = http(
            self.driver.addr,
            "DELETE",
            &format!("/session/{}", self.id),
            &[],
            b"",
        );
    }
}
