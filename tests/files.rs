//! Hostile and careless input files and outputs: pipes, FIFOs, bad bytes, incomplete records,
//! special output files, full disks, and exports that must read back.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::{bin, run, shared, stats_json};
use serde_json::Value;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn demo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/demo.jsonl")
}

fn messages(v: &Value) -> Vec<String> {
    v["problems"].as_array().unwrap().iter().map(|p| format!("{}: {}", p["line"], p["message"])).collect()
}

#[test]
fn a_fifo_and_stdin_are_read_as_streams() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("traces.jsonl");
    common::mkfifo(&fifo);
    let content = fs::read(demo()).unwrap();
    let (fifo2, content2) = (fifo.clone(), content.clone());
    let writer = std::thread::spawn(move || {
        // Opening blocks until the reader opens; errors only mean the reader gave up.
        if let Ok(mut f) = fs::OpenOptions::new().write(true).open(&fifo2) {
            let _ = f.write_all(&content2);
        }
    });
    let (code, out, err) = common::run_with_timeout(&["stats", "--json", s(&fifo)], std::time::Duration::from_secs(30));
    writer.join().unwrap();
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["traces"], 8, "{v}");

    // /dev/stdin fed by a pipe.
    let mut child = bin()
        .args(["stats", "--json", "/dev/stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&content).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["traces"], 8, "{v}");
}

#[test]
fn one_bad_byte_costs_one_record() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.jsonl");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"{\"stepscope\": 1, \"id\": \"a\", \"problem\": \"p\", \"steps\": [\"x\"]}\n");
    bytes.extend_from_slice(b"{\"stepscope\": 1, \"id\": \"b\", \"problem\": \"caf\xe9\", \"steps\": [\"x\"]}\n");
    bytes.extend_from_slice(b"{\"stepscope\": 1, \"id\": \"c\", \"problem\": \"p\", \"steps\": [\"x\"]}\n");
    fs::write(&file, bytes).unwrap();
    let (code, v) = stats_json(&[s(&file)]);
    assert_eq!(code, 0);
    assert_eq!(v["traces"], 2, "{v}");
    let m = messages(&v);
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(m[0].starts_with("2: ") && m[0].contains("not valid UTF-8"), "{m:?}");
}

#[test]
fn incomplete_records_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pb.jsonl");
    fs::write(
        &file,
        "{\"id\": \"ok\", \"problem\": \"p\", \"steps\": [\"a\", \"b\"], \"label\": 1}\n\
         {\"id\": \"no-problem\", \"steps\": [\"a\"], \"label\": -1}\n\
         {\"id\": \"\", \"problem\": \"p\", \"steps\": [\"a\"], \"label\": -1}\n\
         {\"id\": \"no-steps\", \"problem\": \"p\", \"steps\": [], \"label\": -1}\n",
    )
    .unwrap();
    let (_, v) = stats_json(&[s(&file), "--format", "processbench"]);
    assert_eq!(v["traces"], 1, "{v}");
    let m = messages(&v).join("\n");
    assert!(m.contains("2: \"field `problem`: missing"), "{m}");
    assert!(m.contains("3: \"field `id`: empty"), "{m}");
    assert!(m.contains("4: \"field `steps`: no steps"), "{m}");

    let native = dir.path().join("n.jsonl");
    fs::write(
        &native,
        "{\"stepscope\": 1, \"id\": \"no-problem\", \"steps\": [\"a\"]}\n\
         {\"stepscope\": 1, \"id\": \"\", \"problem\": \"p\", \"steps\": [\"a\"]}\n\
         {\"stepscope\": 1, \"id\": \"no-steps\", \"problem\": \"p\", \"steps\": []}\n\
         {\"stepscope\": 1, \"id\": \"empty-generation\", \"problem\": \"p\", \"solution\": \"\"}\n",
    )
    .unwrap();
    let (_, v) = stats_json(&[s(&native)]);
    assert_eq!(v["traces"], 1, "only the empty generation loads: {v}");
    let m = messages(&v).join("\n");
    assert!(m.contains("1: \"field `problem`: missing"), "{m}");
    assert!(m.contains("2: \"field `id`: empty"), "{m}");
    assert!(m.contains("3: \"field `steps`: no steps"), "{m}");
}

#[test]
fn a_closed_pipe_is_a_normal_end() {
    let Some(pb) = shared("data/processbench/gsm8k.json") else { return };
    for args in [
        vec!["stats", s(&pb)],
        vec!["export", s(&pb), "--to", "jsonl", "-o", "-"],
        vec!["models", "list"],
        vec!["eval", s(&pb), "--verifier", "arith"],
    ] {
        let mut child = bin().args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(child.stdout.take()); // the reader is gone before anything is written
        let mut err = String::new();
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn a_full_disk_is_an_error() {
    let file = fs::File::create("/dev/full").unwrap();
    let out = bin().args(["stats", "--json", s(&demo())]).stdout(file).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("No space left"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn export_writes_through_symlinks_and_streams_to_fifos() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.jsonl");
    fs::write(&target, "old").unwrap();
    let link = dir.path().join("link.jsonl");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let (code, _, err) = run(&["export", s(&demo()), "--to", "jsonl", "-o", s(&link)]);
    assert_eq!(code, 0, "{err}");
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link stays a link");
    assert_eq!(fs::read_to_string(&target).unwrap().lines().count(), 8);

    let fifo = dir.path().join("out.fifo");
    common::mkfifo(&fifo);
    let fifo2 = fifo.clone();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        fs::File::open(&fifo2).unwrap().read_to_string(&mut text).unwrap();
        text
    });
    let (code, _, err) = run(&["export", s(&demo()), "--to", "jsonl", "-o", s(&fifo)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(reader.join().unwrap().lines().count(), 8);
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO stays a FIFO");

    // A character device (made in our own folder: /dev/null's numbers).
    let null = dir.path().join("null");
    let made = std::process::Command::new("mknod").arg(&null).args(["c", "1", "3"]).status();
    if made.is_ok_and(|s| s.success()) {
        let (code, _, err) = run(&["export", s(&demo()), "--to", "jsonl", "-o", s(&null)]);
        assert_eq!(code, 0, "{err}");
        assert!(fs::symlink_metadata(&null).unwrap().file_type().is_char_device(), "the device stays a device");
    } else {
        common::skip("mknod not permitted; the device-file case of this test did not run");
    }
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A write error (here: the file-size limit, as a full disk would) leaves no temp file behind.
#[test]
fn a_failed_export_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let script = format!(
        "trap '' XFSZ; ulimit -f 2; exec '{}' export '{}' --to jsonl -o '{}'",
        env!("CARGO_BIN_EXE_stepscope"),
        s(&demo()),
        s(&out)
    );
    let res = std::process::Command::new("sh").arg("-c").arg(script).output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot write"), "{err}");
    let names: Vec<String> =
        fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.is_empty(), "{names:?}");
}

/// PRM800K rows with the shapes the data really has (give_up, bad_problem, human completions,
/// null ratings) load; rows with wrong shapes are problems with a field, not silent guesses.
fn prm800k_edge_rows(dir: &Path) -> PathBuf {
    let q = |p: &str| serde_json::json!({"problem": p, "ground_truth_answer": "4", "pre_generated_steps": ["a", "b"]});
    let step = |text: &str, rating: Value| serde_json::json!({"completions": [{"text": text, "rating": rating, "flagged": false}], "human_completion": null, "chosen_completion": 0});
    let rows = [
        serde_json::json!({"question": q("give up"), "label": {"steps": [step("2+2", Value::from(1)), {"completions": [{"text": "hmm", "rating": 0}, {"text": "no", "rating": -1}], "human_completion": null, "chosen_completion": null}], "finish_reason": "give_up"}}),
        serde_json::json!({"question": q("bad problem"), "label": {"steps": [], "finish_reason": "bad_problem"}}),
        serde_json::json!({"question": q("human"), "label": {"steps": [step("2+2", Value::Null), {"completions": [{"text": "5", "rating": -1}], "human_completion": {"text": "4", "rating": null, "source": "human"}, "chosen_completion": null}], "finish_reason": "solution"}}),
        serde_json::json!({"question": q("completions not a list"), "label": {"steps": [{"completions": "text", "chosen_completion": 0}], "finish_reason": "solution"}}),
        serde_json::json!({"question": q("chosen out of range"), "label": {"steps": [{"completions": [{"text": "a", "rating": 1}], "chosen_completion": 4}], "finish_reason": "solution"}}),
        serde_json::json!({"question": q("rating is text"), "label": {"steps": [{"completions": [{"text": "a", "rating": "good"}], "chosen_completion": 0}], "finish_reason": "solution"}}),
        serde_json::json!({"question": q("steps not a list"), "label": {"steps": {"0": 1}, "finish_reason": "solution"}}),
        serde_json::json!({"question": q("unknown finish"), "label": {"steps": [step("a", Value::from(1))], "finish_reason": "maybe"}}),
    ];
    let path = dir.join("prm800k.jsonl");
    fs::write(&path, rows.iter().map(|r| r.to_string() + "\n").collect::<String>()).unwrap();
    path
}

#[test]
fn prm800k_wrong_shapes_are_problems() {
    let dir = tempfile::tempdir().unwrap();
    let path = prm800k_edge_rows(dir.path());
    let (_, v) = stats_json(&[s(&path)]);
    let m = messages(&v).join("\n");
    assert_eq!(v["traces"], 3, "{m}");
    assert!(m.contains("4: \"field `label.steps[0].completions`"), "{m}");
    assert!(m.contains("5: \"field `label.steps[0].chosen_completion`"), "{m}");
    assert!(m.contains("6: \"field `label.steps[0].completions[0].rating`"), "{m}");
    assert!(m.contains("7: \"field `label.steps`"), "{m}");
    assert!(m.contains("8: \"field `label.finish_reason`"), "{m}");
}

/// Every writer's output reads back: same number of traces, no problems, same labels.
#[test]
fn every_export_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = vec![demo(), prm800k_edge_rows(dir.path())];
    for rel in ["data/processbench/gsm8k.json", "data/gsm8k/test.jsonl", "data/gsm8k/example_model_solutions.jsonl"] {
        if let Some(p) = shared(rel) {
            inputs.push(p);
        }
    }
    for input in &inputs {
        let (_, source) = stats_json(&[s(input)]);
        for to in ["jsonl", "processbench", "prm800k", "trl"] {
            let out = dir.path().join(format!("out.{to}"));
            let (code, _, err) = run(&["export", s(input), "--to", to, "-o", s(&out)]);
            assert_eq!(code, 0, "{input:?} → {to}: {err}");
            let written: u64 = err
                .lines()
                .find_map(|l| l.strip_prefix("wrote ")?.split(' ').next()?.parse().ok())
                .unwrap_or_else(|| panic!("{err}"));
            if written == 0 {
                assert_ne!(to, "jsonl", "{input:?}: the native format takes every trace");
                continue;
            }
            let (code, back) = stats_json(&[s(&out)]);
            assert_eq!(code, 0, "{input:?} → {to}");
            assert_eq!(back["traces"], written, "{input:?} → {to}: {back}");
            assert_eq!(back["problems"], serde_json::json!([]), "{input:?} → {to}");
            if to == "jsonl" {
                assert_eq!(back["traces"], source["traces"], "{input:?}");
                assert_eq!(back["dataset_labels"], source["dataset_labels"], "{input:?}");
                assert_eq!(back["final_answer"], source["final_answer"], "{input:?}");
            } else {
                let labelled = source["dataset_labels"]["first_error"].as_u64().unwrap()
                    + source["dataset_labels"]["no_error"].as_u64().unwrap();
                assert_eq!(written, labelled, "{input:?} → {to}");
                assert_eq!(back["dataset_labels"]["first_error"], source["dataset_labels"]["first_error"]);
                assert_eq!(back["dataset_labels"]["no_error"], source["dataset_labels"]["no_error"]);
            }
        }
    }
}
