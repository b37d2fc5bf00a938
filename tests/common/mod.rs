//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod screens;
pub mod server;
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
    if required() {
        panic!("{} is missing and STEPSCOPE_REQUIRE_SHARED=1", path.display());
    }
    // Written straight to stderr so the test harness does not swallow it.
    let _ = writeln!(std::io::stderr(), "SKIP: {} not found (no ../shared beside this checkout)", path.display());
    None
}

/// Skips the rest of a test with a line straight to stderr (the harness captures `eprintln!`),
/// or fails it where everything is required (`STEPSCOPE_REQUIRE_SHARED=1`, as in CI).
pub fn skip(why: &str) {
    if required() {
        panic!("{why}, and STEPSCOPE_REQUIRE_SHARED=1");
    }
    let _ = writeln!(std::io::stderr(), "SKIP: {why}");
}

/// A known model's file through stepscope's own fetch code, or `None` after [`skip`].
pub fn fetched(name: &str) -> Option<PathBuf> {
    let m = stepscope::model::fetch::known(name).expect("a known model");
    match stepscope::model::fetch::ensure(m, &mut |_| {}) {
        Ok(p) => Some(p),
        Err(e) => {
            skip(&format!("cannot fetch {name} ({e:#}); the test that needs it did not run"));
            None
        }
    }
}

/// Whether everything a test needs must be there (`.ci/run` sets `STEPSCOPE_REQUIRE_SHARED=1`):
/// then the datasets, the real models and tmux are required, and a missing one fails the test
/// instead of skipping it.
pub fn required() -> bool {
    std::env::var("STEPSCOPE_REQUIRE_SHARED").is_ok_and(|v| v == "1")
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

/// Runs the binary with extra environment variables.
pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = bin();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run stepscope");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// `stats --json` with extra environment variables.
pub fn stats_json_env(args: &[&str], env: &[(&str, &str)]) -> (i32, serde_json::Value) {
    let mut all = vec!["stats", "--json"];
    all.extend_from_slice(args);
    let (code, out, err) = run_env(&all, env);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("stats output is not JSON ({e}): {out}\n{err}"));
    (code, v)
}

/// Runs the binary, killing it when it takes longer than `limit` (a hang is a failure, with
/// exit code -9). Both pipes are drained while it runs, so a child that prints more than a pipe
/// holds (64 KiB) is not mistaken for a hang.
pub fn run_with_timeout(args: &[&str], limit: std::time::Duration) -> (i32, String, String) {
    use std::io::Read;
    use std::process::Stdio;
    let mut child =
        bin().args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let start = std::time::Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break -9;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    (code, out, if code == -9 { format!("timed out\n{err}") } else { err })
}

/// Makes a named pipe (FIFO) at `path`.
pub fn mkfifo(path: &std::path::Path) {
    let ok = Command::new("mkfifo").arg(path).status().expect("run mkfifo").success();
    assert!(ok, "mkfifo {}", path.display());
}
