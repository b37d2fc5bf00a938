//! Human labels through the CLI, exports, and round trips.

mod common;

use common::{run, shared, stats_json};
use serde_json::Value;
use std::fs;

#[test]
fn label_then_stats_and_human_export() {
    let Some(pb) = shared("data/processbench/gsm8k.json") else { return };
    let pb = pb.to_str().unwrap();
    let store = tempfile::tempdir().unwrap();
    let s = store.path().to_str().unwrap();
    let (code, out, err) =
        run(&["label", pb, "--trace", "gsm8k-1", "--first-error", "2", "--annotator", "ana", "--store", s]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("gsm8k-1: first error at step 2"), "{out}");
    let (code, _, _) = run(&["label", pb, "--trace", "gsm8k-7", "--no-error", "--annotator", "bo", "--store", s]);
    assert_eq!(code, 0);
    let (_, v) = stats_json(&[pb, "--store", s]);
    assert_eq!(v["human_labels"]["first_error"], 1);
    assert_eq!(v["human_labels"]["no_error"], 1);
    let (_, v) = stats_json(&[pb, "--store", s, "--annotator", "ana"]);
    assert_eq!(v["human_labels"]["no_error"], 0);

    let out_path = store.path().join("human.json");
    let (code, _, err) = run(&[
        "export",
        pb,
        "--to",
        "processbench",
        "--labels",
        "human",
        "--store",
        s,
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("skipped 398"), "{err}");
    let rows: Vec<Value> = serde_json::from_str(&fs::read_to_string(&out_path).unwrap()).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["id"], "gsm8k-1");
    assert_eq!(rows[0]["label"], 2);
    assert_eq!(rows[1]["label"], -1);

    let (code, _, _) = run(&["label", pb, "--trace", "gsm8k-1", "--clear", "--annotator", "ana", "--store", s]);
    assert_eq!(code, 0);
    let (_, v) = stats_json(&[pb, "--store", s]);
    assert_eq!(v["human_labels"]["first_error"], 0);
}

#[test]
fn label_rejects_bad_targets() {
    let Some(pb) = shared("data/processbench/gsm8k.json") else { return };
    let pb = pb.to_str().unwrap();
    let store = tempfile::tempdir().unwrap();
    let s = store.path().to_str().unwrap();
    let (code, _, err) = run(&["label", pb, "--trace", "nope", "--no-error", "--store", s]);
    assert_eq!(code, 2);
    assert!(err.contains("no trace with id 'nope'"), "{err}");
    let (code, _, err) = run(&["label", pb, "--trace", "gsm8k-0", "--first-error", "50", "--store", s]);
    assert_eq!(code, 2);
    assert!(err.contains("out of range"), "{err}");
    let (code, _, _) = run(&["label", pb, "--trace", "gsm8k-0", "--store", s]);
    assert_eq!(code, 2, "a verdict is required");
    assert_eq!(fs::read_dir(store.path()).unwrap().count(), 0, "nothing written on errors");
}

#[test]
fn processbench_round_trip_is_exact() {
    let Some(pb) = shared("data/processbench/gsm8k.json") else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pb.json");
    let (code, _, err) = run(&["export", pb.to_str().unwrap(), "--to", "processbench", "-o", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let original: Value = serde_json::from_str(&fs::read_to_string(&pb).unwrap()).unwrap();
    let exported: Value = serde_json::from_str(&fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(original, exported);
    // Same layout as the dataset file, byte for byte.
    assert_eq!(fs::read(&pb).unwrap(), fs::read(&out).unwrap());
}

#[test]
fn native_round_trip_keeps_everything() {
    let Some(pb) = shared("data/processbench/gsm8k.json") else { return };
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.jsonl");
    let b = dir.path().join("b.jsonl");
    let (code, _, _) = run(&["export", pb.to_str().unwrap(), "--to", "jsonl", "-o", a.to_str().unwrap()]);
    assert_eq!(code, 0);
    let (code, _, _) = run(&["convert", a.to_str().unwrap(), "--to", "jsonl", "-o", b.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(fs::read_to_string(&a).unwrap(), fs::read_to_string(&b).unwrap());
    let (_, v) = stats_json(&[b.to_str().unwrap()]);
    assert_eq!(v["traces"], 400);
    assert_eq!(v["dataset_labels"]["first_error"], 207);
}

#[test]
fn export_refuses_to_overwrite_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("t.jsonl");
    fs::write(&src, "{\"stepscope\":1,\"id\":\"a\",\"problem\":\"p\",\"steps\":[\"x\"]}\n").unwrap();
    let before = fs::read(&src).unwrap();
    let (code, _, err) = run(&["export", src.to_str().unwrap(), "--to", "jsonl", "-o", src.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("refusing to overwrite"), "{err}");
    assert_eq!(fs::read(&src).unwrap(), before);
}

#[test]
fn trl_and_prm800k_rows() {
    let Some(pb) = shared("data/processbench/gsm8k.json") else { return };
    let dir = tempfile::tempdir().unwrap();
    let trl = dir.path().join("trl.jsonl");
    let prm = dir.path().join("prm.jsonl");
    assert_eq!(run(&["export", pb.to_str().unwrap(), "--to", "trl", "-o", trl.to_str().unwrap()]).0, 0);
    assert_eq!(run(&["export", pb.to_str().unwrap(), "--to", "prm800k", "-o", prm.to_str().unwrap()]).0, 0);
    let first: Value = serde_json::from_str(fs::read_to_string(&trl).unwrap().lines().next().unwrap()).unwrap();
    // gsm8k-0 has four steps, the first error at step 1.
    assert_eq!(first["labels"], serde_json::json!([true, false, false, false]));
    // The PRM800K export reads back with the same labels.
    let (_, v) = stats_json(&[prm.to_str().unwrap()]);
    assert_eq!(v["traces"], 400);
    assert_eq!(v["dataset_labels"]["first_error"], 207);
    assert_eq!(v["dataset_labels"]["no_error"], 193);
}

#[test]
fn read_only_folder_falls_back_to_the_data_dir() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    fs::create_dir(&ro).unwrap();
    let src = ro.join("t.jsonl");
    fs::write(&src, "{\"stepscope\":1,\"id\":\"a\",\"problem\":\"p\",\"steps\":[\"x\",\"y\"]}\n").unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    let out = common::bin()
        .args(["label", src.to_str().unwrap(), "--trace", "a", "--first-error", "1", "--annotator", "ana"])
        .env("STEPSCOPE_DATA_DIR", data.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("read-only"), "the fallback is announced: {err}");
    let names: Vec<_> = fs::read_dir(&ro).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "nothing written beside the source: {names:?}");
    let stats = common::bin()
        .args(["stats", "--json", src.to_str().unwrap()])
        .env("STEPSCOPE_DATA_DIR", data.path())
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(v["human_labels"]["first_error"], 1);
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
}
