//! Files written by stepscope 0.1.0 (tests/fixtures/v0.1.0, see its README) still load, mean the
//! same, and are written back in the same format.

use std::path::{Path, PathBuf};

use serde_json::Value;
use stepscope::trace::store::{parse_line, Record, Store};
use stepscope::trace::{Label, TraceFile};
use stepscope::verify::VerifierSpec;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v0.1.0")
}

/// A copy of the fixture folder (the originals are never opened for writing).
fn copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for name in ["traces.jsonl", "traces.jsonl.stepscope.jsonl"] {
        std::fs::copy(fixture().join(name), dir.path().join(name)).unwrap();
    }
    let traces = dir.path().join("traces.jsonl");
    (dir, traces)
}

fn journal(traces: &Path) -> PathBuf {
    PathBuf::from(format!("{}.stepscope.jsonl", traces.display()))
}

#[test]
fn old_journal_replays_to_the_same_labels_results_and_signals() {
    let (_dir, traces) = copy();
    let store = Store::open(&journal(&traces)).unwrap();
    assert!(store.warnings.is_empty(), "{:?}", store.warnings);
    assert_eq!(store.label("bakery-muffins", "ann"), Some(Label::FirstError(2)));
    assert_eq!(store.label("bakery-muffins", "bob"), Some(Label::NoError));
    assert_eq!(store.label("books-weight", "ann"), None, "cleared");
    assert_eq!(store.label("q0-s0", "ann"), Some(Label::FirstError(1)));
    assert_eq!(store.latest_label("bakery-muffins"), Some((Label::NoError, "bob")));
    assert_eq!(store.labelled_traces(Some("ann")), 2);
    assert_eq!(store.labelled_traces(Some("bob")), 1);
    assert_eq!(store.labelled_traces(None), 2);

    assert_eq!(store.result_specs(), ["critic:smollm2", "judge:smollm2", "rollout:smollm2@2"]);
    for spec in store.result_specs() {
        // Every stored spec parses back to a verifier (the menu offers them).
        let parsed: VerifierSpec = spec.parse().unwrap();
        assert_eq!(parsed.to_string(), spec);
    }
    assert_eq!(
        "rollout:smollm2@2".parse::<VerifierSpec>().unwrap(),
        VerifierSpec::Rollout { model: "smollm2".into(), rollouts: Some(2) }
    );
    let rollout = store.result("bakery-muffins", "rollout:smollm2@2").unwrap();
    assert_eq!(rollout.scores.len(), 4);
    assert_eq!(rollout.model_hash.as_deref(), Some("69924bacd2f23cff"));
    assert_eq!(store.results_for("q0-s0").len(), 2, "judge and critic; the rollout failed there");

    for id in ["bakery-muffins", "books-weight", "q0-s0"] {
        let sig = store.signal(id, "instability").unwrap();
        let typed = sig.instability().expect("instability data reads as the typed summary");
        assert_eq!(typed.per_token.len(), typed.tokens);
        assert!(typed.peak.is_some());
    }
    let h = store.signal("bakery-muffins", "answer-entropy").unwrap().answer_entropy().unwrap();
    assert_eq!(h.answer, "6");
    assert_eq!(h.h.len(), 5, "k = 0..4 steps");
    assert_eq!(h.delta.len(), 4);
}

#[test]
fn every_old_record_is_written_back_as_it_was() {
    let text = std::fs::read_to_string(fixture().join("traces.jsonl.stepscope.jsonl")).unwrap();
    let mut kinds = Vec::new();
    for line in text.lines() {
        let record = parse_line(line.as_bytes()).unwrap();
        let written = match &record {
            Record::Label(r) => r.to_json(),
            Record::Verify(r) => r.to_json(),
            Record::Signal(r) => r.to_json(),
            other => panic!("unexpected record {other:?}"),
        };
        let original: Value = serde_json::from_str(line).unwrap();
        assert_eq!(written, original, "{line}");
        kinds.push(original["kind"].as_str().unwrap().to_string());
    }
    for kind in ["label", "verify", "signal"] {
        assert!(kinds.iter().any(|k| k == kind), "the fixture has {kind} records");
    }
}

#[test]
fn old_generated_trace_keeps_its_replay_record() {
    let file = TraceFile::open(&fixture().join("traces.jsonl"), None, Default::default()).unwrap();
    let (traces, problems) = file.load_all();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(traces.len(), 3);
    let generated = &traces[2];
    let replay = generated.replay.as_ref().expect("generate stored chat and token_ids");
    let roles: Vec<&str> = replay.chat.iter().map(|t| t.role.as_str()).collect();
    assert_eq!(roles, ["system", "user"]);
    assert!(replay.chat[1].content.contains("Tom has 3 apples"));
    assert_eq!(replay.token_ids.len(), 60);
    assert_eq!(generated.tokens.as_ref().unwrap().len(), 60);
    assert!(!generated.extra.contains_key("chat") && !generated.extra.contains_key("token_ids"));
    assert!(traces[0].replay.is_none());
    // Written back in the native format, the trace reads back the same.
    let line = stepscope::trace::formats::native::to_value(generated, None).to_string();
    let original: Value =
        serde_json::from_str(std::fs::read_to_string(fixture().join("traces.jsonl")).unwrap().lines().nth(2).unwrap())
            .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&line).unwrap(), original);
}

/// Refinements written by 7d75eef (tests/fixtures/7d75eef, see its README), before provenance
/// was typed: each reads back with its provenance and is written back as it was; none of them
/// is reused (7d75eef stored no settings, so they are made again).
#[test]
fn refinements_of_7d75eef_read_back_equal() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/7d75eef/refined.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let (traces, bad) = TraceFile::open(&path, None, Default::default()).unwrap().load_all();
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(traces.len(), 5);
    for (line, t) in text.lines().zip(&traces) {
        let old: Value = serde_json::from_str(line).unwrap();
        let p = t.refinement.as_ref().expect("provenance read");
        assert_eq!(old["refinement"]["parent"].as_str(), Some(p.parent.as_str()));
        assert_eq!(old["refinement"]["strategy"].as_str(), Some(p.strategy.as_str()));
        assert!(p.strategy.parse::<stepscope::refine::strategy::Strategy>().is_ok(), "{}", p.strategy);
        assert!(!t.extra.contains_key("refinement"), "typed, not left in extra");
        let written = stepscope::trace::formats::native::to_value(t, None);
        assert_eq!(written, old, "{} reads back equal", t.id);
    }
    let fork = &traces[4].refinement.as_ref().unwrap();
    assert_eq!(
        (fork.from_step, fork.seed, fork.generated_tokens, fork.settings.as_deref()),
        (Some(2), 42, Some(12), None)
    );
    assert!(stepscope::service::refine::stored_refinements(&path).unwrap().is_empty());
}
