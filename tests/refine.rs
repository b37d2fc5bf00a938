//! Refinement with a real generator (smollm2, fetched through our own fetch code): what each
//! strategy keeps, what it streams, cancelling, and forking one prepared prefix.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use stepscope::model::generate::{GenerateParams, StopReason};
use stepscope::model::sample::SamplingParams;
use stepscope::model::LoadOptions;
use stepscope::refine::strategy::{plan, Plan, Strategy};
use stepscope::service::refine::{continue_from, prepare, refine, Candidate};
use stepscope::service::Models;
use stepscope::trace::{Segmentation, Trace, TraceFile};

fn fetched(name: &str) -> bool {
    common::fetched(name).is_some()
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
        stop_at_answer: true,
    }
}

/// A refinement by smollm2 with no listener (blank-line steps, greedy with `max_tokens`).
fn refine_quietly(models: &mut Models, draft: &Trace, p: &Plan, max_tokens: usize) -> Candidate {
    let cancel = AtomicBool::new(false);
    let params = greedy(max_tokens);
    refine(models, "smollm2", draft, p, &params, &Segmentation::BlankLine, &cancel, &mut |_, _| {}, &mut |_| {})
        .unwrap()
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
        &mut |_, _| streamed += 1,
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
    let r = t.refinement.as_ref().unwrap();
    assert_eq!((r.parent.as_str(), r.from_step), ("bakery-muffins", Some(2)));
    assert!(r.prompt.starts_with("local@"));
    // Replay: the answer's tokens are the kept steps' tokens, then the candidate's generated
    // ones (16 tokens reach no answer, so local sampled again: the count covers every attempt).
    let m = models.language_model("smollm2", &mut |_| {}).unwrap();
    let kept_ids = m.encode(&p.ask.answer_start()).unwrap();
    let replay = t.replay.as_ref().unwrap();
    let own = t.tokens.as_ref().unwrap().len();
    assert_eq!(replay.token_ids.len(), kept_ids.len() + own);
    let attempts = r.attempts.unwrap();
    assert_eq!((attempts, c.generated_tokens), (4, 4 * 16), "no answer in 16 tokens: 1 + 3 resamples");
    assert_eq!(replay.token_ids[..kept_ids.len()], kept_ids[..]);
    let start = p.ask.answer_start().len();
    assert!(t.tokens.as_ref().unwrap().iter().all(|k| k.offset >= start));
    assert_eq!(models.loads(), 1);
}

/// `local` samples again when its rewrite repeats the error: a draft whose flagged step is what
/// the model writes greedily from the kept steps makes the first attempt a repeat by
/// construction; the candidate is a later attempt, streamed afresh under its own number.
#[test]
fn local_samples_again_when_the_rewrite_repeats_the_flagged_step() {
    if !fetched("smollm2") {
        return;
    }
    let demo = draft();
    let mut models = Models::new(LoadOptions::default());
    let cancel = AtomicBool::new(false);
    let mut once = plan(Strategy::Local, &demo, Some(2), None).unwrap();
    once.resamples = 0;
    let run = |models: &mut Models, d: &Trace, p: &Plan| {
        let (mut texts, mut notes) = (Vec::<String>::new(), Vec::<String>::new());
        let c = refine(
            models,
            "smollm2",
            d,
            p,
            &greedy(40),
            &Segmentation::BlankLine,
            &cancel,
            &mut |attempt, t| {
                texts.resize(texts.len().max(attempt + 1), String::new());
                texts[attempt].push_str(&t.text);
            },
            &mut |line| notes.push(line.to_string()),
        )
        .unwrap();
        (c, texts, notes)
    };
    let (greedy_once, _, _) = run(&mut models, &demo, &once);
    assert_eq!(greedy_once.trace.refinement.as_ref().unwrap().attempts, Some(1));
    let written = greedy_once.trace.steps[2].text.clone();
    // The same question and kept steps, with the model's own greedy step flagged as wrong.
    let mut steps: Vec<String> = demo.step_texts().iter().map(|s| s.to_string()).collect();
    steps[2] = written.clone();
    let mut flagged = Trace::from_step_texts(&demo.id, &demo.problem, &steps);
    flagged.reference_answer = demo.reference_answer.clone();
    let mut p = plan(Strategy::Local, &flagged, Some(2), None).unwrap();
    p.resamples = 2;
    let (c, texts, notes) = run(&mut models, &flagged, &p);
    let attempts = c.trace.refinement.as_ref().unwrap().attempts.unwrap();
    assert!(attempts >= 2, "the greedy attempt repeats step 2 ({written:?}), so it is sampled again");
    assert_eq!(texts.len(), attempts, "each attempt streams under its own number");
    assert!(texts[0].trim_start().starts_with(written.trim()), "{:?} vs {written:?}", texts[0]);
    assert!(notes.iter().any(|n| n.contains("repeats the error; sampling again (2 of 3)")), "{notes:?}");
    // The candidate is the last attempt: its text after the kept steps is what that attempt
    // streamed (up to where its answer line ended).
    let generated = &c.trace.solution[p.ask.answer_start().len()..];
    assert!(!generated.is_empty() && texts[attempts - 1].starts_with(generated), "{generated:?} vs {texts:?}");
    assert_eq!(c.trace.step_texts()[..2], demo.step_texts()[..2]);
    if attempts < 3 {
        assert_ne!(c.trace.steps[2].text.trim(), written.trim(), "a kept attempt does not repeat the step");
    }
}

/// Candidates are clean whatever the strategy: no `[BAD]` marker, no line of the prompt's
/// instructions, nothing after the line with the final answer; the kept steps are verbatim and
/// the rewrite starts at the first error.
#[test]
fn candidates_stop_at_their_answer_and_never_echo_the_prompt() {
    if !fetched("smollm2") {
        return;
    }
    let draft = draft();
    let mut models = Models::new(LoadOptions::default());
    for (strategy, k) in [(Strategy::LocalCritique, Some(2)), (Strategy::Global, None), (Strategy::Local, Some(2))] {
        let p = plan(strategy, &draft, k, None).unwrap();
        let c = refine_quietly(&mut models, &draft, &p, 200);
        let t = &c.trace;
        let start = p.ask.answer_start().len();
        let generated = &t.solution[start..];
        assert!(!generated.contains("[BAD]"), "{strategy}: {generated:?}");
        for echo in &p.ask.echoes {
            assert!(!generated.contains(echo.as_str()), "{strategy} echoes {echo:?}: {generated:?}");
        }
        // A finished answer line inside the candidate would mean text went on after it.
        let end = stepscope::model::generate::answer_end(generated);
        assert!(end.is_none(), "{strategy}: text after the answer: {generated:?}");
        let kept = k.unwrap_or(0);
        assert_eq!(t.step_texts()[..kept], draft.step_texts()[..kept], "{strategy}");
        assert!(t.steps[kept..].iter().all(|s| s.start >= start), "{strategy}: the rewrite starts at step {kept}");
        eprintln!("{strategy}: stop {:?}, {} tokens: {generated:?}", c.stop, c.generated_tokens);
    }
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
        &mut |_, _| {
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
    assert!(c.trace.refinement.as_ref().unwrap().cancelled);
}

#[test]
fn intervene_continues_after_one_replacement_step() {
    if !fetched("smollm2") {
        return;
    }
    let draft = draft();
    let p = plan(Strategy::Intervene, &draft, Some(1), None).unwrap();
    let mut models = Models::new(LoadOptions::default());
    let c = refine_quietly(&mut models, &draft, &p, 12);
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

/// `stepscope refine` on two traces: keys of the JSON report, provenance of the stored
/// candidate, and a rerun that generates nothing (it resumes from the refinements file).
#[test]
fn refine_command_stores_reports_and_resumes() {
    if !fetched("smollm2") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/demo.jsonl");
    let text = std::fs::read_to_string(&demo).unwrap();
    // bakery-muffins is right (nothing to refine locally), books-weight has a first error.
    let file = dir.path().join("two.jsonl");
    std::fs::write(&file, text.lines().take(2).map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let before = std::fs::read(&file).unwrap();
    let f = file.to_str().unwrap();
    let args = ["refine", f, "--generator", "smollm2", "--strategy", "local", "--max-tokens", "8", "--json"];
    let (code, out, err) = common::run(&args);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("skipped:") && err.contains("bakery-muffins"), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["generated"], 1, "{out}");
    let row = &v["strategies"][0];
    for key in [
        "strategy",
        "drafts",
        "candidates",
        "transitions",
        "fix_rate",
        "harm_rate",
        "cl",
        "cs",
        "rss",
        "acc_before",
        "acc_after",
        "acc_rerank",
        "acc_oracle",
        "mean_tokens",
        "mean_seconds",
        "reach",
        "unclean",
    ] {
        assert!(row.get(key).is_some(), "{key} missing: {out}");
    }
    assert_eq!(row["strategy"], "local");
    assert_eq!(row["candidates"], 1);
    assert_eq!(row["unclean"], 0, "{out}");
    let refined = dir.path().join("two.jsonl.refined.jsonl");
    let stored = std::fs::read_to_string(&refined).unwrap();
    let c: serde_json::Value = serde_json::from_str(stored.lines().next().unwrap()).unwrap();
    let meta = &c["refinement"];
    assert_eq!(meta["parent"], "books-weight");
    assert_eq!(meta["strategy"], "local");
    assert_eq!(meta["generator"], "smollm2");
    assert_eq!(meta["seed"], 42);
    assert!(meta["prompt"].as_str().unwrap().starts_with("local@") && meta["from_step"].is_u64(), "{meta}");
    // Again: everything is already there.
    let (code, out, err) = common::run(&args);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["generated"].as_u64(), v["reused"].as_u64()), (Some(0), Some(1)), "{out}");
    assert_eq!(std::fs::read_to_string(&refined).unwrap(), stored, "nothing new stored");
    // Other generation settings make another candidate: a stored one is reused only when the
    // generator, the prompt, the start step and the settings are the same.
    let other = ["refine", f, "--generator", "smollm2", "--strategy", "local", "--max-tokens", "9", "--json"];
    let (code, out, err) = common::run(&other);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["generated"].as_u64(), v["reused"].as_u64()), (Some(1), Some(0)), "{out}");
    let settings: Vec<String> = std::fs::read_to_string(&refined)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["refinement"]["settings"].to_string())
        .collect();
    assert_eq!(settings.len(), 2);
    assert!(settings[0].contains("max_tokens=8") && settings[1].contains("max_tokens=9"), "{settings:?}");
    assert_eq!(std::fs::read(&file).unwrap(), before, "the source file is never modified");
}

/// `--strategy fork`: N sampled continuations from the steps before the first error, each
/// checked against the reference; the report's `reach` is the share that reach it.
#[test]
fn fork_samples_continuations_before_the_first_error() {
    if !fetched("smollm2") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/demo.jsonl");
    let text = std::fs::read_to_string(&demo).unwrap();
    let file = dir.path().join("books.jsonl");
    std::fs::write(&file, format!("{}\n", text.lines().nth(1).unwrap())).unwrap();
    let f = file.to_str().unwrap();
    let args =
        ["refine", f, "--generator", "smollm2", "--strategy", "fork", "--samples", "2", "--max-tokens", "8", "--json"];
    let (code, out, err) = common::run(&args);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let row = &v["strategies"][0];
    assert_eq!((row["strategy"].as_str(), row["candidates"].as_u64()), (Some("fork"), Some(2)), "{out}");
    let reach = row["reach"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&reach), "{out}");
    let stored = std::fs::read_to_string(dir.path().join("books.jsonl.refined.jsonl")).unwrap();
    let metas: Vec<serde_json::Value> =
        stored.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["refinement"].clone()).collect();
    let seeds: Vec<u64> = metas.iter().map(|m| m["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds, [42, 43]);
    assert!(
        metas.iter().all(|m| m["strategy"] == "fork" && m["from_step"] == 2 && m["prompt"] == "plain"),
        "{metas:?}"
    );
    let reached = stored.lines().filter(|l| l.contains("\"final_answer_correct\":true")).count();
    assert_eq!(reach, reached as f64 / 2.0, "reach counts the continuations that reach the answer");
}

/// What a refinement cannot run without is named, with exit 2 and nothing stored.
#[test]
fn refine_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    // No reference, no label, and arithmetic that checks: no first error, nothing to compare with.
    let file = dir.path().join("t.jsonl");
    let row = serde_json::json!({"stepscope": 1, "id": "t", "problem": "What is 2 + 3?", "steps": ["2 + 3 = 5."]});
    std::fs::write(&file, format!("{row}\n")).unwrap();
    let f = file.to_str().unwrap();
    let (code, _, err) = common::run(&["refine", f, "--generator", "/no/such/model.gguf"]);
    assert_eq!(code, 2);
    assert!(err.contains("generator") && err.contains("/no/such/model.gguf"), "{err}");
    if !fetched("smollm2") {
        return;
    }
    let (code, _, err) = common::run(&["refine", f, "--generator", "smollm2", "--strategy", "local,intervene"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("local refinement needs a first error"), "{err}");
    assert!(err.contains("nothing to refine"), "{err}");
    let prompts = dir.path().join("prompts");
    std::fs::create_dir(&prompts).unwrap();
    std::fs::write(prompts.join("global.j2"), "{{ missing_variable }}").unwrap();
    let p = prompts.to_str().unwrap();
    let (code, _, err) = common::run(&["refine", f, "--generator", "smollm2", "--strategy", "global", "--prompts", p]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("prompt template 'global'") && err.contains("global.j2"), "{err}");
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.iter().any(|n| n.contains("refined")), "nothing stored: {names:?}");
}

/// The prefix-reuse benchmark runs and reports both timings and their ratio (the numbers
/// themselves are for `stepscope bench`, not for a test).
#[test]
fn refine_prefix_bench_reports_its_ratio() {
    if !fetched("smollm2") {
        return;
    }
    let (code, out, err) = common::run(&["bench", "--model", "smollm2", "--refine-prefix", "3", "-r", "1", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["prefix_tokens"].as_u64().unwrap() > 100, "{out}");
    for key in ["forked_mean", "reread_mean", "ratio"] {
        assert!(v[key].as_f64().is_some_and(|x| x > 0.0), "{key}: {out}");
    }
    assert!(err.contains("| ratio |"), "the table goes to stderr with --json: {err}");
}

/// The model thread runs a refinement: its tokens stream as events, the candidate arrives, and
/// cancelling part-way still delivers the partial candidate, marked, before `Cancelled`.
#[test]
fn the_worker_streams_a_refinement_and_can_cancel_it() {
    use stepscope::jobs::{Job, JobEvent, Worker};
    if !fetched("smollm2") {
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let mut worker = Worker::spawn(move |e| {
        let _ = tx.send(e);
    });
    let draft = draft();
    let p = plan(Strategy::Local, &draft, Some(2), None).unwrap();
    let job = |max_tokens| Job::Refine {
        draft: Box::new(draft.clone()),
        plan: Box::new(p.clone()),
        generator: "smollm2".into(),
        params: greedy(max_tokens),
        segmentation: Segmentation::BlankLine,
    };
    let first = worker.submit(job(6));
    let (mut tokens, mut candidate) = (0, None);
    loop {
        match next(&rx) {
            JobEvent::Token { job, .. } if job == first.id => tokens += 1,
            JobEvent::Refined { job, candidate: c } if job == first.id => candidate = Some(c),
            JobEvent::Finished { job } if job == first.id => break,
            JobEvent::Failed { error, .. } => panic!("{error}"),
            _ => {}
        }
    }
    let c = candidate.expect("a candidate");
    assert_eq!(tokens, c.generated_tokens);
    assert_eq!(c.trace.step_texts()[..2], draft.step_texts()[..2]);
    let second = worker.submit(job(300));
    let mut cancelled_candidate = None;
    loop {
        match next(&rx) {
            JobEvent::Token { job, .. } if job == second.id => second.cancel(),
            JobEvent::Refined { job, candidate: c } if job == second.id => cancelled_candidate = Some(c),
            JobEvent::Cancelled { job } if job == second.id => break,
            JobEvent::Finished { job } if job == second.id => panic!("the job was cancelled"),
            JobEvent::Failed { error, .. } => panic!("{error}"),
            _ => {}
        }
    }
    let c = cancelled_candidate.expect("the partial candidate");
    assert_eq!(c.stop, StopReason::Cancelled);
    assert!(c.trace.refinement.as_ref().unwrap().cancelled);
    worker.shutdown();
}

/// The worker's next event; a lost event fails the test instead of hanging CI.
fn next(rx: &std::sync::mpsc::Receiver<stepscope::jobs::JobEvent>) -> stepscope::jobs::JobEvent {
    rx.recv_timeout(std::time::Duration::from_secs(600)).expect("no event from the worker within 10 minutes")
}

/// The two faces rerank alike: `refine --json` over stored candidates and the compare screen
/// opened on the same draft pick the same winner with the same model verifier (judge:smollm2,
/// chosen in the menu and run by the model thread as `v` runs it on the compare screen).
#[test]
fn refine_and_the_compare_screen_pick_the_same_winner_with_a_model_verifier() {
    use stepscope::jobs::{Job, JobEvent, Worker};
    use stepscope::refine::rerank::Aggregate;
    use stepscope::trace::Opener;
    use stepscope::tui::action::Action;
    use stepscope::tui::keymap::Keymap;
    use stepscope::tui::msg::Msg;
    use stepscope::tui::state::{Request, Settings};
    use stepscope::tui::theme::{Theme, ThemeName};
    use stepscope::tui::update::update;
    if !fetched("smollm2") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (file, store) = (dir.path().join("drafts.jsonl"), dir.path().join("store"));
    let demo = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/demo.jsonl")).unwrap();
    let line = demo.lines().find(|l| l.contains("\"books-weight\"")).unwrap();
    std::fs::write(&file, format!("{line}\n")).unwrap();
    let (f, s) = (file.to_str().unwrap(), store.to_str().unwrap());
    let args = ["refine", f, "--generator", "smollm2", "--strategy", "local,global", "--max-tokens", "24"];
    let (code, out, err) = common::run(&[&args[..], &["--verifier", "judge:smollm2", "--store", s, "--json"]].concat());
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let pick = &report["picks"][0];
    assert_eq!(pick["draft"], "books-weight", "{report}");
    assert_eq!(pick["candidates"], 2, "{report}");

    let opener = Opener { store_dir: Some(store.clone()), ..Opener::default() };
    let settings = Settings::new("ana".into(), Theme::new(ThemeName::Dark, false), Keymap::default());
    let mut app = stepscope::tui::load_app(std::slice::from_ref(&file), &opener, settings);
    common::screens::select(&mut app, "books-weight");
    update(&mut app, Action::Compare);
    assert_eq!(app.compare.as_ref().unwrap().candidates.len(), 2, "the stored candidates are the compare screen's");
    app.settings.verifier_choices = vec![("judge:smollm2".into(), true)];
    update(&mut app, Action::ScoreTrace);
    let Some(Request::Score { items, specs }) = app.requests.pop() else { panic!("no scoring request") };
    assert_eq!(items.len(), 3, "the draft and both candidates");
    let (tx, rx) = std::sync::mpsc::channel();
    let mut worker = Worker::spawn(move |e| {
        let _ = tx.send(e);
    });
    let handle = worker.submit(Job::Score { items, specs, options: app.settings.verify_options.clone() });
    let id = handle.id;
    update(&mut app, Msg::Submitted(handle));
    loop {
        let e = next(&rx);
        let last = matches!(&e, JobEvent::Finished { job } | JobEvent::Failed { job, .. } if *job == id);
        update(&mut app, Msg::Job(e));
        if last {
            break;
        }
    }
    worker.shutdown();
    let c = app.compare.as_ref().unwrap();
    let (i, why) = c.winner(Aggregate::Min).unwrap();
    assert!(why.starts_with("judge:smollm2"), "ranked by the model verifier: {why}");
    let winner = if i == 0 { c.draft.id.clone() } else { c.candidates[i - 1].trace.id.clone() };
    eprintln!("refine picked {}; the compare screen {winner} ({why})", pick["winner"]);
    assert_eq!(serde_json::json!(winner), pick["winner"], "{why} / {}", pick["why"]);
}

/// Issue 31: a race decodes local, global and intervene together and makes what each plan
/// makes alone: same texts, tokens, answers and stops, streamed under each plan's index (local
/// may sample again afterwards; its count covers every attempt, as alone).
#[test]
fn a_race_makes_what_each_plan_makes_alone() {
    use stepscope::service::refine::race;
    if !fetched("smollm2") {
        return;
    }
    let mut draft = draft();
    draft.reference_answer.get_or_insert_with(|| "0".into());
    let cancel = AtomicBool::new(false);
    let mut models = Models::new(LoadOptions::default());
    let plans: Vec<(Plan, GenerateParams)> =
        [(Strategy::Local, Some(2)), (Strategy::Global, None), (Strategy::Intervene, Some(2))]
            .into_iter()
            .enumerate()
            .map(|(i, (s, k))| {
                let mut params = greedy(20);
                params.sampling = SamplingParams { temperature: 0.8, top_p: 0.95, seed: 11 + i as u64 };
                (plan(s, &draft, k, None).unwrap(), params)
            })
            .collect();
    let seg = Segmentation::BlankLine;
    let mut streamed = [0usize; 3];
    let together =
        race(&mut models, "smollm2", &draft, &plans, &seg, &cancel, &mut |i, _| streamed[i] += 1, &mut |_| {}).unwrap();
    assert_eq!(together.len(), 3);
    for (i, ((p, params), c)) in plans.iter().zip(&together).enumerate() {
        let alone =
            refine(&mut models, "smollm2", &draft, p, params, &seg, &cancel, &mut |_, _| {}, &mut |_| {}).unwrap();
        assert_eq!(c.strategy, p.strategy);
        assert_eq!(c.trace.id, alone.trace.id, "plan {i}");
        assert_eq!(c.trace.solution, alone.trace.solution, "plan {i}: another text in the race");
        assert_eq!(c.trace.final_answer, alone.trace.final_answer, "plan {i}");
        assert_eq!((c.generated_tokens, c.stop), (alone.generated_tokens, alone.stop), "plan {i}");
        assert_eq!(c.trace.tokens, alone.trace.tokens, "plan {i}: token log-probs differ");
        // Intervene streams only after its replacement step (none when the step answered).
        assert!(streamed[i] > 0 || p.strategy == Strategy::Intervene, "plan {i} streamed nothing");
    }
    assert_eq!(models.loads(), 1);
}
