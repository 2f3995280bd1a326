//! Records the git commit the binary is built from, for `kqlflow --version`: sets
//! `KQLFLOW_COMMIT` to `commit <hash>` (the checked-out commit, 12 hex digits), or to
//! `unknown commit` when the source is not a git checkout (a tarball, a vendored copy) and the
//! crate package's `.cargo_vcs_info.json` does not name one either.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    println!("cargo:rerun-if-changed=build.rs");
    let commit = git_commit(&dir)
        .or_else(|| packaged_commit(&dir))
        .map(|hash| format!("commit {hash}"))
        .unwrap_or_else(|| "unknown commit".to_string());
    println!("cargo:rustc-env=KQLFLOW_COMMIT={commit}");
}

/// Runs git in `dir`; its trimmed standard output when it succeeds.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The commit checked out in `dir`, when `dir` is the top of a git work tree (not a folder
/// inside some other repository); tells cargo to run this again when HEAD moves.
fn git_commit(dir: &Path) -> Option<String> {
    let top = PathBuf::from(git(dir, &["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    let hash = git(dir, &["rev-parse", "--short=12", "HEAD"])?;
    // HEAD (which branch), the branch's ref, and packed-refs (where a ref may move to).
    for what in ["HEAD", "packed-refs"] {
        if let Some(p) = git(dir, &["rev-parse", "--git-path", what]) {
            watch(&dir.join(p));
        }
    }
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"])
        && let Some(p) = git(dir, &["rev-parse", "--git-path", &branch])
    {
        watch(&dir.join(p));
    }
    Some(hash)
}

/// The commit a packaged crate (`cargo package`, crates.io) was made from, from the
/// `.cargo_vcs_info.json` cargo writes into the package.
fn packaged_commit(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(".cargo_vcs_info.json")).ok()?;
    let at = text.find("\"sha1\"")?;
    let rest = &text[at + "\"sha1\"".len()..];
    let hash: String = rest
        .chars()
        .skip_while(|c| *c != '"')
        .skip(1)
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    (hash.len() >= 12).then(|| hash[..12].to_string())
}

/// Tells cargo to run this again when `path` changes; only for a file that exists (cargo would
/// run a build script watching a missing file on every build).
fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
