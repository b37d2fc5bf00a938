//! Round-trip properties over generated inputs: journal records write → read, every export →
//! import, and verifier specs display → parse.

use proptest::prelude::*;
use serde_json::json;
use stepscope::trace::export::{self, ExportFormat};
use stepscope::trace::store::{parse_line, LabelRecord, Op, Record, SignalData, SignalRecord, VerifyRecord};
use stepscope::trace::{Label, Trace, TraceFile};
use stepscope::verify::VerifierSpec;

fn label(steps: usize) -> impl Strategy<Value = Label> {
    prop_oneof![Just(Label::NoError), (0..steps).prop_map(Label::FirstError)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![Just(Op::Set), Just(Op::Undo), Just(Op::Redo)]
}

/// Finite numbers: JSON has no NaN or infinity (verify::run turns such scores into "no evidence").
fn number() -> impl Strategy<Value = f64> {
    prop_oneof![-1e6..1e6f64, Just(0.0), Just(1.0), Just(1e-300), Just(-0.5)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn label_records_read_back(trace in "\\PC{0,12}", annotator in "\\PC{0,8}", value in proptest::option::of(label(50)),
                               op in op(), ts in "\\PC{0,30}") {
        let r = LabelRecord {
            trace,
            annotator,
            value,
            op,
            ts,
            blind: false,
            category: None,
            note: None,
            realised: None,
            recovered: None,
        };
        let line = r.to_json().to_string();
        prop_assert_eq!(parse_line(line.as_bytes()), Ok(Record::Label(r)));
    }

    #[test]
    fn verify_records_read_back(trace in "\\PC{1,12}", spec in "[a-z]{1,6}(:[a-z0-9./]{1,10})?",
                                scores in proptest::collection::vec(proptest::option::of(number()), 1..8),
                                threshold in number(), model in proptest::option::of("\\PC{0,10}"),
                                first_error in proptest::option::of(0usize..8), passes in 0usize..100,
                                truncated in proptest::option::of("\\PC{0,20}")) {
        let details = scores.iter().enumerate().map(|(i, _)| format!("step {i} ✓")).collect();
        let r = VerifyRecord {
            trace, spec, model_hash: model.clone(), model, threshold, segmentation: "given".into(), scores, details,
            first_error, truncated, forward_passes: passes, seconds: 0.25, ts: "2026-11-26T10:00:00.000Z".into(),
        };
        let line = r.to_json().to_string();
        prop_assert_eq!(parse_line(line.as_bytes()), Ok(Record::Verify(r)));
    }

    #[test]
    fn signal_records_read_back(trace in "\\PC{1,12}", signal in "[a-z-]{1,12}", source in "\\PC{0,12}",
                                values in proptest::collection::vec(number(), 0..10)) {
        let r = SignalRecord { trace, signal, source, data: SignalData::Other(json!({"values": values})), ts: "t".into() };
        let line = r.to_json().to_string();
        prop_assert_eq!(parse_line(line.as_bytes()), Ok(Record::Signal(r)));
    }

    #[test]
    fn verifier_specs_parse_back(spec in verifier_spec()) {
        prop_assert_eq!(VerifierSpec::parse(&spec.to_string()), Ok(spec));
    }
}

fn model_name() -> impl Strategy<Value = String> {
    // Paths and short names; a trailing `@N` would be read as the count (the grammar).
    "[A-Za-z0-9_./-]{1,16}(@[a-z]{1,3})?"
}

fn verifier_spec() -> impl Strategy<Value = VerifierSpec> {
    let count = proptest::option::of(1usize..64);
    prop_oneof![
        Just(VerifierSpec::Arith),
        "\\PC{1,20}".prop_map(|path| VerifierSpec::Prm { path }),
        model_name().prop_map(|model| VerifierSpec::Judge { model }),
        (model_name(), count.clone()).prop_map(|(model, votes)| VerifierSpec::Critic { model, votes }),
        (model_name(), count).prop_map(|(model, rollouts)| VerifierSpec::Rollout { model, rollouts }),
    ]
}

/// A trace as any format could carry it: an id, a problem, steps, and a label in range.
fn trace() -> impl Strategy<Value = (Trace, Label)> {
    ("[a-z0-9][\\PC]{0,10}", "\\PC{0,40}", proptest::collection::vec("\\PC{0,30}", 1..6))
        .prop_flat_map(|(id, problem, steps)| {
            let n = steps.len();
            (Just((id, problem, steps)), label(n))
        })
        .prop_map(|((id, problem, steps), label)| (Trace::from_step_texts(&id, &problem, &steps), label))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Every writer's output reads back as the same trace: id, problem, steps (PRM800K keeps
    /// the steps up to the first error) and label.
    #[test]
    fn every_export_reads_back((t, label) in trace()) {
        let dir = tempfile::tempdir().unwrap();
        for format in ["jsonl", "processbench", "prm800k", "trl"] {
            let f = ExportFormat::parse(format).unwrap();
            let mut buf = Vec::new();
            export::write(f, &[(&t, Some(label))], &mut buf).unwrap();
            let path = dir.path().join(format!("out.{format}"));
            std::fs::write(&path, &buf).unwrap();
            let file = TraceFile::open(&path, None, Default::default())
                .map_err(|e| TestCaseError::fail(format!("{format}: {e}")))?;
            let back = file.record(0).map_err(|p| TestCaseError::fail(format!("{format}: {p}")))?;
            prop_assert_eq!(back.len(), 1);
            let b = &back[0];
            prop_assert_eq!(&b.id, &t.id, "{}", format);
            prop_assert_eq!(&b.problem, &t.problem, "{}", format);
            let kept = match (format, label) {
                ("prm800k", Label::FirstError(k)) => k + 1,
                _ => t.steps.len(),
            };
            prop_assert_eq!(b.step_texts(), t.step_texts()[..kept].to_vec(), "{}", format);
            prop_assert_eq!(b.label, Some(label), "{}", format);
        }
    }
}
