//! The API key: stored in the keyring by `set-api-key`, read back by the
//! daemon, never written to a file or a log.

use crate::util::{report, Dir};
use std::io::Write;
use std::process::Stdio;

const KEY: &str = "sk-e2e-Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5";

/// Runs `set-api-key` with `input` on stdin. A keyring that did not answer
/// within D-Bus's 25 s (gnome-keyring creating its collection on a machine
/// loaded by parallel builds) gets one more try; any other failure is
/// returned as is.
pub fn set_api_key(dir: &Dir, input: &str) -> std::process::Output {
    let out = set_api_key_once(dir, input);
    if !out.status.success()
        && String::from_utf8_lossy(&out.stderr).contains("Did not receive a reply")
    {
        return set_api_key_once(dir, input);
    }
    out
}

fn set_api_key_once(dir: &Dir, input: &str) -> std::process::Output {
    let mut cmd = dir.command(&["set-api-key"]);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn set-api-key");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write key");
    child.wait_with_output().expect("set-api-key output")
}

/// Fails when any file of the data directory or the config holds `secret`.
pub fn assert_in_no_file(dir: &Dir, secret: &str) {
    for root in [dir.data(), dir.config()] {
        assert_eq!(
            files_containing(&root, secret),
            Vec::<std::path::PathBuf>::new()
        );
    }
}

/// Every file under `root` that contains `needle`.
pub fn files_containing(root: &std::path::Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
            {
                hits.push(path);
            }
        }
    }
    hits
}

#[test]
fn set_api_key_stores_the_key_in_the_keyring_and_nowhere_else() {
    let dir = Dir::with_session("");
    let out = set_api_key(&dir, &format!("{KEY}\n"));
    assert!(
        out.status.success(),
        "{}",
        report(&dir.command(&["set-api-key"]), &out)
    );
    let check = dir.run(&["check"]);
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        text.contains("from the OS keyring"),
        "check finds the key in the keyring:\n{text}"
    );
    // The keyring's own encrypted file is the one place that may hold it;
    // it lives under the session's data dir, encrypted, so a plain-text
    // search of the config and data dirs must find nothing.
    assert!(files_containing(&dir.data(), KEY).is_empty());
    assert!(files_containing(&dir.config(), KEY).is_empty());
    assert!(!String::from_utf8_lossy(&check.stderr).contains(KEY));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(KEY));
}

/// Runs `secret-tool` with `args` in the session of `dir`, `input` on stdin.
fn secret_tool(dir: &Dir, args: &[&str], input: &str) -> std::process::Output {
    let mut cmd = std::process::Command::new("secret-tool");
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    dir.session.as_ref().expect("session").apply(&mut cmd);
    let mut child = cmd.spawn().expect("secret-tool (package libsecret-tools)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write to secret-tool");
    child.wait_with_output().expect("secret-tool output")
}

/// A key stored by an earlier release (keyring 3 wrote the attributes
/// service, username, target=default and application=rust-keyring) is read
/// by `check`, and `set-api-key` replaces it in place: one item, the new key.
#[test]
fn a_key_stored_by_the_keyring_3_releases_is_read_and_replaced_in_place() {
    let api = fake_sekoia::FakeSekoia::start_blocking();
    let dir = Dir::with_session(&format!("[sekoia]\napi_url = \"{}\"\n", api.url()));
    let attributes = [
        "service",
        "sekoia-notifier",
        "username",
        "api-key",
        "target",
        "default",
        "application",
        "rust-keyring",
    ];
    let mut store = vec![
        "store",
        "--label=keyring-rs v3.6.3 for target 'default', service 'sekoia-notifier', user 'api-key'",
    ];
    store.extend(attributes);
    let out = secret_tool(&dir, &store, api.api_key());
    assert!(out.status.success(), "{out:?}");

    let check = dir.run(&["check"]);
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(text.contains("from the OS keyring"), "{text}");
    assert!(
        check.status.success(),
        "the old key reaches the API:\n{}",
        report(&dir.command(&["check"]), &check)
    );

    let out = set_api_key(&dir, &format!("{KEY}\n"));
    assert!(
        out.status.success(),
        "{}",
        report(&dir.command(&["set-api-key"]), &out)
    );
    let found = secret_tool(
        &dir,
        &[
            "search",
            "--all",
            "service",
            "sekoia-notifier",
            "username",
            "api-key",
        ],
        "",
    );
    let listing = String::from_utf8_lossy(&found.stdout);
    assert_eq!(listing.matches("secret = ").count(), 1, "{listing}");
    assert!(listing.contains(&format!("secret = {KEY}")), "{listing}");
}

#[test]
fn set_api_key_refuses_an_empty_key() {
    let dir = Dir::with_session("");
    let out = set_api_key(&dir, "\n");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        report(&dir.command(&["set-api-key"]), &out)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was stored"));
}

#[test]
fn without_a_keyring_check_says_how_to_provide_the_key() {
    let dir = Dir::new("");
    let out = dir.run(&["check"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL") && text.contains("set-api-key") && text.contains("SEKOIA_API_KEY"),
        "{text}"
    );
}

#[test]
fn without_a_keyring_the_environment_then_the_key_file_provide_the_key() {
    let api = fake_sekoia::FakeSekoia::start_blocking();
    let extra = format!("[sekoia]\napi_url = \"{}\"\n", api.url());
    let mut dir = Dir::new(&extra);
    dir.env
        .push(("SEKOIA_API_KEY".into(), api.api_key().into()));
    let out = dir.run(&["check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ok    api key   from SEKOIA_API_KEY"),
        "{text}"
    );

    let key_file = dir.tmp.path().join("api-key");
    std::fs::write(&key_file, format!("{}\n", api.api_key())).unwrap();
    let with_file = format!("{extra}api_key_file = \"{}\"\n", key_file.display());
    let dir = Dir::new(&with_file);
    let out = dir.run(&["check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("from {}", key_file.display())),
        "{text}"
    );
    assert!(
        out.status.success(),
        "{}",
        report(&dir.command(&["check"]), &out)
    );
}

#[test]
fn a_systemd_credential_provides_the_key_before_the_key_file() {
    let api = fake_sekoia::FakeSekoia::start_blocking();
    // The unit's LoadCredential=api-key:... puts the key in
    // $CREDENTIALS_DIRECTORY/api-key; a key file named in the config holds
    // a stale key, which must not be used.
    let credentials = tempfile::tempdir().unwrap();
    let credential = credentials.path().join("api-key");
    std::fs::write(&credential, format!("{}\n", api.api_key())).unwrap();
    let stale = credentials.path().join("stale-key");
    std::fs::write(&stale, "stale-key-from-the-file\n").unwrap();
    let mut dir = Dir::new(&format!(
        "[sekoia]\napi_url = \"{}\"\napi_key_file = \"{}\"\n",
        api.url(),
        stale.display()
    ));
    dir.env.push((
        "CREDENTIALS_DIRECTORY".into(),
        credentials.path().display().to_string(),
    ));
    let out = dir.run(&["check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "ok    api key   from the systemd credential {}",
            credential.display()
        )),
        "{text}"
    );
    assert!(!text.contains(api.api_key()), "the key is never printed");
}

/// A pseudo-terminal pair: the master end (what a terminal emulator reads
/// and writes) and the slave end (the program's stdin, stdout, stderr).
fn pty() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two new descriptors into the integers given;
    // null name, termios and window size ask for the defaults.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are new and owned by nothing else.
    unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    }
}

#[test]
fn set_api_key_on_a_terminal_does_not_echo_the_key() {
    use std::io::Read;
    let dir = Dir::with_session("");
    use std::os::unix::process::CommandExt;
    let (mut master, slave) = pty();
    let mut cmd = dir.command(&["set-api-key"]);
    // As in a terminal session: the pty is the controlling terminal of a
    // new session (what /dev/tty names).
    // SAFETY: setsid and ioctl are async-signal-safe; nothing else runs
    // between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .stdin(slave.try_clone().expect("slave"))
        .stdout(slave.try_clone().expect("slave"))
        .stderr(slave)
        .spawn()
        .expect("spawn set-api-key");
    // Only the child may hold the slave end now: its exit ends the reads.
    drop(cmd);
    // What the terminal shows, read on a thread until the pty closes.
    let shown = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut reader = master.try_clone().expect("master");
    let into = std::sync::Arc::clone(&shown);
    let reading = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let text = || String::from_utf8_lossy(&shown.lock().unwrap()).into_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !text().contains("press Enter") {
        assert!(
            std::time::Instant::now() < deadline,
            "no prompt: {:?}",
            text()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Type the key as a user would.
    master
        .write_all(format!("{KEY}\n").as_bytes())
        .expect("type the key");
    let status = child.wait().expect("set-api-key ends");
    drop(master);
    let _ = reading.join();
    let seen = shown.lock().unwrap().clone();
    let screen = String::from_utf8_lossy(&seen);
    assert!(status.success(), "{screen}");
    assert!(screen.contains("Stored the API key"), "{screen}");
    assert!(!screen.contains(KEY), "the key was echoed: {screen}");
    let check = dir.run(&["check"]);
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("from the OS keyring"),
        "the key typed on the terminal was stored"
    );
}
