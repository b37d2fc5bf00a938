//! Messages a careless user meets: each names what is wrong and where.

mod common;

use std::fs;

use common::{run, run_env};

#[test]
fn a_missing_config_file_is_an_error() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/traces/demo.jsonl");
    let (code, _, err) = run_env(&["open", demo], &[("STEPSCOPE_CONFIG", "/nonexistent/stepscope.toml")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/stepscope.toml") && err.contains("STEPSCOPE_CONFIG"), "{err}");
}

#[test]
fn eval_without_labelled_traces_says_n_a() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.jsonl");
    fs::write(&file, "{\"stepscope\": 1, \"id\": \"a\", \"problem\": \"p\", \"steps\": [\"2 + 2 = 5\"]}\n").unwrap();
    let f = file.to_str().unwrap();
    let (code, out, err) = run(&["eval", f, "--verifier", "arith"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("n/a"), "{out}");
    assert!(!out.contains(" 0.0"), "{out}");
    let (code, out, err) = run(&["eval", f, "--verifier", "arith", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["files"][0]["n"], 0);
    assert!(v["files"][0]["f1"].is_null(), "{v}");
    assert!(v["average"]["unweighted_f1"].is_null(), "{v}");
}
