//! Refinement with a real generator (smollm2, fetched through our own fetch code): what each
//! strategy keeps, what it streams, cancelling, and forking one prepared prefix.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use stepscope::model::generate::{GenerateParams, StopReason};
use stepscope::model::sample::SamplingParams;
use stepscope::model::{fetch, LoadOptions};
use stepscope::refine::strategy::{plan, Strategy};
use stepscope::service::refine::{continue_from, prepare, refine};
use stepscope::service::Models;
use stepscope::trace::{Segmentation, Trace, TraceFile};

fn fetched(name: &str) -> bool {
    match fetch::ensure(fetch::known(name).unwrap(), &mut |_| {}) {
        Ok(_) => true,
        Err(e) if common::required() => panic!("fetching {name} failed and STEPSCOPE_REQUIRE_SHARED=1: {e:#}"),
        Err(e) => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIP: cannot fetch {name} ({e:#}); refinement test not run");
            false
        }
    }
}

fn draft() -> Trace {
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/demo.jsonl");
    let (traces, _) = TraceFile::open(&demo, None, Default::default()).unwrap().load_all();
    traces.into_iter().find(|t| t.id == "bakery-muffins").unwrap()
}

fn greedy(max_tokens: usize) -> GenerateParams {
    GenerateParams {
        max_tokens,
        sampling: SamplingParams { temperature: 0.0, top_p: 1.0, seed: 7 },
        stop: vec![],
        top_k: 3,
    }
}

#[test]
fn local_refinement_keeps_the_prefix_streams_and_records_provenance() {
    if !fetched("smollm2") {
        return;
    }
    let draft = draft();
    let p = plan(Strategy::Local, &draft, Some(2), None).unwrap();
    let mut models = Models::new(LoadOptions::default());
    let cancel = AtomicBool::new(false);
    let mut streamed = 0;
    let c = refine(
        &mut models,
        "smollm2",
        &draft,
        &p,
        &greedy(16),
        &Segmentation::BlankLine,
        &cancel,
        &mut |_| streamed += 1,
        &mut |_| {},
    )
    .unwrap();
    let t = &c.trace;
    assert_eq!(t.step_texts()[..2], draft.step_texts()[..2], "steps before the first error are kept verbatim");
    assert!(t.steps.len() > 2, "the model continued: {:?}", t.solution);
    assert!(t.solution.starts_with(&p.ask.answer_start()));
    assert_eq!(streamed, c.generated_tokens);
    assert!(t.validate().is_ok(), "{:?}", t.validate());
    assert_eq!(t.id, "bakery-muffins~local-s7");
    assert_eq!(t.extra["refinement"]["parent"], "bakery-muffins");
    assert_eq!(t.extra["refinement"]["from_step"], 2);
    assert!(t.extra["refinement"]["prompt"].as_str().unwrap().starts_with("local@"));
    // Replay: the answer's tokens are the kept steps' tokens, then the generated ones.
    let m = models.language_model("smollm2", &mut |_| {}).unwrap();
    let kept_ids = m.encode(&p.ask.answer_start()).unwrap();
    let replay = t.replay.as_ref().unwrap();
    assert_eq!(replay.token_ids.len(), kept_ids.len() + c.generated_tokens);
    assert_eq!(replay.token_ids[..kept_ids.len()], kept_ids[..]);
    let start = p.ask.answer_start().len();
    assert!(t.tokens.as_ref().unwrap().iter().all(|k| k.offset >= start));
    assert_eq!(models.loads(), 1);
}

#[test]
fn cancelling_keeps_the_partial_candidate_marked() {
    if !fetched("smollm2") {
        return;
    }
    let draft = draft();
    let p = plan(Strategy::Global, &draft, None, None).unwrap();
    assert!(p.ask.kept.is_empty());
    let mut models = Models::new(LoadOptions::default());
    let cancel = AtomicBool::new(false);
    let mut n = 0;
    let c = refine(
        &mut models,
        "smollm2",
        &draft,
        &p,
        &greedy(200),
        &Segmentation::BlankLine,
        &cancel,
        &mut |_| {
            n += 1;
            if n == 3 {
                cancel.store(true, Ordering::Relaxed);
            }
        },
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(c.stop, StopReason::Cancelled);
    assert!(c.generated_tokens <= 4, "{}", c.generated_tokens);
    assert_eq!(c.trace.extra["refinement"]["cancelled"], true);
}

#[test]
fn intervene_continues_after_one_replacement_step() {
    if !fetched("smollm2") {
        return;
    }
    let draft = draft();
    let p = plan(Strategy::Intervene, &draft, Some(1), None).unwrap();
    let mut models = Models::new(LoadOptions::default());
    let cancel = AtomicBool::new(false);
    let c = refine(
        &mut models,
        "smollm2",
        &draft,
        &p,
        &greedy(12),
        &Segmentation::BlankLine,
        &cancel,
        &mut |_| {},
        &mut |_| {},
    )
    .unwrap();
    let t = &c.trace;
    assert_eq!(t.steps[0].text, draft.steps[0].text);
    assert!(t.steps.len() >= 2, "kept step, replacement, continuation: {:?}", t.solution);
    assert_eq!(t.replay.as_ref().unwrap().chat[1].content, draft.problem, "the continuation is asked plainly");
}

#[test]
fn samples_fork_one_prepared_prefix() {
    if !fetched("smollm2") {
        return;
    }
    let draft = draft();
    let p = plan(Strategy::Local, &draft, Some(2), None).unwrap();
    let mut models = Models::new(LoadOptions::default());
    let m = models.language_model("smollm2", &mut |_| {}).unwrap();
    let cancel = AtomicBool::new(false);
    let prepared = prepare(m.as_ref(), &p.ask).unwrap();
    let a = continue_from(m.as_ref(), &prepared, &greedy(10), &cancel, &mut |_| {}).unwrap();
    let b = continue_from(m.as_ref(), &prepared, &greedy(10), &cancel, &mut |_| {}).unwrap();
    let fresh =
        continue_from(m.as_ref(), &prepare(m.as_ref(), &p.ask).unwrap(), &greedy(10), &cancel, &mut |_| {}).unwrap();
    assert_eq!(a.text, b.text, "a fork leaves the prepared prefix as it was");
    assert_eq!(a.text, fresh.text, "and continues exactly as a freshly read prefix");
}
