//! Build-script helper shared by `sekoia-notifierd` and `sekoia-notifier`
//! (each `build.rs` includes it with `#[path]`): puts the source commit in
//! the `NOTIFIER_COMMIT` compile-time variable so `--version` and the app's
//! About line can show it.
//!
//! The commit is `SEKOIA_NOTIFIER_COMMIT` when set (a build from a tarball,
//! a distribution's packaging), else `git rev-parse --short=12 HEAD`, else
//! `unknown`. Must not: fail the build, or make cargo rerun the build script
//! on every build (only the git files that move HEAD are watched).

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn emit() {
    println!("cargo:rerun-if-env-changed=SEKOIA_NOTIFIER_COMMIT");
    let commit = match std::env::var("SEKOIA_NOTIFIER_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_owned(),
        _ => {
            watch_git_head();
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_owned())
        }
    };
    println!("cargo:rustc-env=NOTIFIER_COMMIT={commit}");
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_owned())
}

/// Reruns the build script when HEAD moves: HEAD itself, the branch it
/// points to, and packed-refs. Only existing files are named: cargo treats a
/// missing one as always changed.
fn watch_git_head() {
    let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]).map(PathBuf::from) else {
        return;
    };
    let common = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"])
        .map(PathBuf::from)
        .unwrap_or_else(|| git_dir.clone());
    let mut watched = vec![git_dir.join("HEAD"), common.join("packed-refs")];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(common.join(branch));
    }
    for path in watched.iter().filter(|p| Path::exists(p)) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
