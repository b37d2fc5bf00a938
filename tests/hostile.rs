//! Regressions of the third reliability round (issue 26): options, specs and inputs that used to
//! panic, abort, hang or mislead. Each case is the reproduction from the attack run.

mod common;

use common::run_with_timeout;
use std::time::Duration;

fn trace_file(dir: &std::path::Path) -> String {
    let f = dir.join("t.jsonl");
    std::fs::write(
        &f,
        "{\"stepscope\": 1, \"id\": \"a\", \"problem\": \"2+2?\", \"steps\": [\"2 + 2 = 4\"], \"label\": -1}\n",
    )
    .unwrap();
    f.to_str().unwrap().to_string()
}

/// A usage error (exit 2) that says what was wrong, and no panic.
fn refused(args: &[&str], needle: &str) {
    let (code, out, err) = run_with_timeout(args, Duration::from_secs(60));
    assert_eq!(code, 2, "{args:?} should be refused\nstdout: {out}\nstderr: {err}");
    assert!(err.contains(needle), "{args:?}: expected '{needle}' in: {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
}

#[test]
fn every_numeric_option_is_range_checked() {
    let dir = tempfile::tempdir().unwrap();
    let f = trace_file(dir.path());
    let f = f.as_str();
    let text = dir.path().join("x.txt");
    std::fs::write(&text, "some text to score").unwrap();
    let text = text.to_str().unwrap();
    let server = ["--server", "http://127.0.0.1:9"];
    let cases: Vec<Vec<&str>> = vec![
        [&["generate", "--question", "q", "--timeout", "inf"][..], &server].concat(),
        [&["score", f, "--verifier", "judge", "--timeout", "1e300"][..], &server].concat(),
        [&["generate", "--question", "q", "--concurrency", "0"][..], &server].concat(),
        vec!["calibrate", f, "--verifier", "arith", "--step", "0"],
        vec!["calibrate", f, "--verifier", "arith", "--step", "1e-12"],
        vec!["logprobs", "--ctx", "0", text],
        vec!["logprobs", "--ctx", "1", text],
        vec!["eval", f, "--verifier", "arith", "--threshold", "inf"],
        vec!["eval", f, "--verifier", "arith", "--threshold", "NaN"],
        vec!["score", f, "--verifier", "arith", "--threshold=-0.5"],
        vec!["generate", "--question", "q", "--temperature", "NaN"],
        vec!["generate", "--question", "q", "--top-p", "2"],
        vec!["generate", "--question", "q", "--max-tokens", "0"],
        vec!["refine", f, "--samples", "0"],
        vec!["bench", "-p", "0"],
        vec!["score", f, "--verifier", "arith", "--lambda=-1"],
        vec!["open", f, "--sample", "0"],
    ];
    for args in &cases {
        refused(args, "out of range");
    }
    refused(&["generate", "--question", "q", "--temperature", "warm"], "not a number");
}

#[test]
fn a_count_after_at_is_a_count_in_range() {
    let dir = tempfile::tempdir().unwrap();
    let f = trace_file(dir.path());
    for spec in ["rollout:smollm2@-1", "rollout:smollm2@99999999", "critic:smollm2@0"] {
        refused(&["score", &f, "--verifier", spec], "from 1 to 256");
    }
}
