//! No label changes without the annotator knowing (issue 33, 1): full screens and the category
//! chooser take every key, `e` on the marked step keeps its category and note, and every change
//! says what it replaced.

mod common;

use std::path::{Path, PathBuf};

use common::screens::{screen, select};
use stepscope::trace::Opener;
use stepscope::tui::action::Action;
use stepscope::tui::keymap::Keymap;
use stepscope::tui::load_app;
use stepscope::tui::state::{App, Overlay, Settings};
use stepscope::tui::theme::{Theme, ThemeName};
use stepscope::tui::update::update;

fn demo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/demo.jsonl")
}

fn app_for(store: &Path) -> App {
    let input = Opener { store_dir: Some(store.to_path_buf()), ..Opener::default() };
    load_app(&[demo()], &input, Settings::new("ana".into(), Theme::new(ThemeName::Dark, false), Keymap::default()))
}

fn journal(store: &Path) -> String {
    let input = Opener { store_dir: Some(store.to_path_buf()), ..Opener::default() };
    std::fs::read_to_string(input.journal(&demo()).path).unwrap_or_default()
}

/// The label records in the journal, oldest first.
fn label_records(store: &Path) -> Vec<serde_json::Value> {
    journal(store)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == "label")
        .collect()
}

fn message(app: &App) -> String {
    app.status.message.clone().unwrap_or_default()
}

/// Marks step `k` of the selected trace with category 1 and a note.
fn mark_with_category_and_note(app: &mut App, k: usize) {
    update(app, Action::Open);
    for _ in 0..k {
        update(app, Action::Down);
    }
    update(app, Action::MarkFirstError);
    assert!(matches!(app.overlay(), Some(Overlay::Category { .. })), "the chooser follows e");
    update(app, Action::Digit(1));
    update(app, Action::Note);
    for c in "units".chars() {
        update(app, Action::TextInput(c));
    }
    update(app, Action::TextCommit);
}

#[test]
fn keys_on_the_report_screen_never_reach_the_trace_behind_it() {
    let store = tempfile::tempdir().unwrap();
    let mut app = app_for(store.path());
    select(&mut app, "books-weight");
    update(&mut app, Action::MarkNoError);
    let before = journal(store.path());
    update(&mut app, Action::Report);
    screen(&mut app, 80, 24);
    for a in [Action::Down, Action::Down, Action::MarkFirstError, Action::ClearLabel, Action::MarkNoError] {
        update(&mut app, a);
    }
    assert!(matches!(app.screen, stepscope::tui::state::Screen::Report(_)), "the report is still open");
    assert!(message(&app).contains("P or Esc goes back"), "{}", message(&app));
    update(&mut app, Action::Report);
    assert!(app.screen.is_browse());
    assert_eq!(journal(store.path()), before, "a key typed on the report changed the journal");
}

#[test]
fn the_report_fits_80_by_24_and_scrolls_where_it_does_not() {
    let store = tempfile::tempdir().unwrap();
    let mut app = app_for(store.path());
    select(&mut app, "books-weight");
    update(&mut app, Action::MarkNoError);
    update(&mut app, Action::Report);
    let whole = screen(&mut app, 80, 24);
    insta::assert_snapshot!("report_80x24", whole);
    insta::assert_snapshot!("report_140x40", screen(&mut app, 140, 40));
    for part in ["first error at step", "traces errors", "answer     no error  error", "by category"] {
        assert!(whole.contains(part), "{part} missing at 80×24:\n{whole}");
    }
    let top = screen(&mut app, 80, 14);
    assert!(top.contains("first error at step") && !top.contains("by category"), "{top}");
    update(&mut app, Action::Bottom);
    let bottom = screen(&mut app, 80, 14);
    assert!(!bottom.contains("first error at step"), "the charts scrolled away:\n{bottom}");
    assert!(bottom.contains("by category"), "the tables scrolled into view:\n{bottom}");
    update(&mut app, Action::Top);
    assert_eq!(screen(&mut app, 80, 14), top);
}

#[test]
fn the_category_chooser_takes_every_key() {
    let store = tempfile::tempdir().unwrap();
    let mut app = app_for(store.path());
    select(&mut app, "books-weight");
    update(&mut app, Action::Open);
    update(&mut app, Action::MarkFirstError);
    let (selected, step) = (app.browse.selected, app.browse.step);
    for a in [Action::Down, Action::MarkNoError, Action::Digit(9)] {
        let name = format!("{a:?}");
        update(&mut app, a);
        assert!(matches!(app.overlay(), Some(Overlay::Category { .. })), "{name} closed the chooser");
    }
    assert_eq!((app.browse.selected, app.browse.step), (selected, step), "a key moved the cursor behind it");
    assert_eq!(label_records(store.path()).len(), 1, "a key behind the chooser wrote a label");
    update(&mut app, Action::Cancel);
    assert!(app.overlay().is_none());
}

#[test]
fn e_on_the_marked_step_keeps_category_and_note() {
    let store = tempfile::tempdir().unwrap();
    let mut app = app_for(store.path());
    select(&mut app, "books-weight");
    mark_with_category_and_note(&mut app, 2);
    let records = label_records(store.path()).len();
    update(&mut app, Action::MarkFirstError);
    assert!(message(&app).starts_with("unchanged: books-weight first error at step 2"), "{}", message(&app));
    assert!(message(&app).contains("kept"), "{}", message(&app));
    update(&mut app, Action::Cancel);
    assert!(message(&app).contains("category stays"), "{}", message(&app));
    assert_eq!(label_records(store.path()).len(), records, "pressing e again wrote a record");
    let entry = app.selected_entry().unwrap();
    let category = app.settings.categories[0].clone();
    assert_eq!(app.my_category(entry, "books-weight"), Some(category.as_str()));
}

#[test]
fn every_change_says_what_it_replaced() {
    let store = tempfile::tempdir().unwrap();
    let mut app = app_for(store.path());
    select(&mut app, "books-weight");
    mark_with_category_and_note(&mut app, 2);
    let category = app.settings.categories[0].clone();
    update(&mut app, Action::Up);
    update(&mut app, Action::MarkFirstError);
    assert!(
        message(&app).contains(&format!("first error at step 1 (was 2 · {category} · note kept)")),
        "{}",
        message(&app)
    );
    update(&mut app, Action::Cancel); // the chooser: keep the category
    let last = label_records(store.path()).pop().unwrap();
    assert_eq!(last["value"], 1);
    assert_eq!(last["category"], category.as_str(), "{last}");
    assert_eq!(last["note"], "units", "{last}");
    update(&mut app, Action::MarkNoError);
    assert!(
        message(&app).contains(&format!("has no error (was 1 · {category} dropped · note kept)")),
        "{}",
        message(&app)
    );
    let last = label_records(store.path()).pop().unwrap();
    assert!(last["category"].is_null(), "a label without an error keeps no category: {last}");
    assert_eq!(last["note"], "units", "{last}");
    update(&mut app, Action::ClearLabel);
    assert!(
        message(&app).contains("cleared my label on books-weight (was no error · note dropped)"),
        "{}",
        message(&app)
    );
}

#[test]
fn counts_move_and_mark_steps() {
    let store = tempfile::tempdir().unwrap();
    let mut app = app_for(store.path());
    select(&mut app, "books-weight");
    update(&mut app, Action::Open);
    update(&mut app, Action::Digit(3));
    update(&mut app, Action::Down);
    assert_eq!(app.browse.step, 3, "3j moves three steps");
    update(&mut app, Action::Digit(2));
    update(&mut app, Action::MarkFirstError);
    assert_eq!(app.browse.step, 2, "2e puts the cursor on step 2");
    let last = label_records(store.path()).pop().unwrap();
    assert_eq!(last["value"], 2, "2e marks step 2: {last}");
    update(&mut app, Action::Cancel); // the category chooser
    update(&mut app, Action::Digit(9));
    update(&mut app, Action::MarkFirstError);
    assert!(message(&app).starts_with("no step 9"), "{}", message(&app));
    assert_eq!(label_records(store.path()).len(), 1, "a count past the last step wrote nothing");
    // `0` inside a count is a digit, not a rating.
    update(&mut app, Action::Digit(1));
    update(&mut app, Action::Rate(0));
    update(&mut app, Action::Up);
    assert_eq!(app.browse.step, 0, "10k: up ten (clamped)");
    assert!(journal(store.path()).lines().all(|l| !l.contains("\"rating\"")), "the 0 of 10 rated a step");
    update(&mut app, Action::Digit(4));
    update(&mut app, Action::Cancel);
    update(&mut app, Action::Down);
    assert_eq!(app.browse.step, 1, "Esc clears a count");
}

#[test]
fn gg_goes_to_the_top() {
    let store = tempfile::tempdir().unwrap();
    let mut app = app_for(store.path());
    update(&mut app, Action::Bottom);
    assert!(app.browse.selected > 0);
    update(&mut app, Action::GoPrefix);
    assert!(app.browse.selected > 0, "one g waits");
    update(&mut app, Action::GoPrefix);
    assert_eq!(app.browse.selected, 0);
}

#[test]
fn model_actions_wait_for_their_key_again() {
    let store = tempfile::tempdir().unwrap();
    let mut app = app_for(store.path());
    assert!(app.settings.confirm_model_actions, "on by default");
    select(&mut app, "books-weight");
    update(&mut app, Action::RefineGlobal);
    assert!(app.requests.is_empty(), "one R started model work");
    assert!(message(&app).contains("press R again"), "{}", message(&app));
    update(&mut app, Action::Down); // another key cancels
    update(&mut app, Action::RefineGlobal);
    assert!(app.requests.is_empty(), "R, j, R started model work");
    update(&mut app, Action::RefineGlobal);
    assert!(!app.requests.is_empty(), "R R starts the refinement");
}

#[test]
fn a_new_search_starts_empty() {
    let store = tempfile::tempdir().unwrap();
    let mut app = app_for(store.path());
    update(&mut app, Action::StartSearch);
    for c in "books".chars() {
        update(&mut app, Action::TextInput(c));
    }
    update(&mut app, Action::TextCommit);
    assert_eq!(app.browse.visible.len(), 1);
    update(&mut app, Action::StartSearch);
    assert!(app.browse.search.is_empty(), "/ appended to the last search");
    for c in "train".chars() {
        update(&mut app, Action::TextInput(c));
    }
    update(&mut app, Action::TextCommit);
    let id = app.summary(app.selected_entry().unwrap()).unwrap().id;
    assert_eq!(id, "train-speed");
}

#[test]
fn advance_after_label_goes_on_once_the_category_is_chosen() {
    let store = tempfile::tempdir().unwrap();
    let mut app = app_for(store.path());
    app.settings.advance_after_label = true;
    select(&mut app, "books-weight");
    update(&mut app, Action::MarkNoError);
    let id = |app: &App| app.summary(app.selected_entry().unwrap()).unwrap().id;
    assert_ne!(id(&app), "books-weight", "c moves on");
    let here = id(&app);
    update(&mut app, Action::MarkFirstError);
    assert_eq!(id(&app), here, "the chooser is open: still here");
    update(&mut app, Action::Digit(1));
    assert_ne!(id(&app), here, "the category chosen: on to the next");
    let records = label_records(store.path());
    let on_here: Vec<_> = records.iter().filter(|r| r["trace"] == here.as_str()).collect();
    assert_eq!(on_here.last().unwrap()["category"], app.settings.categories[0].as_str(), "{records:?}");
}

#[test]
fn other_annotators_show_in_the_list_and_a_filter_finds_disagreement() {
    let store = tempfile::tempdir().unwrap();
    {
        let input = Opener { store_dir: Some(store.path().to_path_buf()), ..Opener::default() };
        let mut s = stepscope::trace::Store::open_location(&input.journal(&demo())).unwrap();
        s.set_label("books-weight", "bo", Some(stepscope::trace::Label::FirstError(2))).unwrap();
        s.set_label("train-speed", "bo", Some(stepscope::trace::Label::NoError)).unwrap();
    }
    let mut app = app_for(store.path());
    select(&mut app, "books-weight");
    update(&mut app, Action::Open);
    update(&mut app, Action::Down);
    update(&mut app, Action::MarkFirstError); // ana: 1, bo: 2
    update(&mut app, Action::Cancel);
    select(&mut app, "train-speed");
    update(&mut app, Action::MarkNoError); // ana agrees with bo
    let shown = screen(&mut app, 140, 40);
    let row = shown.lines().find(|l| l.contains("books-weight") && l.contains("me:")).unwrap();
    assert!(row.contains("bo:2") && row.contains("me:1"), "{row}");
    while app.browse.filter.name() != "annotators disagree" {
        update(&mut app, Action::CycleFilter);
    }
    let ids: Vec<String> = app.browse.visible.iter().map(|&e| app.summary(e).unwrap().id).collect();
    assert_eq!(ids, ["books-weight"]);
    // From the agreement overlay, Enter goes to the same traces.
    while app.browse.filter.name() != "all" {
        update(&mut app, Action::CycleFilter);
    }
    update(&mut app, Action::Agreement);
    update(&mut app, Action::Open);
    assert!(app.overlay().is_none());
    let ids: Vec<String> = app.browse.visible.iter().map(|&e| app.summary(e).unwrap().id).collect();
    assert_eq!(ids, ["books-weight"], "K Enter: where annotators disagree");
    // Blind mode hides bo's label on a trace I have not labelled, and skips the filter.
    {
        let input = Opener { store_dir: Some(store.path().to_path_buf()), ..Opener::default() };
        let mut s = stepscope::trace::Store::open_location(&input.journal(&demo())).unwrap();
        s.set_label("marbles-share", "bo", Some(stepscope::trace::Label::FirstError(4))).unwrap();
    }
    let mut blind = app_for(store.path());
    blind.settings.blind = Some(stepscope::tui::state::Hide::ALL);
    blind.refresh_visible();
    let shown = screen(&mut blind, 140, 40);
    let row = shown.lines().find(|l| l.contains("marbles-share")).unwrap();
    assert!(!row.contains("bo:"), "blind mode shows bo's label: {row}");
    for _ in 0..8 {
        update(&mut blind, Action::CycleFilter);
        assert_ne!(blind.browse.filter.name(), "annotators disagree");
    }
    assert!(message(&blind).contains("blind: the 4 filters that show hints are off"), "{}", message(&blind));
}

#[test]
fn n_and_shift_n_move_between_search_matches() {
    let store = tempfile::tempdir().unwrap();
    let mut app = app_for(store.path());
    update(&mut app, Action::StartSearch);
    for c in "POUNDS".chars() {
        update(&mut app, Action::TextInput(c));
    }
    update(&mut app, Action::TextCommit);
    let id = |app: &App| app.summary(app.selected_entry().unwrap()).unwrap().id;
    assert_eq!(id(&app), "books-weight");
    let mut seen = Vec::new();
    for _ in 0..4 {
        update(&mut app, Action::NextUnlabelled);
        seen.push(app.browse.step);
    }
    assert_eq!(seen, [1, 2, 3, 0], "n: the next step holding the match, then around");
    update(&mut app, Action::Note);
    assert_eq!(app.browse.step, 3, "N: the previous match");
    assert!(app.overlay().is_none(), "N after a search opened the note editor");
    assert!(message(&app).contains("/POUNDS: step 3"), "{}", message(&app));
    // Without a search, n is the next unlabelled trace again.
    update(&mut app, Action::StartSearch);
    update(&mut app, Action::Cancel);
    update(&mut app, Action::NextUnlabelled);
    assert_ne!(id(&app), "books-weight");
}
