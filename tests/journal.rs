//! The label journal under attack: concurrent writers and compaction, compaction that keeps what
//! it cannot read, journals found wherever they were written, and journals keyed by real paths.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{run, run_env, stats_json};
use serde_json::Value;

/// A native trace file with `n` traces `t0..` of three steps each.
fn traces(dir: &Path, name: &str, n: usize) -> PathBuf {
    let path = dir.join(name);
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "{{\"stepscope\": 1, \"id\": \"t{i}\", \"problem\": \"p{i}\", \"steps\": [\"a\", \"b\", \"c\"]}}\n"
        ));
    }
    fs::write(&path, text).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Human labels of one annotator as (trace id, ProcessBench label), read through `export`.
fn exported_labels(file: &Path, annotator: &str, extra: &[&str], env: &[(&str, &str)]) -> Vec<(String, i64)> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    let mut args = vec!["export", s(file), "--to", "processbench", "--labels", "human", "--annotator", annotator];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-o", s(&out)]);
    let (code, _, err) = run_env(&args, env);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Value> = serde_json::from_str(&fs::read_to_string(out).unwrap()).unwrap();
    rows.iter().map(|r| (r["id"].as_str().unwrap().to_string(), r["label"].as_i64().unwrap())).collect()
}

/// Two processes label 200 traces each while a third compacts the journal in a loop: every
/// acknowledged label must be there at the end.
#[test]
fn concurrent_labels_and_compaction_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = traces(dir.path(), "t.jsonl", 200);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let labeller = |annotator: &'static str| {
        let (file, done) = (file.clone(), done.clone());
        std::thread::spawn(move || {
            for i in 0..200 {
                let k = (i % 3).to_string();
                let id = format!("t{i}");
                let (code, _, err) =
                    run(&["label", s(&file), "--trace", &id, "--first-error", &k, "--annotator", annotator]);
                assert_eq!(code, 0, "label {id} by {annotator}: {err}");
            }
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        })
    };
    let (a, b) = (labeller("ana"), labeller("bo"));
    let mut compactions = 0;
    while done.load(std::sync::atomic::Ordering::SeqCst) < 2 {
        let (code, _, err) = run(&["compact", s(&file)]);
        assert_eq!(code, 0, "{err}");
        compactions += 1;
    }
    a.join().unwrap();
    b.join().unwrap();
    assert!(compactions > 3, "compaction ran {compactions} times only");
    for annotator in ["ana", "bo"] {
        let labels = exported_labels(&file, annotator, &[], &[]);
        assert_eq!(labels.len(), 200, "{annotator}: {} of 200 labels kept", labels.len());
        for (id, label) in labels {
            let i: i64 = id[1..].parse().unwrap();
            assert_eq!(label, i % 3, "{annotator} {id}");
        }
    }
    // A last compaction leaves one record per label.
    assert_eq!(run(&["compact", s(&file)]).0, 0);
    let journal = fs::read_to_string(dir.path().join("t.jsonl.stepscope.jsonl")).unwrap();
    assert_eq!(journal.lines().count(), 400);
}

#[test]
fn compaction_keeps_unreadable_lines_timestamps_and_mode() {
    let dir = tempfile::tempdir().unwrap();
    let file = traces(dir.path(), "t.jsonl", 3);
    let journal = dir.path().join("t.jsonl.stepscope.jsonl");
    let good =
        r#"{"v":1,"kind":"label","trace":"t0","annotator":"ana","value":1,"op":"set","ts":"2020-01-02T03:04:05Z"}"#;
    let bad_value =
        r#"{"v":1,"kind":"label","trace":"t1","annotator":"ana","value":"two","op":"set","ts":"2020-01-02T03:04:06Z"}"#;
    let mut bytes = format!("{good}\nthis line is not JSON\n{bad_value}\n").into_bytes();
    bytes.extend_from_slice(b"{\"v\":1,\"kind\":\"label\",\"trace\":\"t\xff\"}\n");
    bytes.extend_from_slice(b"{\"v\":1,\"kind\":\"label\",\"tr"); // torn last record
    fs::write(&journal, &bytes).unwrap();
    fs::set_permissions(&journal, fs::Permissions::from_mode(0o640)).unwrap();
    let (code, out, err) = run(&["compact", s(&file)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("4 unreadable lines moved to"), "{out}");
    let text = fs::read_to_string(&journal).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    let kept: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(kept["ts"], "2020-01-02T03:04:05Z", "the label keeps its own time");
    assert_eq!(kept["value"], 1);
    assert_eq!(fs::metadata(&journal).unwrap().permissions().mode() & 0o777, 0o640);
    let rejected = fs::read(dir.path().join("t.jsonl.stepscope.jsonl.rejected")).unwrap();
    let expected: Vec<&[u8]> = vec![
        b"this line is not JSON",
        bad_value.as_bytes(),
        b"{\"v\":1,\"kind\":\"label\",\"trace\":\"t\xff\"}",
        b"{\"v\":1,\"kind\":\"label\",\"tr",
    ];
    let lines: Vec<&[u8]> = rejected.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    assert_eq!(lines, expected, "every unreadable byte is kept");
}

#[test]
fn compaction_refuses_symlinks_and_read_only_journals() {
    let dir = tempfile::tempdir().unwrap();
    let file = traces(dir.path(), "t.jsonl", 3);
    let journal = dir.path().join("t.jsonl.stepscope.jsonl");
    let (code, _, err) = run(&["label", s(&file), "--trace", "t0", "--no-error", "--annotator", "ana"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&["label", s(&file), "--trace", "t0", "--first-error", "1", "--annotator", "ana"]);
    assert_eq!(code, 0, "{err}");
    let before = fs::read(&journal).unwrap();

    fs::set_permissions(&journal, fs::Permissions::from_mode(0o444)).unwrap();
    let (code, _, err) = run(&["compact", s(&file)]);
    assert_eq!(code, 2, "a read-only journal is not compacted: {err}");
    assert!(err.contains("read-only"), "{err}");
    assert_eq!(fs::read(&journal).unwrap(), before);
    fs::set_permissions(&journal, fs::Permissions::from_mode(0o644)).unwrap();

    let real = dir.path().join("elsewhere.jsonl");
    fs::rename(&journal, &real).unwrap();
    std::os::unix::fs::symlink(&real, &journal).unwrap();
    let (code, _, err) = run(&["compact", s(&file)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert!(fs::symlink_metadata(&journal).unwrap().file_type().is_symlink());
    assert_eq!(fs::read(&real).unwrap(), before);
}

/// Labels written to the per-user store while the folder was read-only and labels beside the
/// file are both read, whichever way the folder's state changed.
#[test]
fn labels_in_both_places_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let env = [("STEPSCOPE_DATA_DIR", data.path().to_str().unwrap())];
    let folder = dir.path().join("ds");
    fs::create_dir(&folder).unwrap();
    let file = traces(&folder, "t.jsonl", 4);
    // Read-only folder: the label goes to the per-user store.
    fs::set_permissions(&folder, fs::Permissions::from_mode(0o555)).unwrap();
    let (code, _, err) = run_env(&["label", s(&file), "--trace", "t0", "--no-error", "--annotator", "ana"], &env);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("read-only"), "{err}");
    // Writable again, and a journal appears beside the file (an earlier session, a colleague).
    fs::set_permissions(&folder, fs::Permissions::from_mode(0o755)).unwrap();
    let beside = folder.join("t.jsonl.stepscope.jsonl");
    fs::write(
        &beside,
        "{\"v\":1,\"kind\":\"label\",\"trace\":\"t1\",\"annotator\":\"ana\",\"value\":2,\"op\":\"set\",\"ts\":\"2026-01-01T00:00:00Z\"}\n",
    )
    .unwrap();
    let (code, _, err) =
        run_env(&["label", s(&file), "--trace", "t2", "--first-error", "0", "--annotator", "ana"], &env);
    assert_eq!(code, 0, "{err}");
    let labels = exported_labels(&file, "ana", &[], &env);
    assert_eq!(labels, [("t0".to_string(), -1), ("t1".to_string(), 2), ("t2".to_string(), 0)]);
    let (_, v) = common::stats_json_env(&[s(&file)], &env);
    assert_eq!(v["human_labels"]["first_error"], 2);
    assert_eq!(v["human_labels"]["no_error"], 1);
}

#[test]
fn a_symlinked_trace_path_shares_the_real_files_journal() {
    let dir = tempfile::tempdir().unwrap();
    let real_dir = dir.path().join("real");
    fs::create_dir(&real_dir).unwrap();
    let file = traces(&real_dir, "t.jsonl", 3);
    let link = dir.path().join("link.jsonl");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let (code, _, err) = run(&["label", s(&link), "--trace", "t1", "--first-error", "2", "--annotator", "ana"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(exported_labels(&file, "ana", &[], &[]), [("t1".to_string(), 2)]);
    assert_eq!(exported_labels(&link, "ana", &[], &[]), [("t1".to_string(), 2)]);
    assert!(!dir.path().join("link.jsonl.stepscope.jsonl").exists());
}

#[test]
fn store_folder_keeps_same_named_files_apart() {
    let dir = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    for sub in ["a", "b"] {
        fs::create_dir(dir.path().join(sub)).unwrap();
    }
    let a = traces(&dir.path().join("a"), "t.jsonl", 3);
    let b = traces(&dir.path().join("b"), "t.jsonl", 3);
    let st = ["--store", s(store.path())];
    let mut args = vec!["label", s(&a), "--trace", "t0", "--no-error", "--annotator", "ana"];
    args.extend_from_slice(&st);
    let (code, _, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(exported_labels(&a, "ana", &st, &[]).len(), 1);
    assert_eq!(exported_labels(&b, "ana", &st, &[]), [], "b/t.jsonl has its own journal");
}

#[test]
fn duplicate_ids_are_problems_and_cannot_be_labelled() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dup.jsonl");
    fs::write(
        &file,
        "{\"stepscope\": 1, \"id\": \"x\", \"problem\": \"p\", \"steps\": [\"a\"]}\n\
         {\"stepscope\": 1, \"id\": \"y\", \"problem\": \"p\", \"steps\": [\"a\"]}\n\
         {\"stepscope\": 1, \"id\": \"x\", \"problem\": \"q\", \"steps\": [\"b\", \"c\"]}\n",
    )
    .unwrap();
    let (_, v) = stats_json(&[s(&file)]);
    let problems = v["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["line"] == 3 && p["message"].as_str().unwrap().contains("duplicate id x, first at line 1")),
        "{v}"
    );
    let (code, _, err) = run(&["label", s(&file), "--trace", "x", "--no-error", "--annotator", "ana"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ambiguous") && err.contains("lines 1 and 3"), "{err}");
    assert!(!dir.path().join("dup.jsonl.stepscope.jsonl").exists(), "nothing written");
    let (code, _, err) = run(&["label", s(&file), "--trace", "y", "--no-error", "--annotator", "ana"]);
    assert_eq!(code, 0, "{err}");
}

/// Problems of the journal itself reach `stats --json`, with the journal's file and line.
#[test]
fn journal_problems_are_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = traces(dir.path(), "t.jsonl", 2);
    let journal = dir.path().join("t.jsonl.stepscope.jsonl");
    fs::write(
        &journal,
        "{\"v\":1,\"kind\":\"label\",\"trace\":7,\"annotator\":\"ana\",\"value\":1,\"op\":\"set\",\"ts\":\"2020-01-01T00:00:00Z\"}\n\
         {\"v\":3,\"kind\":\"label\",\"trace\":\"t0\",\"annotator\":\"ana\",\"value\":1,\"op\":\"set\",\"ts\":\"2020-01-01T00:00:00Z\"}\n\
         {\"v\":1,\"kind\":\"label\",\"trace\":\"t1\",\"annotator\":\"ana\",\"value\":9,\"op\":\"set\",\"ts\":\"2020-01-01T00:00:00Z\"}\n",
    )
    .unwrap();
    let (_, v) = stats_json(&[s(&file)]);
    let problems: Vec<(String, u64, String)> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["file"].as_str().unwrap().to_string(),
                p["line"].as_u64().unwrap(),
                p["message"].as_str().unwrap().into(),
            )
        })
        .collect();
    let at = |line: u64| {
        problems
            .iter()
            .find(|(f, l, _)| f.ends_with("t.jsonl.stepscope.jsonl") && *l == line)
            .unwrap_or_else(|| panic!("no journal problem at line {line}: {problems:?}"))
            .2
            .clone()
    };
    assert!(at(1).contains("`trace` is a number, expected a string"), "{}", at(1));
    assert!(at(2).contains("version 3"), "{}", at(2));
    assert!(at(3).contains("step 9") && at(3).contains("t1 has steps 0..=2"), "{}", at(3));
}

#[test]
fn a_journal_that_is_a_fifo_is_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let file = traces(dir.path(), "t.jsonl", 2);
    let journal = dir.path().join("t.jsonl.stepscope.jsonl");
    common::mkfifo(&journal);
    let (code, _, err) = common::run_with_timeout(&["stats", s(&file)], std::time::Duration::from_secs(20));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    // Labelling names the FIFO as the reason, not a read-only folder (the folder is writable).
    let (_, _, err) = common::run_with_timeout(
        &["label", s(&file), "--trace", "t0", "--no-error"],
        std::time::Duration::from_secs(20),
    );
    assert!(err.contains("not a regular file") && !err.contains("read-only"), "{err}");
}

/// `compact` on a full disk (here: the file-size limit) leaves the journal as it was and no empty
/// or partial `.rejected` beside it.
#[test]
fn compact_on_a_full_disk_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = traces(dir.path(), "t.jsonl", 2);
    let journal = dir.path().join("t.jsonl.stepscope.jsonl");
    let unreadable = format!("{{not json {}\n", "x".repeat(8000));
    std::fs::write(&journal, &unreadable).unwrap();
    let script =
        format!("trap '' XFSZ; ulimit -f 4; exec '{}' compact '{}'", env!("CARGO_BIN_EXE_stepscope"), s(&file));
    let res = std::process::Command::new("sh").arg("-c").arg(script).output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(2), "{err}");
    assert!(err.contains(".rejected") && err.contains("the journal is unchanged"), "{err}");
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), unreadable);
    assert!(!dir.path().join("t.jsonl.stepscope.jsonl.rejected").exists(), "a partial .rejected was left");
}
