//! Screens rendered into a TestBackend: layout, highlights, overlays and awkward input.

mod common;

use std::path::{Path, PathBuf};

use common::screens::{screen, select};
use stepscope::signals::steps::{Instability, Peak};
use stepscope::trace::store::SignalRecord;
use stepscope::trace::Opener;
use stepscope::tui::action::Action;
use stepscope::tui::keymap::Keymap;
use stepscope::tui::load_app;
use stepscope::tui::state::App;
use stepscope::tui::state::Settings;
use stepscope::tui::theme::{Theme, ThemeName};
use stepscope::tui::update::update;

fn demo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/demo.jsonl")
}

/// An app whose model actions start on the first key (their confirmation has its own test in
/// `tui_labels.rs`).
fn app_for(paths: &[PathBuf], store: &Path) -> App {
    let input = Opener { store_dir: Some(store.to_path_buf()), ..Opener::default() };
    let mut settings = Settings::new("ana".into(), Theme::new(ThemeName::Dark, false), Keymap::default());
    settings.confirm_model_actions = false;
    load_app(paths, &input, settings)
}

#[test]
fn list_and_steps() {
    let store = tempfile::tempdir().unwrap();
    let mut app = app_for(&[demo()], store.path());
    insta::assert_snapshot!("list_and_steps", screen(&mut app, 120, 36));
}

#[test]
fn first_error_highlight_and_labels() {
    let store = tempfile::tempdir().unwrap();
    let mut app = app_for(&[demo()], store.path());
    select(&mut app, "books-weight");
    insta::assert_snapshot!("first_error_dataset", screen(&mut app, 120, 36));
    update(&mut app, Action::Open);
    update(&mut app, Action::Down);
    update(&mut app, Action::MarkFirstError);
    insta::assert_snapshot!("first_error_mine", screen(&mut app, 120, 36));
}

#[test]
fn help_overlay() {
    let store = tempfile::tempdir().unwrap();
    let mut app = app_for(&[demo()], store.path());
    update(&mut app, Action::ToggleHelp);
    insta::assert_snapshot!("help", screen(&mut app, 100, 30));
    update(&mut app, Action::Cancel);
    assert!(!app.help_open(), "Esc closes help");
    // 80×24: one column that scrolls to its end (quit, verifiers and Esc are all reachable).
    update(&mut app, Action::Resize { width: 80, height: 24 });
    update(&mut app, Action::ToggleHelp);
    insta::assert_snapshot!("help_80x24", screen(&mut app, 80, 24));
    update(&mut app, Action::Bottom);
    let end = screen(&mut app, 80, 24);
    insta::assert_snapshot!("help_80x24_end", end);
    for part in ["Mouse:", "quit"] {
        assert!(end.contains(part), "{part} not reachable:\n{end}");
    }
    update(&mut app, Action::Down);
    assert!(app.help_open(), "j scrolls help; it does not close it");
    update(&mut app, Action::MarkFirstError);
    assert!(!app.help_open(), "another key closes help");
    let e = app.selected_entry().unwrap();
    let id = app.summary(e).unwrap().id;
    assert!(app.my_label(e, &id).is_none(), "the key that closed help also labelled {id}");
    // 140×40: two columns, nothing cut mid-word.
    update(&mut app, Action::Resize { width: 140, height: 40 });
    update(&mut app, Action::ToggleHelp);
    insta::assert_snapshot!("help_140x40", screen(&mut app, 140, 40));
}

#[test]
fn small_terminal_layout() {
    let store = tempfile::tempdir().unwrap();
    let mut app = app_for(&[demo()], store.path());
    select(&mut app, "code-sum");
    insta::assert_snapshot!("80x24", screen(&mut app, 80, 24));
    update(&mut app, Action::SwitchFocus);
    let small = screen(&mut app, 60, 20);
    // The signals hint wraps instead of losing its end.
    assert!(small.contains("instability appear here."), "{small}");
    insta::assert_snapshot!("60x20_steps_only", small);
}

#[test]
fn empty_input() {
    let store = tempfile::tempdir().unwrap();
    let mut app = app_for(&[], store.path());
    insta::assert_snapshot!("empty", screen(&mut app, 80, 24));
    for a in
        [Action::Down, Action::Open, Action::MarkFirstError, Action::MarkNoError, Action::Undo, Action::NextUnlabelled]
    {
        update(&mut app, a);
    }
    screen(&mut app, 80, 24);
}

#[test]
fn malformed_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    let good = r#"{"stepscope":1,"id":"ok-1","problem":"2+2?","steps":["2+2 = 4.","The answer is 4."],"label":-1}"#;
    std::fs::write(&path, format!("{good}\n{{not json\n{}\n", good.replace("ok-1", "ok-2").replace("-1}", "7}")))
        .unwrap();
    let mut app = app_for(&[path], dir.path());
    insta::assert_snapshot!("malformed", screen(&mut app, 100, 20));
    assert_eq!(app.library.entries.len(), 1);
    assert_eq!(app.library.problems.len(), 2);
}

/// Stores an arith result and an instability signal for a trace, as `score` would.
fn store_results(app: &mut App, id: &str) {
    use std::sync::atomic::AtomicBool;
    use stepscope::signals::steps::instability_summary;
    use stepscope::trace::store::{now_rfc3339, SignalRecord};
    let entry = app.browse.visible.iter().copied().find(|&e| app.summary(e).unwrap().id == id).unwrap();
    let trace = app.trace(entry).unwrap();
    let cancel = AtomicBool::new(false);
    let mut ctx = stepscope::verify::Ctx { cancel: &cancel, progress: &mut |_| {} };
    let record = stepscope::verify::run(&mut stepscope::verify::arith::ArithVerifier, &trace, None, &mut ctx).unwrap();
    // Three tokens per step, the middle step's distribution flipping sharply.
    let mut tops = Vec::new();
    let mut offsets = Vec::new();
    for (i, s) in trace.steps.iter().enumerate() {
        for k in 0..3 {
            let sharp = i == 1 && k == 1;
            tops.push(vec![
                ("a".to_string(), if sharp { -3.0 } else { -0.1 }),
                ("b".to_string(), if sharp { -0.1 } else { -3.0 }),
            ]);
            offsets.push(s.start + k);
        }
    }
    let starts: Vec<usize> = trace.steps.iter().map(|s| s.start).collect();
    let data = instability_summary(&tops, &offsets, &starts, 1.0);
    let source = app.library.entries[entry].source;
    let store = &mut app.library.sources[source].store;
    store.put_result(record).unwrap();
    store
        .put_signal(SignalRecord {
            trace: id.into(),
            signal: "instability".into(),
            source: "stored top-k".into(),
            data: data.into(),
            ts: now_rfc3339(),
        })
        .unwrap();
}

#[test]
fn verifier_badges_and_signals() {
    let store = tempfile::tempdir().unwrap();
    let mut app = app_for(&[demo()], store.path());
    store_results(&mut app, "books-weight");
    select(&mut app, "books-weight");
    let shown = screen(&mut app, 120, 36);
    assert!(shown.contains("[◆arith 0.00]"), "{shown}");
    assert!(shown.contains("instability I_t"), "{shown}");
    // The title keeps the verifier's first error in sight (less needed parts give way).
    let title = shown.lines().next().unwrap();
    assert!(title.contains("arith: first error 2") && title.contains("first error 2 (dataset)"), "{title}");
    insta::assert_snapshot!("verifier_badges", shown);
    // The signals pane: step numbers, τ, a fixed 0–1 scale (a score of 1.00 is a full bar on
    // every trace), and the checker's reason for the flag under the selected step.
    update(&mut app, Action::Open);
    update(&mut app, Action::Down);
    update(&mut app, Action::Down);
    assert_eq!(app.browse.step, 2);
    let at_error = screen(&mut app, 140, 40);
    insta::assert_snapshot!("signals_140x40", at_error);
    assert!(at_error.contains("step               0  1  2  3  4"), "{at_error}");
    assert!(at_error.contains("arith τ0.50        █  █  ▁  █  ·"), "{at_error}");
    assert!(at_error.contains("arith: ") && at_error.contains("2 × 3"), "the flag's reason:\n{at_error}");
    let small = screen(&mut app, 80, 24);
    insta::assert_snapshot!("signals_80x24", small);
    let title = small.lines().next().unwrap();
    assert!(title.contains("arith✗2"), "the title keeps the verifier's first error:\n{small}");
    // The verifier filter shows traces where a verifier disagrees with the label.
    for _ in 0..5 {
        update(&mut app, Action::CycleFilter);
    }
    assert_eq!(app.browse.filter.name(), "verifier disagrees");
}

#[test]
fn verifier_menu_and_scoring_requests() {
    let store = tempfile::tempdir().unwrap();
    let mut app = app_for(&[demo()], store.path());
    update(&mut app, Action::VerifierMenu);
    insta::assert_snapshot!("verifier_menu", screen(&mut app, 100, 30));
    update(&mut app, Action::Down);
    update(&mut app, Action::Toggle); // judge:smollm2 on
    update(&mut app, Action::Cancel);
    assert!(app.menu_cursor().is_none());
    assert_eq!(app.chosen_verifiers(), ["arith", "judge:smollm2"]);
    update(&mut app, Action::ScoreVisible);
    let [stepscope::tui::state::Request::Score { items, specs }] = &app.requests[..] else { panic!("one request") };
    assert_eq!(items.len(), app.browse.visible.len());
    assert_eq!(specs.len(), 2);
    assert!(app.status.scoring.is_some());
    update(&mut app, Action::ScoreTrace);
    assert_eq!(app.requests.len(), 1, "one scoring job at a time");
    assert!(app.status.message.as_deref().unwrap().contains("already running"));
}

/// A finished candidate of `draft` as the model thread would hand it over.
fn candidate(draft: &stepscope::trace::Trace, steps: &[&str], answer: &str) -> stepscope::tui::compare::Shown {
    use stepscope::model::generate::StopReason;
    use stepscope::refine::strategy::Strategy;
    let mut t = stepscope::trace::Trace::from_step_texts(&format!("{}~local-s42", draft.id), &draft.problem, steps);
    t.reference_answer = draft.reference_answer.clone();
    t.final_answer = Some(answer.into());
    t.final_answer_correct = draft.reference_answer.as_deref().map(|r| r == answer);
    t.refinement = Some(stepscope::trace::Provenance {
        parent: draft.id.clone(),
        strategy: "local".into(),
        from_step: Some(2),
        prompt: "local@00000000".into(),
        generator: "qwen2.5-coder-1.5b".into(),
        seed: 42,
        ..Default::default()
    });
    stepscope::tui::compare::Shown::from_candidate(stepscope::service::refine::Candidate {
        trace: t,
        strategy: Strategy::Local,
        generated_tokens: 57,
        seconds: 3.0,
        stop: StopReason::Eos,
    })
}

/// The compare screen: steps aligned, changed words marked, step marks, answers, cost and the
/// winner; side by side when wide, stacked when narrow.
#[test]
fn compare_view_side_by_side_and_stacked() {
    let store = tempfile::tempdir().unwrap();
    let mut app = app_for(&[demo()], store.path());
    select(&mut app, "books-weight");
    update(&mut app, Action::Compare);
    insta::assert_snapshot!("compare_empty", screen(&mut app, 120, 30));
    let draft = app.compare.as_ref().unwrap().draft.clone();
    let mut steps: Vec<&str> = draft.step_texts()[..2].to_vec();
    steps.extend(["The 12 books weigh 12 × 1.5 = 18 pounds in all.", "So the answer is \\boxed{18}."]);
    let c = candidate(&draft, &steps, "18");
    app.compare.as_mut().unwrap().candidates.push(c);
    insta::assert_snapshot!("compare_wide", screen(&mut app, 120, 30));
    insta::assert_snapshot!("compare_narrow", screen(&mut app, 80, 30));
    // Any size draws without a panic, the step editor too.
    update(&mut app, Action::EditStep);
    for (w, h) in [(1, 1), (3, 2), (20, 4), (99, 8), (100, 3), (200, 60)] {
        screen(&mut app, w, h);
    }
    update(&mut app, Action::Cancel);
    update(&mut app, Action::Cancel);
    assert!(app.screen.is_browse(), "Esc goes back to the list");
}

/// `r` plans a local refinement from the dataset's first error and opens the compare screen; a
/// second `r` while it runs is refused; `a` saves the candidate shown under its draft.
#[test]
fn refine_keys_plan_and_accept_saves_a_child() {
    use stepscope::tui::state::Request;
    let store = tempfile::tempdir().unwrap();
    let mut app = app_for(&[demo()], store.path());
    select(&mut app, "books-weight");
    update(&mut app, Action::RefineLocal);
    assert!(app.screen.is_compare());
    let [Request::Refine { draft, plans, race: false }] = &app.requests[..] else { panic!("one refine request") };
    assert_eq!(draft.id, "books-weight");
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].0.from_step, Some(2), "the dataset's first error");
    assert_eq!(plans[0].0.ask.kept.len(), 2);
    assert_eq!(plans[0].1.sampling.temperature, 0.0, "local is greedy");
    update(&mut app, Action::RefineGlobal);
    assert!(app.status.message.as_deref().unwrap().contains("is running"), "{:?}", app.status.message);
    // Another trace's compare screen waits until the running one is done.
    update(&mut app, Action::Compare);
    select(&mut app, "train-speed");
    update(&mut app, Action::Compare);
    assert_eq!(app.compare.as_ref().unwrap().draft.id, "books-weight");
    select(&mut app, "books-weight");
    app.requests.clear();
    app.compare.as_mut().unwrap().running = None;

    update(&mut app, Action::Fork);
    let [Request::Refine { plans, race: true, .. }] = &app.requests[..] else {
        panic!("one fork request, decoded together")
    };
    assert_eq!(plans.len(), 4, "fork_samples samples");
    assert!(plans.iter().all(|(_, p)| p.sampling.temperature > 0.0));
    let seeds: Vec<u64> = plans.iter().map(|(_, p)| p.sampling.seed).collect();
    assert_eq!(seeds, [42, 43, 44, 45]);
    app.requests.clear();
    app.compare.as_mut().unwrap().running = None;

    let draft = app.compare.as_ref().unwrap().draft.clone();
    let c = candidate(&draft, &draft.step_texts(), "17");
    app.compare.as_mut().unwrap().candidates.push(c);
    update(&mut app, Action::Accept);
    assert!(
        app.status.message.as_deref().unwrap().starts_with("saved: books-weight~local-s42"),
        "{:?}",
        app.status.message
    );
    update(&mut app, Action::Accept);
    assert!(app.status.message.as_deref().unwrap().contains("already saved"));
    update(&mut app, Action::Compare);
    assert!(app.screen.is_browse());
    let ids: Vec<String> = app.browse.visible.iter().map(|&e| app.summary(e).unwrap().id).collect();
    let at = ids.iter().position(|i| i == "books-weight").unwrap();
    assert_eq!(ids[at + 1], "books-weight~local-s42", "the child is listed under its draft: {ids:?}");

    // A restart reads it back under its draft, and the compare screen offers it again.
    let mut again = app_for(&[demo()], store.path());
    let ids: Vec<String> = again.browse.visible.iter().map(|&e| again.summary(e).unwrap().id).collect();
    let at = ids.iter().position(|i| i == "books-weight").unwrap();
    assert_eq!(ids[at + 1], "books-weight~local-s42", "{ids:?}");
    select(&mut again, "books-weight");
    update(&mut again, Action::Compare);
    let c = again.compare.as_ref().unwrap();
    assert_eq!(c.candidates.len(), 1);
    assert!(c.candidates[0].saved);
}

/// `A`: a question typed in is planned as a fresh solution (no draft steps, nothing kept) and
/// shown on the compare screen as the question; Esc in the editor drops it.
#[test]
fn a_typed_question_is_generated() {
    use stepscope::refine::strategy::Strategy;
    use stepscope::tui::state::Request;
    let store = tempfile::tempdir().unwrap();
    let mut app = app_for(&[demo()], store.path());
    update(&mut app, Action::Ask);
    assert!(app.typing());
    update(&mut app, Action::Cancel);
    assert!(!app.typing() && app.requests.is_empty(), "Esc drops the question");
    update(&mut app, Action::Ask);
    update(&mut app, Action::TextCommit);
    assert!(app.requests.is_empty(), "an empty question asks nothing");
    update(&mut app, Action::Ask);
    for c in "What is 7 + 5?".chars() {
        update(&mut app, Action::TextInput(c));
    }
    update(&mut app, Action::TextCommit);
    let [Request::Refine { draft, plans, race: false }] = &app.requests[..] else { panic!("one request") };
    assert!(draft.id.starts_with("asked-") && draft.steps.is_empty(), "{}", draft.id);
    assert_eq!(plans[0].0.strategy, Strategy::Generate);
    assert_eq!(plans[0].0.ask.messages[1].content, "What is 7 + 5?");
    assert!(app.screen.is_compare());
    assert!(app.compare.as_ref().unwrap().draft_entry.is_none());
    assert!(screen(&mut app, 120, 30).contains("QUESTION"));
}

/// Campaign pieces in the reducer: a reproducible sample, the category chooser after `e`, a
/// digit stores the category, `K` shows agreement, `P` the report screen with its charts.
#[test]
fn campaign_sample_category_agreement_and_report() {
    let store = tempfile::tempdir().unwrap();
    let mut app = app_for(&[demo()], store.path());
    let all = app.library.entries.len();
    stepscope::tui::campaign::start(&mut app, Some((3, 7)), None);
    let picked: Vec<String> = app.browse.visible.iter().map(|&e| app.summary(e).unwrap().id).collect();
    assert_eq!(picked.len(), 3.min(all));
    let mut again = app_for(&[demo()], store.path());
    stepscope::tui::campaign::start(&mut again, Some((3, 7)), None);
    let same: Vec<String> = again.browse.visible.iter().map(|&e| again.summary(e).unwrap().id).collect();
    assert_eq!(picked, same, "the same seed picks the same traces");
    let screen_text = screen(&mut app, 120, 36);
    assert!(screen_text.contains(&format!("labelled 0/{}", picked.len())), "{screen_text}");

    update(&mut app, Action::Open);
    update(&mut app, Action::MarkFirstError);
    assert!(matches!(app.overlay(), Some(stepscope::tui::state::Overlay::Category { .. })));
    update(&mut app, Action::Digit(1));
    let entry = app.selected_entry().unwrap();
    let id = app.summary(entry).unwrap().id;
    assert_eq!(app.my_category(entry, &id), Some("calculation"));
    app.browse.search = "#calc".into();
    app.refresh_visible();
    assert_eq!(app.browse.visible.len(), 1, "search #calc finds the categorised trace");
    app.browse.search.clear();
    app.refresh_visible();

    update(&mut app, Action::Agreement);
    let overlay = screen(&mut app, 120, 36);
    assert!(overlay.contains("ana ~ dataset") || overlay.contains("no two label sources"), "{overlay}");
    assert!(overlay.contains("ana: 1 traces"), "{overlay}");
    update(&mut app, Action::Down);
    assert!(app.overlay().is_none(), "any key closes the agreement overlay");

    // A stored instability signal per trace with a known answer: the report evaluates it.
    for e in app.campaign_entries() {
        let t = app.trace(e).unwrap();
        let Some(correct) = t.answer_correct() else { continue };
        let peak =
            Peak { value: if correct { 0.5 } else { 2.0 }, token: 0, r: 0.1, step: 0, tag: "corrective?".into() };
        let data = Instability {
            lambda: 1.0,
            tokens: 1,
            per_token: vec![peak.value],
            step_peak: vec![],
            step_mean: vec![],
            step_jsd_peak: vec![],
            step_entropy_mean: vec![],
            peak: Some(peak),
            p90: None,
        };
        let record = SignalRecord {
            trace: t.id.clone(),
            signal: "instability".into(),
            source: "test".into(),
            data: data.into(),
            ts: String::new(),
        };
        let source = app.library.entries[e].source;
        app.library.sources[source].store.put_signal(record).unwrap();
    }
    update(&mut app, Action::Report);
    let report = screen(&mut app, 120, 36);
    assert!(report.contains("instability ("), "{report}");
    for part in ["Report ·", "first error at step", "by position in the trace", "traces errors", "calculation"] {
        assert!(report.contains(part), "{part} missing:\n{report}");
    }
    update(&mut app, Action::Cancel);
    assert!(app.screen.is_browse());
}

/// Blind mode: before my label, the list hides the dataset label and the refinement keys wait;
/// after it, both are back.
#[test]
fn blind_hides_until_labelled_and_refinement_waits() {
    let store = tempfile::tempdir().unwrap();
    let mut app = app_for(&[demo()], store.path());
    app.settings.blind = Some(stepscope::tui::state::Hide::ALL);
    select(&mut app, "books-weight");
    let before = screen(&mut app, 120, 36);
    assert!(before.contains("ds:?") && !before.contains("ds:2") && !before.contains("(dataset)"), "{before}");
    update(&mut app, Action::RefineLocal);
    assert!(app.status.message.as_deref().unwrap_or("").starts_with("blind: label this trace first"));
    assert!(app.screen.is_browse());
    update(&mut app, Action::MarkNoError);
    let after = screen(&mut app, 120, 36);
    assert!(after.contains("ds:2"), "{after}");
    assert!(app.status.message.as_deref().unwrap_or("").contains("saved blind:"), "{:?}", app.status.message);
}
