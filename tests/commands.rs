//! Commands that had no test of their own: calibrate (text and JSON), compact's report, and
//! doctor on the CPU.

mod common;

use common::{run, shared};

#[test]
fn calibrate_sweeps_tau_and_finds_the_best() {
    let Some(pb) = shared("data/processbench/gsm8k.json") else { return };
    let pb = pb.to_str().unwrap();
    let (code, out, err) = run(&["calibrate", pb, "--verifier", "arith", "--step", "0.25", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verifier"], "arith");
    assert_eq!(v["n"], 400);
    let curve = v["curve"].as_array().unwrap();
    let taus: Vec<f64> = curve.iter().map(|p| p["tau"].as_f64().unwrap()).collect();
    assert_eq!(taus, [0.0, 0.25, 0.5, 0.75, 1.0], "{out}");
    // arith scores steps 0 or 1: every τ in (0, 1] gives the same split, τ = 0 flags nothing.
    assert_eq!(curve[0]["f1"].as_f64().unwrap(), 0.0);
    let best = &v["best"];
    let best_f1 = best["f1"].as_f64().unwrap();
    assert!(curve.iter().all(|p| p["f1"].as_f64().unwrap() <= best_f1));
    assert!(best_f1 >= 21.55, "the same F1 as eval at the default τ: {best}");
    let (code, out, err) = run(&["calibrate", pb, "--verifier", "arith"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("best τ"), "{out}");
    // Held out: each fold's τ comes from the other folds. For arith every τ in (0, 1] splits the
    // same way, so each fold takes the one nearest 0.5, and the pooled held-out F1 is eval's.
    let (code, out, err) = run(&["calibrate", pb, "--verifier", "arith", "--step", "0.25", "--folds", "5", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let cv = &v["cv"];
    assert_eq!(cv["folds"], 5, "{cv}");
    assert_eq!(cv["taus"], serde_json::json!([0.5, 0.5, 0.5, 0.5, 0.5]), "{cv}");
    let (code, out, err) = run(&["eval", pb, "--verifier", "arith", "--json"]);
    assert_eq!(code, 0, "{err}");
    let e: serde_json::Value = serde_json::from_str(&out).unwrap();
    let eval_f1 = e["files"][0]["f1"].as_f64().unwrap();
    assert!((cv["f1"].as_f64().unwrap() - eval_f1).abs() < 1e-9, "{cv} vs eval {eval_f1}");
    let (code, out, err) = run(&["calibrate", pb, "--verifier", "arith", "--folds", "3"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("held out (3 folds by problem"), "{out}");
    let (code, _, err) = run(&["calibrate", pb, "--verifier", "arith", "--folds", "1"]);
    assert_eq!(code, 2, "one fold leaves nothing to hold out: {err}");
}

#[test]
fn compact_reports_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.jsonl");
    std::fs::write(&file, "{\"stepscope\": 1, \"id\": \"a\", \"problem\": \"p\", \"steps\": [\"x\", \"y\"]}\n")
        .unwrap();
    let f = file.to_str().unwrap();
    let (code, out, _) = run(&["compact", f]);
    assert_eq!(code, 0);
    assert!(out.contains("nothing to compact"), "{out}");
    for k in ["0", "1", "0"] {
        assert_eq!(run(&["label", f, "--trace", "a", "--first-error", k, "--annotator", "ana"]).0, 0);
    }
    let (code, out, err) = run(&["compact", f]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("compacted") && out.contains(": 1 records"), "{out}");
    let (_, v) = common::stats_json(&[f]);
    assert_eq!(v["human_labels"]["first_error"], 1);
}

/// `doctor` on the CPU: the device lines, nine checks (three architectures × f32, bf16, f16),
/// all passing; `--device cuda:0` on a build without CUDA is a usage error that says why.
#[test]
fn doctor_checks_the_cpu_path() {
    let (code, out, err) = run(&["doctor", "--device", "cpu"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("device: cpu"), "{out}");
    assert!(out.contains("all 9 checks passed"), "{out}");
    let (code, out, err) = run(&["doctor", "--device", "cpu", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let checks = v["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 9);
    for c in checks {
        assert_eq!(c["passed"], true, "{c}");
        assert!(c["hidden"].as_f64().unwrap() <= c["tolerance"].as_f64().unwrap(), "{c}");
    }
    if !cfg!(feature = "cuda") {
        let (code, _, err) = run(&["doctor", "--device", "cuda:0"]);
        assert_eq!(code, 2);
        assert!(err.contains("no CUDA support"), "{err}");
    }
}
