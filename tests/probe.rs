//! A probe trained here on smollm2's hidden states (fetched through our own fetch code): `train`
//! writes a head with its cross-validated metrics, `eval` and `score` run it as `probe:HEAD`
//! like any verifier (stored and reused), say when a file shares problems with its training
//! data, and a head is refused on a model whose weights it was not trained on.

mod common;

use std::path::PathBuf;

fn demo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/demo.jsonl")
}

#[test]
fn train_then_eval_and_score_with_the_probe() {
    if common::fetched("smollm2").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (head, store) = (dir.path().join("head.json"), dir.path().join("store"));
    let (h, s, d) = (head.to_str().unwrap(), store.to_str().unwrap(), demo());
    let d = d.to_str().unwrap();
    let states = dir.path().join("states");
    let states = states.to_str().unwrap();
    let train =
        ["train", d, "--model", "smollm2", "--layer", "20", "--folds", "2", "--states", states, "--json", "-o", h];
    let (code, out, err) = common::run(&train);
    assert_eq!(code, 0, "{err}");
    let m: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    for key in ["f1", "acc_err", "acc_corr", "step_auroc", "trace_auroc", "position_step_auroc"] {
        assert!(m.get(key).is_some(), "{key} missing: {m}");
    }
    assert_eq!((m["layer"].as_u64(), m["folds"].as_u64(), m["traces"].as_u64()), (Some(20), Some(2), Some(7)), "{m}");
    assert_eq!(m["forward_passes"], 7, "one forward pass per labelled trace: {m}");
    let head_json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&head).unwrap()).unwrap();
    assert_eq!(head_json["weights"].as_array().unwrap().len(), 576, "smollm2's hidden size");
    assert_eq!(head_json["problems"].as_array().unwrap().len(), 7);
    // Refitting reads the cached states: no forward pass.
    let (code, out, err) = common::run(&train);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"forward_passes\":0"), "{out}");

    let spec = format!("probe:{h}");
    let (code, out, err) = common::run(&["eval", d, "--verifier", &spec, "--store", s]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("verifier {spec}")), "{out}");
    assert!(err.contains("7 of 7 traces share a problem with"), "no silent leakage: {err}");
    let (code, out, err) = common::run(&["score", d, "--verifier", &spec, "--store", s]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("8 traces: 1 scored, 7 reused"), "eval stored the 7 labelled ones: {out}");
    let (code, out, err) = common::run(&["score", d, "--verifier", &spec, "--store", s]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 scored, 8 reused"), "{out}");

    // A head trained on other weights is refused, naming both fingerprints.
    let mut other = head_json.clone();
    other["model_fingerprint"] = serde_json::json!("not-these-weights");
    let wrong = dir.path().join("wrong.json");
    std::fs::write(&wrong, other.to_string()).unwrap();
    let spec = format!("probe:{}", wrong.display());
    let (code, _, err) = common::run(&["score", d, "--verifier", &spec, "--store", s]);
    assert_ne!(code, 0);
    assert!(err.contains("was trained on smollm2 with fingerprint not-these-weights"), "{err}");
}
