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
        vec!["train", f, "--model", "smollm2", "--labels", "dataset", "-o", "h.json", "--min-acc-corr", "101"],
        vec!["train", f, "--model", "smollm2", "--labels", "dataset", "-o", "h.json", "--min-acc-corr=-1"],
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

/// Text from files reaches the terminal as text: control bytes are shown as escapes, and a line
/// break inside a name cannot start a line of its own (`stats`, `agree`, `report`, `label`).
#[test]
fn fields_from_files_print_without_control_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let f = trace_file(dir.path());
    let evil = "mallory\x1b]0;pwned\x07\nannotator admin 999 labels";
    let (code, out, err) = run_with_timeout(
        &["label", &f, "--trace", "a", "--no-error", "--annotator", evil, "--category", "x\x1b[2Jy"],
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{err}");
    for cmd in [vec!["stats", f.as_str()], vec!["agree", f.as_str()], vec!["report", f.as_str()]] {
        let (code, o, e) = run_with_timeout(&cmd, Duration::from_secs(60));
        assert_eq!(code, 0, "{cmd:?}: {e}");
        for text in [&out, &o, &e] {
            assert!(!text.contains('\x1b') && !text.contains('\x07'), "{cmd:?}: {text:?}");
            assert!(!text.lines().any(|l| l.starts_with("annotator admin")), "{cmd:?}: a spoofed line: {text}");
        }
    }
}

/// A trace id with control characters is refused, naming the line and the field.
#[test]
fn ids_with_control_characters_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.jsonl");
    std::fs::write(
        &f,
        "{\"stepscope\":1,\"id\":\"ok\",\"problem\":\"p\",\"steps\":[\"a\"]}\n\
         {\"stepscope\":1,\"id\":\"x\\u001b]0;t\\u0007\",\"problem\":\"p\",\"steps\":[\"a\"]}\n",
    )
    .unwrap();
    let (_, out, _) = run_with_timeout(&["stats", "--json", f.to_str().unwrap()], Duration::from_secs(60));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["traces"], 1, "{v}");
    let problem = &v["problems"][0];
    assert_eq!(problem["line"], 2, "{v}");
    assert!(problem["message"].as_str().unwrap().contains("field `id`: contains control characters"), "{v}");
}

/// A config named by $STEPSCOPE_CONFIG that is a folder or a FIFO says so (not "no such file"),
/// for the TUI and for the commands that read it (`refine`, `generate`).
#[test]
fn a_config_that_is_no_file_says_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.toml");
    common::mkfifo(&fifo);
    let f = trace_file(dir.path());
    for (config, says) in [
        (dir.path().to_path_buf(), "a folder"),
        (fifo, "not a regular file"),
        (dir.path().join("none.toml"), "no such file"),
    ] {
        let env = [("STEPSCOPE_CONFIG", config.to_str().unwrap())];
        for args in [vec!["open", f.as_str()], vec!["refine", f.as_str()], vec!["generate", "--question", "q"]] {
            let (code, _, err) = common::run_env(&args, &env);
            assert_eq!(code, 2, "{args:?} with {config:?}: {err}");
            assert!(err.contains(says) && err.contains("STEPSCOPE_CONFIG"), "{args:?} with {config:?}: {err}");
        }
    }
}

/// A 100 KB spec is not echoed whole.
#[test]
fn a_long_spec_is_not_echoed_whole() {
    let dir = tempfile::tempdir().unwrap();
    let f = trace_file(dir.path());
    let spec = format!("judge:{}", "m".repeat(100_000));
    let (code, out, err) = run_with_timeout(&["score", &f, "--verifier", &spec], Duration::from_secs(60));
    assert_eq!(code, 2, "{err}");
    assert!(out.len() + err.len() < 2_000, "{} bytes of messages", out.len() + err.len());
}

/// `label … > /dev/full`: the label is saved, and the message says so.
#[test]
fn a_label_whose_confirmation_cannot_be_printed_says_it_is_saved() {
    let dir = tempfile::tempdir().unwrap();
    let f = trace_file(dir.path());
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let out = common::bin()
        .args(["label", &f, "--trace", "a", "--no-error", "--annotator", "ana"])
        .stdout(full)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("the label is saved"), "{err}");
    let journal = std::fs::read_to_string(format!("{f}.stepscope.jsonl")).unwrap();
    assert!(journal.contains("\"annotator\":\"ana\""), "{journal}");
}
