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
    // Against the source itself, read here with serde_json alone: every record's fields kept.
    let source: Vec<serde_json::Value> = serde_json::from_str(&fs::read_to_string(&pb).unwrap()).unwrap();
    let native: Vec<serde_json::Value> =
        fs::read_to_string(&a).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(source.len(), native.len());
    for (s, n) in source.iter().zip(&native) {
        for key in ["id", "problem", "label", "generator", "final_answer_correct"] {
            assert_eq!(s[key], n[key], "{key} of {}", s["id"]);
        }
        let steps: Vec<&serde_json::Value> = n["steps"].as_array().unwrap().iter().map(|st| &st["text"]).collect();
        assert_eq!(s["steps"].as_array().unwrap().iter().collect::<Vec<_>>(), steps, "steps of {}", s["id"]);
    }
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

/// Two scripted annotators on ProcessBench GSM8K: ana copies the dataset's label on the first
/// 200 traces; bo copies it too except on every fifth trace, where bo says "no error" for a
/// labelled error and "step 0" for a clean trace. `agree` and `report` must give the numbers
/// counted here by hand from the same script.
#[test]
fn agree_and_report_with_two_scripted_annotators() {
    let Some(pb) = shared("data/processbench/gsm8k.json") else { return };
    let rows: Vec<Value> = serde_json::from_str(&fs::read_to_string(&pb).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opener = stepscope::trace::Opener { store_dir: Some(dir.path().to_path_buf()), ..Default::default() };
    let mut store = opener.store(&pb).unwrap();
    let mut pairs = Vec::new(); // (ana, bo) as ProcessBench indices
    for (i, r) in rows.iter().take(200).enumerate() {
        let id = r["id"].as_str().unwrap();
        let ds = r["label"].as_i64().unwrap();
        let bo = match (i % 5, ds) {
            (0, -1) => 0,
            (0, _) => -1,
            _ => ds,
        };
        let label = |k: i64| Some(stepscope::trace::model::label_from_index(k).unwrap());
        store.set_label(id, "ana", label(ds)).unwrap();
        store.set_label(id, "bo", label(bo)).unwrap();
        pairs.push((ds, bo));
    }
    let (p, s) = (pb.to_str().unwrap(), dir.path().to_str().unwrap());
    let (code, out, err) = run(&["agree", p, "--store", s, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let overall = &v["overall"];
    assert_eq!(overall["annotators"], serde_json::json!(["ana", "bo"]));
    assert_eq!(overall["units"], 200);
    let pair = |a: &str, b: &str| {
        overall["pairs"].as_array().unwrap().iter().find(|x| x["a"] == a && x["b"] == b).unwrap().clone()
    };
    let ana_bo = pair("ana", "bo");
    assert_eq!(
        (ana_bo["n"].as_u64(), ana_bo["exact"].as_f64(), ana_bo["within_one"].as_f64()),
        (Some(200), Some(80.0), Some(80.0))
    );
    // κ by hand: p_o = 0.8; p_e from each annotator's share of every label value.
    let n = pairs.len() as f64;
    let values: std::collections::BTreeSet<i64> = pairs.iter().flat_map(|(a, b)| [*a, *b]).collect();
    let share =
        |v: i64, first: bool| pairs.iter().filter(|(a, b)| if first { *a == v } else { *b == v }).count() as f64 / n;
    let pe: f64 = values.iter().map(|&v| share(v, true) * share(v, false)).sum();
    let kappa = (0.8 - pe) / (1.0 - pe);
    assert!((ana_bo["kappa"].as_f64().unwrap() - kappa).abs() < 1e-9, "{ana_bo} vs {kappa}");
    // α by hand (two raters, no missing values): 400 values; 40 disagreeing units give 80
    // disagreeing ordered pairs; α = 1 − (N − 1)·80 / (N² − Σ n_c²).
    let counts: Vec<f64> = values.iter().map(|&v| (share(v, true) + share(v, false)) * n).collect();
    let total: f64 = counts.iter().sum();
    let alpha = 1.0 - (total - 1.0) * 80.0 / (total * total - counts.iter().map(|c| c * c).sum::<f64>());
    assert!((ana_bo["alpha"].as_f64().unwrap() - alpha).abs() < 1e-9, "{ana_bo} vs {alpha}");
    assert!((overall["alpha_annotators"].as_f64().unwrap() - alpha).abs() < 1e-9);
    let ana_ds = pair("ana", "dataset");
    assert_eq!((ana_ds["exact"].as_f64(), ana_ds["kappa"].as_f64()), (Some(100.0), Some(1.0)));
    assert_eq!(pair("bo", "dataset")["exact"].as_f64(), Some(80.0));
    let (_, text, _) = run(&["agree", p, "--store", s]);
    assert!(text.contains("ana ~ bo") && text.contains("Krippendorff's α over all annotators"), "{text}");

    // The report with bo's labels only (the dataset's do not stand in where bo has none).
    let (code, out, err) = run(&["report", p, "--store", s, "--annotator", "bo", "--json"]);
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    let labels: Vec<i64> = (0..200).map(|i| pairs[i].1).collect();
    assert_eq!(
        (r["traces"].as_u64(), r["labelled"].as_u64(), r["human_labels"].as_u64()),
        (Some(400), Some(200), Some(200))
    );
    assert_eq!(r["no_error"].as_u64().unwrap(), labels.iter().filter(|&&l| l == -1).count() as u64);
    let at = |k: i64| labels.iter().filter(|&&l| l == k).count() as u64;
    let by_step: Vec<u64> = r["by_step"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
    assert_eq!(by_step, (0..by_step.len() as i64).map(at).collect::<Vec<_>>());
    let wrong_with_error =
        rows.iter().zip(&labels).filter(|(row, &l)| row["final_answer_correct"] == false && l >= 0).count() as u64;
    assert_eq!(r["answer_vs_error"]["wrong_with_error"].as_u64(), Some(wrong_with_error));
    let generators: u64 = r["by_generator"].as_array().unwrap().iter().map(|g| g["traces"].as_u64().unwrap()).sum();
    assert_eq!(generators, 200, "traces bo labelled");
    let (_, text, _) = run(&["report", p, "--store", s]);
    assert!(text.contains("first error at step") && text.contains("by generator"), "{text}");
}

/// A category, a note and step ratings go out with `export --labels human` and come back in
/// every format that can carry them.
#[test]
fn categories_notes_and_ratings_survive_export_and_import() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("t.jsonl");
    fs::write(&src, "{\"id\":\"t1\",\"problem\":\"2+2?\",\"steps\":[\"2+2=5\",\"so 5\"],\"label\":0}\n").unwrap();
    let (f, s) = (src.to_str().unwrap(), dir.path().to_str().unwrap());
    let (code, _, err) = run(&[
        "label",
        f,
        "--trace",
        "t1",
        "--first-error",
        "0",
        "--annotator",
        "ana",
        "--category",
        "calculation",
        "--note",
        "2+2 is 4",
        "--blind",
        "--store",
        s,
    ]);
    assert_eq!(code, 0, "{err}");
    let journal = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".stepscope.jsonl"))
        .unwrap();
    let mut store = stepscope::trace::Store::open(&journal).unwrap();
    store.set_rating("t1", "ana", 0, Some(-1)).unwrap();
    let line = fs::read_to_string(&journal).unwrap();
    assert!(line.contains("\"blind\":true") && line.contains("\"category\":\"calculation\""), "{line}");
    for to in ["jsonl", "processbench"] {
        let out = dir.path().join(format!("out.{to}"));
        let o = out.to_str().unwrap();
        let (code, _, err) = run(&["export", f, "--to", to, "--labels", "human", "--store", s, "-o", o]);
        assert_eq!(code, 0, "{err}");
        // Imported again (and exported again from it, dataset labels), the fields are there.
        let file = stepscope::trace::Opener::default().open(&out).unwrap();
        let (traces, problems) = file.load_all();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(traces[0].label_category(), Some("calculation"), "{to}");
        assert_eq!(traces[0].label_note(), Some("2+2 is 4"), "{to}");
        assert_eq!(traces[0].step_ratings(), Some(vec![Some(-1), None]), "{to}");
        let again = dir.path().join(format!("again.{to}"));
        let (code, _, err) = run(&["export", o, "--to", "jsonl", "-o", again.to_str().unwrap(), "--store", s]);
        assert_eq!(code, 0, "{err}");
        let text = fs::read_to_string(&again).unwrap();
        assert!(
            text.contains("\"error_category\":\"calculation\"") && text.contains("\"error_note\":\"2+2 is 4\""),
            "{text}"
        );
    }
    // PRM800K carries the human ratings.
    let prm = dir.path().join("out.prm800k");
    let (code, _, err) =
        run(&["export", f, "--to", "prm800k", "--labels", "human", "--store", s, "-o", prm.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let row: Value = serde_json::from_str(fs::read_to_string(&prm).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(row["label"]["steps"][0]["completions"][0]["rating"], -1);
    // Compaction keeps the detail and the rating.
    let (code, _, err) = run(&["compact", f, "--store", s]);
    assert_eq!(code, 0, "{err}");
    let store = stepscope::trace::Store::open(&journal).unwrap();
    assert_eq!(store.detail("t1", "ana").unwrap().note.as_deref(), Some("2+2 is 4"));
    assert_eq!(store.ratings("t1", "ana").unwrap().get(&0), Some(&-1));
}

/// Rows exported from human labels all have the same keys (null where a label has no category,
/// note or ratings), with the label's `blind` flag and time stamp: schema inference over the
/// rows (Arrow, `datasets`) sees one schema.
#[test]
fn exported_rows_share_one_set_of_keys() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("t.jsonl");
    let rows: String = (1..=3)
        .map(|i| format!("{{\"id\":\"t{i}\",\"problem\":\"2+{i}?\",\"steps\":[\"2+{i}=9\",\"so 9\"]}}\n"))
        .collect();
    fs::write(&src, rows).unwrap();
    let (f, s) = (src.to_str().unwrap(), dir.path().to_str().unwrap());
    let label = |extra: &[&str]| {
        let mut args = vec!["label", f, "--annotator", "ana", "--store", s];
        args.extend_from_slice(extra);
        let (code, _, err) = run(&args);
        assert_eq!(code, 0, "{err}");
    };
    label(&["--trace", "t1", "--first-error", "0", "--category", "calculation", "--note", "n", "--blind"]);
    label(&["--trace", "t2", "--first-error", "1"]);
    label(&["--trace", "t3", "--no-error"]);
    for to in ["jsonl", "processbench"] {
        let out = dir.path().join(format!("out.{to}"));
        let (code, _, err) =
            run(&["export", f, "--to", to, "--labels", "human", "--store", s, "-o", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let text = fs::read_to_string(&out).unwrap();
        let rows: Vec<Value> = if to == "jsonl" {
            text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
        } else {
            serde_json::from_str::<Vec<Value>>(&text).unwrap()
        };
        assert_eq!(rows.len(), 3, "{text}");
        let keys = |r: &Value| r.as_object().unwrap().keys().cloned().collect::<std::collections::BTreeSet<_>>();
        for r in &rows {
            assert_eq!(keys(r), keys(&rows[0]), "{to}: rows differ in their keys:\n{text}");
            assert!(r["label_ts"].as_str().is_some_and(|t| t.starts_with("20")), "{r}");
        }
        assert_eq!((rows[0]["label_blind"].as_bool(), rows[1]["label_blind"].as_bool()), (Some(true), Some(false)));
        assert_eq!(rows[0]["error_category"], "calculation");
        assert!(rows[1]["error_category"].is_null() && rows[2]["error_note"].is_null(), "{text}");
    }
}

/// `report` and `agree` cut to the sample `open --sample N --seed S` shows, and count human
/// labels only when asked; one annotator's report leaves the dataset's labels out.
#[test]
fn report_and_agree_take_the_sample_and_human_labels_only() {
    use stepscope::tui::{keymap::Keymap, load_app, state::Settings, theme::*};
    let dir = tempfile::tempdir().unwrap();
    let demo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/demo.jsonl");
    let (f, s) = (demo.to_str().unwrap(), dir.path().to_str().unwrap());
    let opener = stepscope::trace::Opener { store_dir: Some(dir.path().to_path_buf()), ..Default::default() };
    let settings = Settings::new("you".into(), Theme::new(ThemeName::Dark, false), Keymap::default());
    let mut app = load_app(std::slice::from_ref(&demo), &opener, settings);
    stepscope::tui::campaign::start(&mut app, Some((3, 7)), None);
    let sampled: Vec<String> = app.browse.visible.iter().map(|&e| app.summary(e).unwrap().id).collect();
    let all: Vec<String> = (0..app.library.entries.len()).map(|e| app.summary(e).unwrap().id).collect();
    let outside = all.iter().find(|id| !sampled.contains(id)).unwrap();
    for id in [&sampled[0], outside] {
        let (code, _, err) = run(&["label", f, "--trace", id, "--no-error", "--annotator", "you", "--store", s]);
        assert_eq!(code, 0, "{err}");
    }
    let report = |extra: &[&str]| {
        let mut args = vec!["report", f, "--store", s, "--json"];
        args.extend_from_slice(extra);
        let (code, out, err) = run(&args);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<Value>(&out).unwrap()
    };
    let r = report(&["--sample", "3", "--seed", "7", "--human-only"]);
    assert_eq!((r["traces"].as_u64(), r["labelled"].as_u64(), r["human_labels"].as_u64()), (Some(3), Some(1), Some(1)));
    let with_dataset = report(&["--sample", "3", "--seed", "7"]);
    assert_eq!(with_dataset["traces"], 3);
    assert!(with_dataset["labelled"].as_u64() > Some(1), "the dataset labels the sampled traces too: {with_dataset}");
    let r = report(&["--annotator", "you"]);
    assert_eq!((r["labelled"].as_u64(), r["human_labels"].as_u64()), (Some(2), Some(2)), "{r}");
    let (code, out, err) = run(&["agree", f, "--store", s, "--human-only", "--sample", "3", "--seed", "7"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("dataset"), "--human-only: the dataset is no label source:\n{out}");
}
