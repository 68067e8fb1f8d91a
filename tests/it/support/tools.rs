//! The outside tools some tests drive, installed by scripts/test: npm packages under
//! tests/tools/node_modules, and the programs Debian provides.

use std::path::PathBuf;

/// A file of tests/tools (its node_modules included); missing ones name the command that
/// installs them.
pub fn path(rel: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tools").join(rel);
    assert!(path.exists(), "{} is missing: run scripts/test, which installs it", path.display());
    path
}

/// `node` running `script` (under tests/tools) with `args`.
pub fn node(script: &str, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new("node");
    cmd.arg(path(script)).args(args);
    cmd
}
