//! What a child of the daemon inherits: a tunnel `command` that dumps its
//! environment and creates a file, run by a daemon given the API key in
//! `SEKOIA_API_KEY` and a systemd credentials directory, under umask 022;
//! a data directory open to others, refused.

use crate::fake_tunnels::{script, wait_until};
use crate::util::{wait_listening, Dir, SECRET};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::time::Duration;

const KEY: &str = "sk-e2e-child-must-never-see-this-key-0123";

#[test]
fn a_tunnel_command_sees_no_key_no_credentials_no_secret_and_the_user_s_umask() {
    let dir = Dir::new("");
    let out = dir.tmp.path().join("child");
    std::fs::create_dir(&out).expect("child dir");
    let creds = dir.tmp.path().join("credentials");
    std::fs::create_dir(&creds).expect("credentials dir");
    let fake = script(
        dir.tmp.path(),
        "dump-env",
        &format!(
            "env > '{o}/env.txt'\necho made > '{o}/made.txt'\n\
             echo \"tunnel ready at http://127.0.0.1:$1\"\nexec sleep 600",
            o = out.display()
        ),
    );
    std::fs::write(
        dir.config(),
        format!(
            "{}[sekoia]\napi_url = \"http://127.0.0.1:9\"\n[tunnel]\nkind = \"command\"\ncommand = \"{} {{port}}\"\nselftest_interval = 0\n",
            std::fs::read_to_string(dir.config()).expect("config"),
            fake.display()
        ),
    )
    .expect("config");
    let mut cmd = dir.command(&["serve"]);
    cmd.env("SEKOIA_API_KEY", KEY)
        .env("CREDENTIALS_DIRECTORY", &creds)
        .env("SOME_UNRELATED_TOKEN", "unrelated-token-value");
    let log = dir.tmp.path().join("serve.log");
    cmd.stderr(std::fs::File::create(&log).expect("log"))
        .stdout(std::process::Stdio::null());
    // SAFETY: umask(2) in the forked child before exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o022);
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn serve");
    let _addr = wait_listening(&mut child, &dir.data(), Duration::from_secs(20), &log);
    let made = out.join("made.txt");
    let env = wait_until(20, "the tunnel command's files", || {
        let env = std::fs::read_to_string(out.join("env.txt")).ok()?;
        (made.exists() && !env.is_empty()).then_some(env)
    });
    let mode = std::fs::metadata(&made).expect("made").permissions().mode() & 0o777;
    let _ = child.kill();
    let _ = child.wait();

    assert!(env.contains("PATH="), "{env}");
    for secret in [
        KEY,
        "SEKOIA_API_KEY",
        "CREDENTIALS_DIRECTORY",
        &creds.display().to_string(),
        SECRET,
        "SOME_UNRELATED_TOKEN",
    ] {
        assert!(
            !env.contains(secret),
            "{secret:?} reached the child:\n{env}"
        );
    }
    assert_eq!(mode, 0o644, "the child's file under the user's umask 022");
}

#[test]
fn a_data_dir_others_can_write_to_is_refused_in_words() {
    let dir = Dir::new("");
    std::fs::create_dir(dir.data()).expect("data dir");
    std::fs::set_permissions(dir.data(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let out = dir.run(&["serve"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("is not private")
            && stderr.contains("mode 0777")
            && stderr.contains("chmod go-w"),
        "{stderr}"
    );
    // Nothing was written into it.
    assert!(!dir.data().join("notifier.db").exists());
}
