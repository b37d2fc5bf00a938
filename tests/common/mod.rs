//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod tiny;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output};

/// A file under `../shared`, or `None` with a visible skip message. `.ci/run` sets
/// `STEPSCOPE_REQUIRE_SHARED=1`, which turns a missing file into a failure.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared").join(rel);
    if path.exists() {
        return Some(path);
    }
    if std::env::var("STEPSCOPE_REQUIRE_SHARED").is_ok_and(|v| v == "1") {
        panic!("{} is missing and STEPSCOPE_REQUIRE_SHARED=1", path.display());
    }
    // Written straight to stderr so the test harness does not swallow it.
    let _ = writeln!(std::io::stderr(), "SKIP: {} not found (no ../shared beside this checkout)", path.display());
    None
}

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stepscope"));
    c.env_remove("STEPSCOPE_ANNOTATOR");
    c
}

/// Runs the binary and returns (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out: Output = bin().args(args).output().expect("run stepscope");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Runs `stats --json` and parses the output.
pub fn stats_json(args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = vec!["stats", "--json"];
    all.extend_from_slice(args);
    let (code, out, err) = run(&all);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("stats output is not JSON ({e}): {out}\n{err}"));
    (code, v)
}
