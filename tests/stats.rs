//! `stepscope stats` on the real datasets and on bad input.

mod common;

use common::{run, shared, stats_json};
use serde_json::json;
use std::fs;

#[test]
fn processbench_gsm8k_counts() {
    let Some(pb) = shared("data/processbench/gsm8k.json") else { return };
    let (code, v) = stats_json(&[pb.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(v["traces"], 400);
    assert_eq!(v["steps"], 2082);
    assert_eq!(v["dataset_labels"], json!({"first_error": 207, "no_error": 193, "none": 0}));
    assert_eq!(v["final_answer"], json!({"correct": 200, "wrong": 200, "unknown": 0}));
    assert_eq!(v["problems"], json!([]));
}

#[test]
fn gsm8k_solutions_and_test_counts() {
    let Some(sol) = shared("data/gsm8k/example_model_solutions.jsonl") else { return };
    let (_, v) = stats_json(&[sol.to_str().unwrap()]);
    assert_eq!(v["traces"], 5276);
    assert_eq!(v["final_answer"]["correct"], 2001);
    assert_eq!(v["final_answer"]["wrong"], 3275);
    let Some(test) = shared("data/gsm8k/test.jsonl") else { return };
    let (_, v) = stats_json(&[test.to_str().unwrap()]);
    assert_eq!(v["traces"], 1319);
    assert_eq!(v["reference_answers"], 1319);
}

/// The ProcessBench array as JSONL, one record per line.
fn processbench_jsonl() -> Option<Vec<String>> {
    let pb = shared("data/processbench/gsm8k.json")?;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&fs::read_to_string(pb).unwrap()).unwrap();
    Some(rows.iter().map(|r| r.to_string()).collect())
}

#[test]
fn garbage_line_is_reported_and_the_rest_loads() {
    let Some(mut lines) = processbench_jsonl() else { return };
    lines[16] = "{this is not json at all".into();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pb.jsonl");
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    let (code, v) = stats_json(&[path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(v["traces"], 399);
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0]["line"], 17);
    assert!(problems[0]["file"].as_str().unwrap().ends_with("pb.jsonl"));
    let (strict, _) = stats_json(&[path.to_str().unwrap(), "--strict"]);
    assert_eq!(strict, 1);
}

#[test]
fn out_of_range_labels_name_the_field() {
    let Some(mut lines) = processbench_jsonl() else { return };
    let mut row: serde_json::Value = serde_json::from_str(&lines[3]).unwrap();
    row["label"] = json!(-3);
    lines[3] = row.to_string();
    let mut row: serde_json::Value = serde_json::from_str(&lines[5]).unwrap();
    row["label"] = json!(99);
    lines[5] = row.to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pb.jsonl");
    fs::write(&path, lines.join("\n")).unwrap();
    let (code, out, err) = run(&["stats", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("traces            398"), "{out}");
    assert!(err.contains("pb.jsonl:4: field `label`: -3 is out of range"), "{err}");
    assert!(err.contains("pb.jsonl:6: field `label`: 99 is out of range"), "{err}");
}

#[test]
fn empty_binary_and_utf16_files_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 5] = [
        ("empty.jsonl", b"", "empty"),
        ("blank.jsonl", b"\n \n\t\n", "empty"),
        ("model.bin", b"GGUF\x03\x00\x00\x00\x00\x01\xff", "binary"),
        ("utf16.txt", b"\xff\xfeS\x00t\x00", "UTF-16"),
        ("latin1.txt", b"Probl\xe8me: 2+2\n\nStep 1: 4", "UTF-8"),
    ];
    for (name, bytes, expect) in cases {
        let path = dir.path().join(name);
        fs::write(&path, bytes).unwrap();
        let (code, _, err) = run(&["stats", path.to_str().unwrap()]);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains(name) && err.contains(expect), "{name}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let (code, _, err) = run(&["stats", dir.path().join("missing.json").to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("missing.json: cannot open"), "{err}");
}

#[test]
fn truncated_array_keeps_complete_records() {
    let Some(pb) = shared("data/processbench/gsm8k.json") else { return };
    let text = fs::read_to_string(pb).unwrap();
    let cut = text.len() * 3 / 4;
    let cut = (0..=cut).rev().find(|&i| text.is_char_boundary(i)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.json");
    fs::write(&path, &text[..cut]).unwrap();
    let (code, v) = stats_json(&[path.to_str().unwrap()]);
    assert_eq!(code, 0);
    let traces = v["traces"].as_u64().unwrap();
    // Exactly the records that end before the cut load.
    assert_eq!(traces, complete_objects(&text[..cut]), "{traces}");
    let messages: Vec<&str> =
        v["problems"].as_array().unwrap().iter().map(|p| p["message"].as_str().unwrap()).collect();
    assert!(messages.iter().any(|m| m.contains("truncated")), "{messages:?}");
}

/// How many objects at depth 1 of a JSON array end in `text` (a scanner of its own: brackets
/// outside strings, with escapes).
fn complete_objects(text: &str) -> u64 {
    let (mut depth, mut in_string, mut escaped, mut count) = (0usize, false, false, 0);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' => {
                depth -= 1;
                if depth == 1 && b == b'}' {
                    count += 1;
                }
            }
            _ => {}
        }
    }
    count
}
