//! Blind mode hides everything about a trace until the annotator has labelled it: one rule
//! (`App::hides`), asked by every surface. A test per surface that used to leak (issue 26, 7):
//! the failure report, the agreement overlay, the category search, refinements listed under
//! their drafts, the answer-entropy signal, and the `blind` flag of a label made after a reveal.

mod common;

use std::path::{Path, PathBuf};

use common::screens::{screen, select};
use stepscope::trace::model::Label;
use stepscope::trace::store::{now_rfc3339, Detail, SignalRecord, Store};
use stepscope::trace::Opener;
use stepscope::tui::action::Action;
use stepscope::tui::keymap::Keymap;
use stepscope::tui::load_app;
use stepscope::tui::state::Settings;
use stepscope::tui::state::{App, Hide, Overlay};
use stepscope::tui::theme::{Theme, ThemeName};
use stepscope::tui::update::update;

fn demo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/demo.jsonl")
}

fn opener(store: &Path) -> Opener {
    Opener { store_dir: Some(store.to_path_buf()), ..Opener::default() }
}

/// Another annotator, `bo`, has labelled two demo traces with categories, before `ana` starts.
fn labelled_by_bo(store: &Path) {
    let mut s = Store::open_location(&opener(store).journal(&demo())).unwrap();
    for (id, k) in [("books-weight", 2), ("train-speed", 1)] {
        let detail = Detail { category: Some("calculation".into()), ..Detail::default() };
        s.set_label_with(id, "bo", Some(Label::FirstError(k)), detail).unwrap();
    }
}

fn blind_app(store: &Path) -> App {
    let mut app = load_app(
        &[demo()],
        &opener(store),
        Settings::new("ana".into(), Theme::new(ThemeName::Dark, false), Keymap::default()),
    );
    app.settings.blind = Some(Hide::ALL);
    app.refresh_visible(); // as `open --blind` does
    app
}

fn visible_ids(app: &App) -> Vec<String> {
    app.browse.visible.iter().map(|&e| app.summary(e).unwrap().id.clone()).collect()
}

fn report(app: &stepscope::tui::state::App) -> &stepscope::service::campaign::Report {
    match &app.screen {
        stepscope::tui::state::Screen::Report(view) => &view.report,
        _ => panic!("not on the report screen"),
    }
}

#[test]
fn the_report_covers_only_what_i_labelled() {
    let store = tempfile::tempdir().unwrap();
    labelled_by_bo(store.path());
    let mut app = blind_app(store.path());
    update(&mut app, Action::Report);
    let r = report(&app);
    assert_eq!(r.traces, 0, "nothing labelled yet: the report covers nothing");
    assert_eq!(r.human_labels, 0);
    assert!(!screen(&mut app, 140, 40).contains("calculation"), "bo's category shows");
    update(&mut app, Action::Report);
    select(&mut app, "books-weight");
    update(&mut app, Action::MarkNoError);
    update(&mut app, Action::Report);
    assert_eq!(report(&app).traces, 1);
    assert!(app.status.message.as_deref().unwrap_or("").contains("covers the 1 traces you have labelled"));
}

#[test]
fn the_agreement_overlay_covers_only_what_i_labelled() {
    let store = tempfile::tempdir().unwrap();
    labelled_by_bo(store.path());
    let mut app = blind_app(store.path());
    update(&mut app, Action::Agreement);
    let Some(Overlay::Agreement { lines }) = app.overlays.last() else { panic!("no agreement overlay") };
    let text = lines.join("\n");
    assert!(text.contains("agreement over the 0 traces you have labelled"), "{text}");
    assert!(!text.contains("bo ~"), "bo's agreement with the dataset shows: {text}");
}

#[test]
fn category_search_sees_only_my_categories_on_hidden_traces() {
    let store = tempfile::tempdir().unwrap();
    labelled_by_bo(store.path());
    let mut app = blind_app(store.path());
    app.browse.search = "#calc".into();
    app.refresh_visible();
    assert!(visible_ids(&app).is_empty(), "blind search found bo's categories: {:?}", visible_ids(&app));
    app.settings.blind = None;
    app.refresh_visible();
    assert_eq!(visible_ids(&app), ["books-weight", "train-speed"]);
}

#[test]
fn refinements_under_a_hidden_draft_are_not_listed() {
    let store = tempfile::tempdir().unwrap();
    let journal = opener(store.path()).journal(&demo()).path;
    let refined = stepscope::service::refine::refinements_path(&journal);
    let child = serde_json::json!({"stepscope": 1, "id": "books-weight~local-s42", "problem": "p",
        "steps": ["a", "b"], "refinement": {"parent": "books-weight", "strategy": "local", "seed": 42}});
    std::fs::write(&refined, format!("{child}\n")).unwrap();
    let mut app = blind_app(store.path());
    assert!(!visible_ids(&app).iter().any(|id| id.contains('~')), "{:?}", visible_ids(&app));
    select(&mut app, "books-weight");
    update(&mut app, Action::MarkNoError);
    app.refresh_visible();
    assert!(visible_ids(&app).iter().any(|id| id == "books-weight~local-s42"), "{:?}", visible_ids(&app));
}

#[test]
fn answer_entropy_is_hidden_until_labelled() {
    let store = tempfile::tempdir().unwrap();
    let mut s = Store::open_location(&opener(store.path()).journal(&demo())).unwrap();
    let h = stepscope::signals::steps::AnswerEntropy {
        answer: "17".into(),
        answer_source: "reference".into(),
        h: vec![2.0, 1.0, 0.5, 0.1],
        delta: vec![0.0, 1.0, 0.5, 0.4],
        slope: -0.6,
        trend: "decreasing".into(),
        violations: 0,
    };
    let r = SignalRecord {
        trace: "books-weight".into(),
        signal: "answer-entropy".into(),
        source: "test".into(),
        data: stepscope::trace::store::SignalData::AnswerEntropy(h),
        ts: now_rfc3339(),
    };
    s.put_signal(r).unwrap();
    let mut app = blind_app(store.path());
    select(&mut app, "books-weight");
    assert!(!screen(&mut app, 140, 40).contains("H(answer)"), "answer entropy shows before my label");
    update(&mut app, Action::MarkNoError);
    assert!(screen(&mut app, 140, 40).contains("H(answer)"), "answer entropy is back after my label");
}

#[test]
fn a_label_after_a_reveal_is_not_blind() {
    let store = tempfile::tempdir().unwrap();
    let mut app = blind_app(store.path());
    select(&mut app, "books-weight");
    update(&mut app, Action::MarkNoError); // blind: nothing was shown yet
    update(&mut app, Action::Undo); // the dataset's label has been shown by now
    update(&mut app, Action::Open);
    update(&mut app, Action::Down);
    update(&mut app, Action::MarkFirstError);
    let journal = opener(store.path()).journal(&demo()).path;
    let text = std::fs::read_to_string(journal).unwrap();
    let labels: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == "label" && v["op"] == "set")
        .collect();
    assert_eq!(labels.len(), 2, "{text}");
    assert_eq!(labels[0]["blind"], true, "{text}");
    assert_ne!(labels[1]["blind"], true, "a label after the reveal is stored as blind: {text}");
}

/// Other annotators' marks on the steps (`[bo ✗]`) and a gold label (`★2`) stay hidden on a
/// trace until I have labelled it, then show.
#[test]
fn other_marks_and_gold_labels_are_hidden_until_labelled() {
    let store = tempfile::tempdir().unwrap();
    labelled_by_bo(store.path());
    let mut s = Store::open_location(&opener(store.path()).journal(&demo())).unwrap();
    s.set_gold("books-weight", Some(Label::FirstError(2)), "cy", Some("checked".into())).unwrap();
    let mut app = blind_app(store.path());
    select(&mut app, "books-weight");
    update(&mut app, Action::Open);
    let hidden = screen(&mut app, 140, 40);
    assert!(!hidden.contains("[bo ✗]") && !hidden.contains("★") && !hidden.contains("gold"), "{hidden}");
    update(&mut app, Action::MarkNoError);
    let shown = screen(&mut app, 140, 40);
    assert!(shown.contains("[★gold ✗]") && shown.contains("[bo ✗]") && shown.contains("★2"), "{shown}");
}
