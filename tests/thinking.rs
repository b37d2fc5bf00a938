//! Reasoning models' traces (issue 32, 1): every shape their thinking comes in loads with the
//! thinking as the first units and the answer read from the answer part only. The fixtures in
//! tests/data/thinking are hand-made in each shape's schema.

mod common;

use std::path::PathBuf;

use common::screens::{screen, select};
use stepscope::trace::{Format, Label, ReadOptions, Trace, TraceFile};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/thinking").join(name)
}

fn load(name: &str) -> (Format, Vec<Trace>, Vec<String>) {
    let f = TraceFile::open(&fixture(name), None, ReadOptions::default()).unwrap();
    let (traces, problems) = f.load_all();
    (f.format, traces, problems.iter().map(|p| p.to_string()).collect())
}

fn thinking(t: &Trace) -> Vec<&str> {
    t.steps[..t.thinking_steps].iter().map(|s| s.text.as_str()).collect()
}

fn answer(t: &Trace) -> Vec<&str> {
    t.steps[t.thinking_steps..].iter().map(|s| s.text.as_str()).collect()
}

#[test]
fn chat_completions_with_reasoning_content_keep_the_thinking() {
    let (format, traces, problems) = load("chat-reasoning-content.json");
    assert_eq!((format, problems.len()), (Format::OpenAi, 0), "{problems:?}");
    let t = &traces[0];
    assert_eq!(thinking(t).len(), 4, "{:?}", t.step_texts());
    assert!(thinking(t)[2].starts_with("Wait, let me double-check"));
    assert_eq!(answer(t), ["She pays 12 dollars for the pens.", "The answer is \\boxed{8}."]);
    assert_eq!(t.final_answer.as_deref(), Some("8"));
    assert!(t.problem.starts_with("A shop sells pens"));
    assert!(t.steps.iter().all(|s| t.solution[s.start..s.end] == s.text), "spans point into the solution");
}

#[test]
fn think_blocks_in_the_text_are_the_thinking_and_the_answer_is_read_after_them() {
    let (format, traces, problems) = load("think-in-content.jsonl");
    assert_eq!((format, problems.len()), (Format::Native, 0), "{problems:?}");
    let t = &traces[0];
    assert_eq!(
        thinking(t),
        ["The train goes 39 km every hour.", "Three hours: 39 * 3 = 107.", "Hmm, wait. 39 * 3 = 117, not 107."]
    );
    assert_eq!(answer(t), ["It covers 39 * 3 = 117 km.", "The answer is \\boxed{117}."]);
    assert!(!t.steps.iter().any(|s| s.text.contains("think>")), "a tag inside a step");
    assert_eq!((t.final_answer.as_deref(), t.answer_correct()), (Some("117"), Some(true)));
    // The template opened the block: thinking up to the lone closing tag.
    let t = &traces[1];
    assert_eq!((t.thinking_steps, answer(t)), (2, vec!["#### 42"]));
    assert_eq!(t.final_answer.as_deref(), Some("42"));
    // Stopped while thinking: no answer part, so no final answer (not the one in the thinking).
    let t = &traces[2];
    assert_eq!((t.thinking_steps, t.steps.len(), t.final_answer.as_deref()), (2, 2, None));
    assert_eq!(t.answer_correct(), None);
}

#[test]
fn anthropic_thinking_blocks_are_the_thinking() {
    let (format, traces, problems) = load("anthropic-thinking.jsonl");
    assert_eq!((format, problems.len()), (Format::Anthropic, 0), "{problems:?}");
    let t = &traces[0];
    assert_eq!(thinking(t), ["Tom starts with 5 apples.", "He eats 2, so 5 - 2 = 3."]);
    assert_eq!(answer(t), ["Tom has 3 apples left.", "The answer is 3."]);
    assert_eq!(t.extra["redacted_thinking_blocks"], 1, "redacted thinking is counted, never shown");
    assert!(!t.solution.contains("ZW5jcnlwdGVk"));
    assert_eq!((t.final_answer.as_deref(), t.answer_correct()), (Some("3"), Some(true)));
    assert_eq!(t.generator.as_deref(), Some("claude-hand-made"));
    // A conversation: the problem is the user's turn, the thinking the assistant's blocks.
    let t = &traces[1];
    assert_eq!(t.problem, "What is 15% of 80?");
    assert_eq!((t.thinking_steps, t.final_answer.as_deref(), t.answer_correct()), (3, Some("12"), Some(true)));
}

#[test]
fn responses_api_reasoning_items_are_the_thinking() {
    let (format, traces, problems) = load("responses-reasoning.json");
    assert_eq!((format, problems.len()), (Format::Responses, 0), "{problems:?}");
    let t = &traces[0];
    // The full reasoning text where the item has it (its summary otherwise).
    assert_eq!(thinking(t), ["12 / 1.5 = 8.", "Check: 8 * 1.5 = 12. Good."]);
    assert_eq!(answer(t), ["There are 8 pieces.", "The answer is 8."]);
    assert!(t.problem.starts_with("A rope is 12 m long"));
    assert_eq!((t.final_answer.as_deref(), t.answer_correct()), (Some("8"), Some(true)));
}

#[test]
fn deltabench_sections_are_steps_with_the_first_erroneous_section_as_label() {
    let (format, traces, problems) = load("deltabench.jsonl");
    assert_eq!(format, Format::DeltaBench);
    assert_eq!(traces.len(), 2, "the bad row does not stop the others");
    let t = &traces[0];
    assert_eq!(t.steps.len(), 3);
    assert!(t.steps[1].text.starts_with("Their sum is 1 + 2 + 3 + 4 + 6 + 12 = 26."));
    assert!(!t.steps[0].text.contains("section1"), "the header is not part of the section");
    assert_eq!(t.label, Some(Label::FirstError(1)));
    assert_eq!((t.reference_answer.as_deref(), t.final_answer.as_deref()), (Some("28"), Some("28")));
    assert_eq!(t.extra["task_l1"], "math");
    let t = &traces[1];
    assert_eq!(t.label, Some(Label::NoError));
    assert_eq!(t.extra["reason_unuseful_section_numbers"], serde_json::json!([3]));
    assert_eq!(problems.len(), 1);
    let p = &problems[0];
    assert!(p.contains("deltabench.jsonl:3") && p.contains("reason_error_section_numbers[0]"), "{p}");
    assert!(p.contains("section 4 is not in the row (it has sections 1–1)"), "{p}");
}

#[test]
fn the_steps_pane_shows_where_the_thinking_ends() {
    use stepscope::tui::action::Action;
    use stepscope::tui::update::update;
    let store = tempfile::tempdir().unwrap();
    let opener = stepscope::trace::Opener { store_dir: Some(store.path().into()), ..Default::default() };
    let settings = stepscope::tui::state::Settings::new(
        "ana".into(),
        stepscope::tui::theme::Theme::new(stepscope::tui::theme::ThemeName::Dark, false),
        stepscope::tui::keymap::Keymap::default(),
    );
    let mut app = stepscope::tui::load_app(&[fixture("think-in-content.jsonl")], &opener, settings);
    select(&mut app, "qwen3-raw-117");
    update(&mut app, Action::Open);
    let shown = screen(&mut app, 140, 40);
    let row = |needle: &str| {
        shown.lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("no {needle}:\n{shown}"))
    };
    assert!(row("THINKING · 3 units") < row("The train goes 39 km"), "{shown}");
    assert!(row("Hmm, wait.") < row("ANSWER") && row("ANSWER") < row("It covers 39 * 3"), "{shown}");
}

#[test]
fn the_thinking_part_survives_a_native_export() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let (code, _, err) = common::run(&[
        "export",
        fixture("anthropic-thinking.jsonl").to_str().unwrap(),
        "--to",
        "jsonl",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let f = TraceFile::open(&out, None, ReadOptions::default()).unwrap();
    let (back, problems) = f.load_all();
    assert!(problems.is_empty(), "{problems:?}");
    let (_, original, _) = load("anthropic-thinking.jsonl");
    for (a, b) in original.iter().zip(&back) {
        assert_eq!((a.thinking_steps, a.step_texts()), (b.thinking_steps, b.step_texts()));
        assert_eq!(a.final_answer, b.final_answer);
    }
}

#[test]
fn plain_text_with_a_think_block() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r1.txt");
    std::fs::write(
        &path,
        "Problem: What is 9 + 4?\n\n<think>\n9 + 4 = 12.\n\nNo: 9 + 4 = 13.\n</think>\n\nThe answer is 13.",
    )
    .unwrap();
    let f = TraceFile::open(&path, None, ReadOptions::default()).unwrap();
    let t = &f.record(0).unwrap()[0];
    assert_eq!((t.thinking_steps, t.final_answer.as_deref()), (2, Some("13")));
    assert_eq!(t.step_texts(), ["9 + 4 = 12.", "No: 9 + 4 = 13.", "The answer is 13."]);
}

fn long_cot_app(store: &std::path::Path) -> stepscope::tui::state::App {
    let opener = stepscope::trace::Opener { store_dir: Some(store.into()), ..Default::default() };
    let settings = stepscope::tui::state::Settings::new(
        "ana".into(),
        stepscope::tui::theme::Theme::new(stepscope::tui::theme::ThemeName::Dark, false),
        stepscope::tui::keymap::Keymap::default(),
    );
    stepscope::tui::load_app(&[fixture("long-cot.jsonl")], &opener, settings)
}

#[test]
fn long_thinking_is_cut_at_reflections_and_sections_fold_and_jump() {
    use stepscope::tui::action::Action;
    use stepscope::tui::update::update;
    let (_, traces, _) = load("long-cot.jsonl");
    let t = &traces[0];
    // "Hmm. Let me double-check …" is two units: a reflection marker starts a unit mid-paragraph.
    assert_eq!(t.steps[3].text, "Hmm.");
    assert!(t.steps[4].text.starts_with("Let me double-check with a list"));
    assert_eq!(t.thinking_steps, 10);
    let sections = stepscope::trace::thinking::sections(t);
    assert_eq!(sections, [0..6, 6..9, 9..10, 10..12], "new approaches and the answer start sections");

    let store = tempfile::tempdir().unwrap();
    let mut app = long_cot_app(store.path());
    update(&mut app, Action::Open);
    update(&mut app, Action::FoldAll);
    let shown = screen(&mut app, 140, 40);
    if std::env::var("PEEK").is_ok() {
        eprintln!("{shown}");
    }
    assert!(shown.contains("▸ 0–5 · 6 units") && shown.contains("▸ answer 10–11 · 2 units"), "{shown}");
    assert!(!shown.contains("6! = 720"), "a folded step is drawn:\n{shown}");
    // A folded section is one stop for the cursor.
    update(&mut app, Action::Down);
    assert_eq!(app.browse.step, 6);
    // w: the next reflection, unfolded to be seen.
    update(&mut app, Action::NextReflection);
    assert_eq!(app.browse.step, 8, "{:?}", app.status.message);
    let shown = screen(&mut app, 140, 40);
    assert!(shown.contains("Actually the list gives") && shown.contains("6! = 720"), "{shown}");
    update(&mut app, Action::NextSection);
    assert_eq!(app.browse.step, 9);
    update(&mut app, Action::PrevSection);
    assert_eq!(app.browse.step, 6);
    // `5e` marks a step inside a folded section: it opens, and the label is on that unit.
    update(&mut app, Action::Digit(5));
    update(&mut app, Action::MarkFirstError);
    update(&mut app, Action::Cancel);
    assert_eq!(app.browse.step, 5);
    let shown = screen(&mut app, 140, 40);
    assert!(shown.contains("5 + 4 + 3 + 2 + 1 = 14.") && shown.contains("FIRST ERROR"), "{shown}");
    // Folded again, the section says it holds the first error.
    update(&mut app, Action::Fold);
    let shown = screen(&mut app, 140, 40);
    assert!(shown.contains("▸ 0–5 · 6 units") && shown.contains("✗ first error 5"), "{shown}");
    // z again unfolds it.
    update(&mut app, Action::Fold);
    assert!(screen(&mut app, 140, 40).contains("We need the number of ways"));
    // Folding everything from the last unit shows every folded section, not only the last.
    update(&mut app, Action::Bottom);
    screen(&mut app, 140, 14);
    update(&mut app, Action::FoldAll);
    let shown = screen(&mut app, 140, 14);
    assert!(shown.contains("▸ 0–5 · 6 units") && shown.contains("▸ answer 10–11 · 2 units"), "{shown}");
}

#[test]
fn an_annotator_marks_where_the_model_realises_its_error_and_whether_it_recovers() {
    use stepscope::tui::action::Action;
    use stepscope::tui::update::update;
    let store = tempfile::tempdir().unwrap();
    let mut app = long_cot_app(store.path());
    update(&mut app, Action::Open);
    update(&mut app, Action::Digit(5));
    update(&mut app, Action::MarkFirstError);
    update(&mut app, Action::Cancel);
    // Before the error there is nothing to realise.
    update(&mut app, Action::Up);
    update(&mut app, Action::Realisation);
    assert!(app.status.message.as_deref().unwrap_or("").contains("pick a step after 5"), "{:?}", app.status.message);
    // From step 4 the next reflections are 6 ("Alternatively") and 8 ("Actually").
    update(&mut app, Action::NextReflection);
    update(&mut app, Action::NextReflection);
    assert_eq!(app.browse.step, 8);
    update(&mut app, Action::Realisation);
    update(&mut app, Action::Recovery);
    let message = app.status.message.clone().unwrap_or_default();
    assert!(message.contains("realised at 8 · recovered"), "{message}");
    let shown = screen(&mut app, 140, 40);
    assert!(shown.contains("[me ↺ realises · recovered]") && shown.contains("recovered"), "{shown}");

    let file = fixture("long-cot.jsonl");
    let (f, s) = (file.to_str().unwrap(), store.path().to_str().unwrap());
    let (code, out, err) = common::run(&["export", f, "--store", s, "--labels", "human", "--to", "jsonl", "-o", "-"]);
    assert_eq!(code, 0, "{err}");
    let row: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(
        (row["label"].as_i64(), row["realisation_step"].as_i64(), row["recovered"].as_bool()),
        (Some(5), Some(8), Some(true))
    );
    let (code, out, err) = common::run(&["report", f, "--store", s]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("self-correction: 1 of 1 errors realised · 1 recovered · 0 fatal · 0 not said · realised 3.0 steps after the error"), "{out}");
}

#[test]
fn self_correction_from_a_script_is_range_checked() {
    let store = tempfile::tempdir().unwrap();
    let file = fixture("long-cot.jsonl");
    let (f, s) = (file.to_str().unwrap(), store.path().to_str().unwrap());
    let label = |extra: &[&str]| {
        let mut args = vec!["label", f, "--store", s, "--trace", "books-pairs", "--annotator", "bo"];
        args.extend_from_slice(extra);
        common::run(&args)
    };
    let (code, _, err) = label(&["--first-error", "5", "--realisation-step", "5"]);
    assert_eq!(code, 2);
    assert!(err.contains("--realisation-step 5 is out of range: it comes after the first error (5)"), "{err}");
    let (code, _, err) = label(&["--no-error", "--fatal"]);
    assert_eq!(code, 2, "--fatal without a first error was taken: {err}");
    let (code, _, err) = label(&["--first-error", "5", "--realisation-step", "8", "--fatal"]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = common::run(&["export", f, "--store", s, "--labels", "human", "--to", "jsonl", "-o", "-"]);
    let row: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!((row["realisation_step"].as_i64(), row["recovered"].as_bool()), (Some(8), Some(false)));
}
