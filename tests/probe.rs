//! A probe trained here on smollm2's hidden states (fetched through our own fetch code): `train`
//! writes a head with its cross-validated metrics, `eval` and `score` run it as `probe:HEAD`
//! like any verifier (stored and reused), say when a file shares problems with its training
//! data, and a head is refused on a model whose weights it was not trained on.

mod common;

use std::path::PathBuf;

fn demo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/demo.jsonl")
}

/// A fresh folder (kept while the first value lives) and the paths a training test writes in
/// it: the head named `head`, the label store and the state cache.
fn scratch(head: &str) -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let (head, store, states) = (path(head), path("store"), path("states"));
    (dir, head, store, states)
}

/// `score FILE --verifier SPEC` into a fresh `store`: every step's reading (`P(right) 0.xxx`)
/// in the journal it wrote.
fn scored_readings(file: &str, spec: &str, store: &std::path::Path) -> Vec<String> {
    let (code, _, err) = common::run(&["score", file, "--verifier", spec, "--store", store.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let journal = std::fs::read_dir(store).unwrap().next().unwrap().unwrap().path();
    let text = std::fs::read_to_string(journal).unwrap();
    text.split("P(right) ").skip(1).map(|r| r[..5].to_string()).collect()
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
    let features = ["--features", "state+tokens", "--arith", "no", "--bag", "no"];
    let base = [
        &["train", d, "--model", "smollm2", "--layer", "20", "--folds", "2"][..],
        &features,
        &["--states", states, "--json"],
    ]
    .concat();
    let train = [&base[..], &["--span-mean", "no", "-o", h]].concat();
    let (code, out, err) = common::run(&train);
    assert_eq!(code, 0, "{err}");
    let m: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(m["target"], "prm", "{m}");
    for key in ["f1", "acc_err", "acc_corr", "step_auroc", "trace_auroc", "position_step_auroc", "quintiles"] {
        assert!(m.get(key).is_some(), "{key} missing: {m}");
    }
    assert_eq!((m["layer"].as_u64(), m["folds"].as_u64(), m["traces"].as_u64()), (Some(20), Some(2), Some(7)), "{m}");
    assert_eq!(m["forward_passes"], 7, "one forward pass per labelled trace: {m}");
    let head_json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&head).unwrap()).unwrap();
    assert_eq!(m["tokens"], true, "{m}");
    assert_eq!(head_json["tokens"], true);
    assert_eq!(
        head_json["weights"].as_array().unwrap().len(),
        576 + 8,
        "smollm2's hidden size and the token statistics"
    );
    assert_eq!(head_json["problems"].as_array().unwrap().len(), 7);
    // Refitting reads the cached states: no forward pass.
    let (code, out, err) = common::run(&train);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"forward_passes\":0"), "{out}");
    // The mean states over each step are not in that cache: one more pass per trace fills it,
    // then they are read from it, and the head reads them beside the state.
    let spans = dir.path().join("spans.json");
    let with_spans = [&base[..], &["--span-mean", "yes", "-o", spans.to_str().unwrap()]].concat();
    for passes in [7, 0] {
        let (code, out, err) = common::run(&with_spans);
        assert_eq!(code, 0, "{err}");
        let m: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!((m["forward_passes"].as_u64(), m["span"].as_bool()), (Some(passes), Some(true)), "{m}");
    }
    let span_head: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&spans).unwrap()).unwrap();
    assert_eq!(span_head["weights"].as_array().unwrap().len(), 576 * 2 + 8, "the state, its step's mean, the tokens");
    let span_store = dir.path().join("span-store");
    let spec = format!("probe:{}", spans.display());
    let (code, out, err) = common::run(&["score", d, "--verifier", &spec, "--store", span_store.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("8 traces: 8 scored"), "{out}");
    let journal = std::fs::read_dir(&span_store).unwrap().next().unwrap().unwrap().path();
    let text = std::fs::read_to_string(journal).unwrap();
    assert_eq!(
        text.matches("mean state over the step").count(),
        32,
        "each of the 32 steps says what it reads:\n{text}"
    );

    // The same file's right answers as train-only traces with no error: four (the unlabelled
    // trace's among them); the three that share a problem with a labelled trace are each left
    // out of the one fold that holds that problem out.
    let other = dir.path().join("also.json");
    let also =
        [&train[..train.len() - 1], &[other.to_str().unwrap(), "--also", d, "--also-labels", "right-answers"]].concat();
    let (code, out, err) = common::run(&also);
    assert_eq!(code, 0, "{err}");
    let m: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    let also_head: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&other).unwrap()).unwrap();
    let source = also_head["sources"][1].as_str().unwrap().to_string();
    assert!(source.starts_with("right-answers train-only:"), "{source}");
    let n: u64 = source.rsplit_once('(').and_then(|(_, r)| r.split(' ').next()).and_then(|n| n.parse().ok()).unwrap();
    assert_eq!(n, 4, "{source}");
    assert_eq!(m["also_left_out"], 3, "{m}");
    assert_eq!(m["traces"], 7, "train-only traces are never scored: {m}");

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

    // Two thresholds (`train --thresholds two` writes `flag_threshold`): τ = 1 puts every step
    // below it, so alone it calls every trace wrong; a flagging threshold of 0 that no reading
    // is under calls none wrong; an explicit --threshold is one threshold again.
    let acc_corr = |flag: Option<f64>, extra: &[&str]| {
        let mut h = head_json.clone();
        h["threshold"] = serde_json::json!(1.0);
        h["flag_threshold"] = serde_json::json!(flag);
        let (path, store) =
            (dir.path().join(format!("flag-{flag:?}.json")), dir.path().join(format!("s-{flag:?}-{}", extra.len())));
        std::fs::write(&path, h.to_string()).unwrap();
        let spec = format!("probe:{}", path.display());
        let args =
            [&["eval", d, "--verifier", &spec, "--store", store.to_str().unwrap(), "--json"][..], extra].concat();
        let (code, out, err) = common::run(&args);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        v["files"][0]["acc_corr"].as_f64().unwrap()
    };
    assert_eq!(acc_corr(None, &[]), 0.0);
    assert_eq!(acc_corr(Some(0.0), &[]), 100.0);
    assert_eq!(acc_corr(Some(0.0), &["--threshold", "1"]), 0.0);

    // A bag (`train --bag yes` writes `also`): each step reads the sigmoid of its members' mean
    // logit, so a member with the head's weights and bias negated holds every step at 0.5. A
    // member of another width is refused.
    let negated =
        |v: &serde_json::Value| -> Vec<f64> { v.as_array().unwrap().iter().map(|w| -w.as_f64().unwrap()).collect() };
    let member = |weights: serde_json::Value, bias: f64| serde_json::json!({"mean": head_json["mean"], "scale": head_json["scale"], "weights": weights, "bias": bias});
    let mut bagged = head_json.clone();
    bagged["also"] = serde_json::json!([member(
        serde_json::json!(negated(&head_json["weights"])),
        -head_json["bias"].as_f64().unwrap()
    )]);
    let path = dir.path().join("bag.json");
    std::fs::write(&path, bagged.to_string()).unwrap();
    let spec = format!("probe:{}", path.display());
    let readings = scored_readings(d, &spec, &dir.path().join("s-bag"));
    assert!(readings.len() >= 32 && readings.iter().all(|r| r == "0.500"), "{readings:?}");
    bagged["also"] = serde_json::json!([member(serde_json::json!([1.0]), 0.0)]);
    std::fs::write(&path, bagged.to_string()).unwrap();
    let other_store = dir.path().join("s-bag-2");
    let (code, _, err) = common::run(&["score", d, "--verifier", &spec, "--store", other_store.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("not a probe head of format 1 with matching weights"), "{err}");
}

/// An ORM head from outcome labels (each demo trace's final answer against its reference):
/// every trace teaches it, the held-out traces are ranked into quintiles, and it scores a file
/// as `probe:HEAD` with P(answer right) at each step, reading each step's token statistics
/// against its trace's, through a hidden layer (`--head mlp`).
#[test]
fn an_outcome_head_trains_and_scores() {
    if common::fetched("smollm2").is_none() {
        return;
    }
    let (_dir, head, store, states) = scratch("orm.json");
    let (h, s, st, d) = (head.to_str().unwrap(), store.to_str().unwrap(), states.to_str().unwrap(), demo());
    let d = d.to_str().unwrap();
    let args = ["train", d, "--model", "smollm2", "--labels", "outcome", "--layer", "20", "--folds", "2"];
    let args =
        [&args[..], &["--features", "state+tokens+trace", "--arith", "yes", "--head", "mlp", "--bag", "no"]].concat();
    let args = [&args[..], &["--span-mean", "no"]].concat();
    let (code, out, err) = common::run(&[&args[..], &["--states", st, "--json", "-o", h]].concat());
    assert_eq!(code, 0, "{err}");
    let m: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!((m["target"].as_str(), m["traces"].as_u64()), (Some("orm"), Some(8)), "all 8 have an outcome: {m}");
    assert!(m["trace_auroc"].is_number() && m["first_step_trace_auroc"].is_number(), "{m}");
    let quintiles = m["quintiles"].as_array().unwrap();
    assert_eq!(quintiles.iter().map(|q| q["traces"].as_u64().unwrap()).sum::<u64>(), 8, "{m}");
    let head_json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&head).unwrap()).unwrap();
    assert_eq!(head_json["target"], "orm");
    assert_eq!((m["trace"].as_bool(), head_json["trace"].as_bool()), (Some(true), Some(true)), "{m}");
    assert_eq!((m["arith"].as_bool(), head_json["arith"].as_bool()), (Some(true), Some(true)), "{m}");
    assert_eq!(m["fold_arith"], serde_json::json!([true, true]), "{m}");
    let width = 576 + 8 * 4 + 3;
    assert_eq!(
        head_json["mean"].as_array().unwrap().len(),
        width,
        "the state, the step's token statistics, their trace's mean, lowest and highest, the arithmetic checks"
    );
    assert_eq!(m["head"], "mlp", "{m}");
    let hidden = &head_json["hidden"];
    assert_eq!(hidden["weights"].as_array().unwrap().len(), 32 * width, "32 units on every feature");
    assert_eq!(head_json["weights"].as_array().unwrap().len(), 32, "the output weighs the units");
    let spec = format!("probe:{h}");
    let (code, out, err) = common::run(&["score", d, "--verifier", &spec, "--store", s]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("8 traces: 8 scored"), "{out}");
    let journal = std::fs::read_dir(&store).unwrap().next().unwrap().unwrap().path();
    let text = std::fs::read_to_string(journal).unwrap();
    let reads = |l: &&str| l.contains("P(answer right)") && l.contains("arithmetic checks");
    let details = text.lines().filter(|l| l.contains("\"kind\":\"verify\"") && reads(l)).count();
    assert_eq!(details, 8, "each stored result says what the ORM reads:\n{text}");
}

/// `synth slips` on GSM8K train: each problem gives a clean reference and a copy with one wrong
/// computed result (its labelled first error, the trace cut there, the answer following the
/// slip), no calculator annotation left; `train` learns from the file like any labelled one.
#[test]
fn synthetic_slips_label_their_first_error_and_train_a_probe() {
    let Some(train_file) = common::shared("data/gsm8k/train.jsonl") else { return };
    if common::fetched("smollm2").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("slips.jsonl");
    let (t, o) = (train_file.to_str().unwrap(), out.to_str().unwrap());
    let (code, text, err) = common::run(&["synth", "slips", t, "--n", "10", "--seed", "3", "-o", o]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("20 traces from 10 problems (10 with a slip)"), "{text}");
    let rows: Vec<serde_json::Value> =
        std::fs::read_to_string(&out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for pair in rows.chunks(2) {
        let (clean, slip) = (&pair[0], &pair[1]);
        assert_eq!(slip["id"].as_str().unwrap(), format!("{}~slip", clean["id"].as_str().unwrap()));
        assert_eq!((clean["label"].as_i64(), clean["final_answer_correct"].as_bool()), (Some(-1), Some(true)));
        let k = slip["label"].as_u64().unwrap() as usize;
        let steps = slip["steps"].as_array().unwrap();
        assert_eq!(steps.len(), k + 1, "cut after the slip: {slip}");
        assert_eq!(slip["final_answer_correct"], false);
        assert!(steps[k]["text"].as_str().unwrap().contains(slip["final_answer"].as_str().unwrap()), "{slip}");
        assert_ne!(steps[k]["text"], clean["steps"][k]["text"], "the slipped step differs from the reference");
        assert_eq!(steps[..k], clean["steps"].as_array().unwrap()[..k], "earlier steps are the reference's");
        assert!(!slip.to_string().contains("<<") && !clean.to_string().contains("<<"), "no annotation left");
    }
    let head = dir.path().join("head.json");
    let states = dir.path().join("states");
    let args = ["train", o, "--model", "smollm2", "--layer", "20", "--folds", "2", "--json", "-o"];
    let (code, text, err) =
        common::run(&[&args[..], &[head.to_str().unwrap(), "--states", states.to_str().unwrap()]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("\"traces\":20"), "{text}");
    // As train-only data beside the demo's labels: scored traces are the demo's 7, and the
    // slips' states come from the cache.
    let demo = demo();
    let args = ["train", demo.to_str().unwrap(), "--also", o, "--model", "smollm2", "--layer", "20", "--folds", "2"];
    let (code, text, err) = common::run(
        &[&args[..], &["--json", "-o", head.to_str().unwrap(), "--states", states.to_str().unwrap()]].concat(),
    );
    assert_eq!(code, 0, "{err}");
    let m: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!((m["traces"].as_u64(), m["forward_passes"].as_u64()), (Some(7), Some(7)), "{m}");
    let head_json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&head).unwrap()).unwrap();
    assert_eq!(head_json["problems"].as_array().unwrap().len(), 7 + 10, "both teach: {head_json}");
    assert!(head_json["sources"][1].as_str().unwrap().starts_with("dataset train-only:"), "{head_json}");
}

/// `--bag layers`: the head file holds the inner heads of every candidate layer's best view
/// (three per layer, the others as `also`, each naming its layer when it is not the head's),
/// and `score` reads all those layers in one pass per trace and says so in each step's detail.
#[test]
fn a_bag_of_layers_trains_and_scores() {
    if common::fetched("smollm2").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (head, store, states) = (dir.path().join("head.json"), dir.path().join("store"), dir.path().join("states"));
    let (h, s, d) = (head.to_str().unwrap(), store.to_str().unwrap(), demo());
    let d = d.to_str().unwrap();
    let args = ["train", d, "--model", "smollm2", "--folds", "2", "--features", "state", "--arith", "no"];
    let args =
        [&args[..], &["--after-error", "skip", "--bag", "layers", "--states", states.to_str().unwrap()]].concat();
    let (code, out, err) = common::run(&[&args[..], &["--json", "-o", h]].concat());
    assert_eq!(code, 0, "{err}");
    let m: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(m["bag"], "layers", "{m}");
    let head_json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&head).unwrap()).unwrap();
    let also = head_json["also"].as_array().unwrap();
    assert_eq!(also.len(), 5 * 3 - 1, "three inner heads for each of five layers");
    let mut layers: Vec<u64> = also.iter().filter_map(|a| a["layer"].as_u64()).collect();
    assert_eq!(layers.len(), 4 * 3, "the head's own layer goes unnamed: {layers:?}");
    layers.push(head_json["layer"].as_u64().unwrap());
    layers.sort_unstable();
    layers.dedup();
    assert_eq!(layers.len(), 5, "{layers:?}");
    let (code, out, err) = common::run(&["score", d, "--verifier", &format!("probe:{h}"), "--store", s]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("8 traces: 8 scored"), "{out}");
    let journal = std::fs::read_dir(&store).unwrap().next().unwrap().unwrap().path();
    let text = std::fs::read_to_string(journal).unwrap();
    assert!(text.matches("and 4 other layers").count() >= 32, "every step's detail names the other layers");
}

/// `train --ask yes`: each step's row is read at the end of a question put after it. Those
/// states are cached apart from the plain ones, the head keeps the question, and `probe:HEAD`
/// asks it again when it scores (the same weights read without it give other readings).
#[test]
fn a_head_that_asks_reads_at_its_question() {
    if common::fetched("smollm2").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = demo();
    let d = d.to_str().unwrap();
    let states = dir.path().join("states");
    let base = [
        "train",
        d,
        "--model",
        "smollm2",
        "--layer",
        "20",
        "--folds",
        "2",
        "--features",
        "state",
        "--arith",
        "no",
        "--span-mean",
        "no",
        "--bag",
        "no",
        "--states",
        states.to_str().unwrap(),
        "--json",
    ];
    let (asked, plain) = (dir.path().join("asked.json"), dir.path().join("plain.json"));
    let train = |extra: &[&str], head: &std::path::Path| {
        let args = [&base[..], extra, &["-o", head.to_str().unwrap()]].concat();
        let (code, out, err) = common::run(&args);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<serde_json::Value>(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    let question = "Check: is every step so far correct? Answer yes or no:";
    for passes in [7, 0] {
        let m = train(&["--ask", "yes"], &asked);
        assert_eq!((m["forward_passes"].as_u64(), m["ask"].as_str()), (Some(passes), Some(question)), "{m}");
    }
    let m = train(&[], &plain);
    assert_eq!((m["forward_passes"].as_u64(), m["ask"].is_null()), (Some(7), true), "the asked states are others: {m}");
    let head: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&asked).unwrap()).unwrap();
    assert_eq!(head["ask"], question);
    let plain_head: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&plain).unwrap()).unwrap();
    assert!(plain_head.get("ask").is_none(), "{plain_head}");

    let readings = |h: &serde_json::Value, name: &str| -> Vec<String> {
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, h.to_string()).unwrap();
        scored_readings(d, &format!("probe:{}", path.display()), &dir.path().join(format!("s-{name}")))
    };
    let with_question = readings(&head, "with");
    assert_eq!(with_question.len(), 32, "{with_question:?}");
    let mut unasked = head.clone();
    unasked.as_object_mut().unwrap().remove("ask");
    assert_ne!(readings(&unasked, "without"), with_question, "the verifier reads where the head's question ends");

    let args = [&base[..], &["--ask", " ", "-o", asked.to_str().unwrap()]].concat();
    let (code, _, err) = common::run(&args);
    assert_ne!(code, 0);
    assert!(err.contains("the question is empty"), "{err}");
}

/// `train --labels rollout:MODEL@K` learns GLoRe's stepwise labels from the rollouts `score`
/// stored for the file: until they are stored no trace teaches and it says which command stores
/// them; then every trace with a stored run teaches (the unlabelled one too), with as many rows
/// as the steps up to the one after its last recoverable prefix.
#[test]
fn a_stepwise_orm_learns_from_stored_rollouts() {
    if common::fetched("smollm2").is_none() {
        return;
    }
    let (_dir, head, store, states) = scratch("sorm.json");
    let (h, s, st, d) = (head.to_str().unwrap(), store.to_str().unwrap(), states.to_str().unwrap(), demo());
    let d = d.to_str().unwrap();
    let spec = "rollout:smollm2@2";
    let args = ["train", d, "--model", "smollm2", "--labels", spec, "--layer", "20", "--folds", "2"];
    let reads = ["--features", "state", "--arith", "no", "--span-mean", "no", "--bag", "no", "--after-error", "skip"];
    let train = [&args[..], &reads, &["--store", s, "--states", st, "--json", "-o", h]].concat();
    let (code, _, err) = common::run(&train);
    assert_ne!(code, 0, "nothing to learn from yet");
    assert!(err.contains("8 traces have no stored rollout:smollm2@2 result"), "{err}");
    assert!(err.contains("-v rollout:smollm2@2` stores them"), "{err}");

    // Short continuations: a prefix that already states the right answer reaches it.
    let (code, _, err) = common::run(&["score", d, "-v", spec, "--max-tokens", "8", "--store", s]);
    assert_eq!(code, 0, "{err}");
    let journal = std::fs::read_dir(&store).unwrap().next().unwrap().unwrap().path();
    let mut rows = 0;
    for line in std::fs::read_to_string(journal).unwrap().lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        if r["spec"] != spec {
            continue;
        }
        let hit: Vec<bool> = r["scores"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() > 0.0).collect();
        // Steps up to the last prefix some continuation recovers from, and the one after it.
        rows += hit.iter().rposition(|&h| h).map_or(1, |last| (last + 2).min(hit.len()));
    }
    let (code, out, err) = common::run(&train);
    assert_eq!(code, 0, "{err}");
    let m: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!((m["target"].as_str(), m["traces"].as_u64()), (Some("prm"), Some(8)), "the file's labels teach 7: {m}");
    assert_eq!(m["steps"].as_u64(), Some(rows as u64), "{m}");
    let head_json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&head).unwrap()).unwrap();
    let source = head_json["sources"][0].as_str().unwrap();
    assert!(source.starts_with("rollout:smollm2@2:") && source.ends_with("(8 traces)"), "{source}");

    // A count is part of the name the results are stored under.
    let (code, _, err) = common::run(&[&args[..5], &["rollout:smollm2", "-o", h]].concat());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("rollout:MODEL@K"), "{err}");
}
