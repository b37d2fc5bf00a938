//! Settling disagreements (issue 33, 2): adjudication mode stores a gold first error with who
//! decided and why, beside the annotators' labels; `export --labels gold` writes it and
//! `agree` counts it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::screens::{screen, select};
use stepscope::trace::{Label, Opener, Store};
use stepscope::tui::action::Action;
use stepscope::tui::keymap::Keymap;
use stepscope::tui::load_app;
use stepscope::tui::state::{App, Hide, Overlay, Settings};
use stepscope::tui::theme::{Theme, ThemeName};
use stepscope::tui::update::update;

fn demo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/demo.jsonl")
}

fn opener(store: &Path) -> Opener {
    Opener { store_dir: Some(store.to_path_buf()), ..Opener::default() }
}

fn journal(store: &Path) -> String {
    std::fs::read_to_string(opener(store).journal(&demo()).path).unwrap_or_default()
}

/// ana and bo disagree on books-weight (1 vs 2) and agree on train-speed.
fn double_labelled(store: &Path) {
    let mut s = Store::open(&opener(store).journal(&demo()).path).unwrap();
    s.set_label("books-weight", "ana", Some(Label::FirstError(1))).unwrap();
    s.set_label("books-weight", "bo", Some(Label::FirstError(2))).unwrap();
    s.set_label("train-speed", "ana", Some(Label::FirstError(1))).unwrap();
    s.set_label("train-speed", "bo", Some(Label::FirstError(1))).unwrap();
}

fn app_as(store: &Path, annotator: &str) -> App {
    let settings = Settings::new(annotator.into(), Theme::new(ThemeName::Dark, false), Keymap::default());
    load_app(&[demo()], &opener(store), settings)
}

fn message(app: &App) -> String {
    app.status.message.clone().unwrap_or_default()
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        update(app, Action::TextInput(c));
    }
}

#[test]
fn adjudication_stores_a_gold_label_with_who_and_why_and_leaves_every_annotator_label_alone() {
    let store = tempfile::tempdir().unwrap();
    double_labelled(store.path());
    let mut app = app_as(store.path(), "cy");
    update(&mut app, Action::Adjudicate);
    assert_eq!(app.browse.visible.len(), 1, "only the disagreeing trace: {}", message(&app));
    assert!(message(&app).contains("adjudicate: 1 traces where annotators disagree"), "{}", message(&app));
    update(&mut app, Action::Open);
    update(&mut app, Action::Down);
    let shown = screen(&mut app, 140, 40);
    assert!(shown.contains("ADJUDICATE"), "{shown}");
    assert!(shown.contains("[ana ✗]") && shown.contains("gold first error here"), "{shown}");

    // Esc on the reason writes nothing.
    let before = journal(store.path());
    update(&mut app, Action::Down);
    update(&mut app, Action::MarkFirstError);
    assert!(matches!(app.overlay(), Some(Overlay::Reason { .. })), "e asks why");
    let asked = screen(&mut app, 80, 24);
    assert!(asked.contains("ana: first error 1") && asked.contains("bo: first error 2"), "{asked}");
    update(&mut app, Action::Cancel);
    assert_eq!(journal(store.path()), before, "Esc on the reason wrote something");
    assert!(message(&app).contains("gold label is unchanged"), "{}", message(&app));

    update(&mut app, Action::MarkFirstError);
    type_text(&mut app, "bo is right: step 1 is fine");
    update(&mut app, Action::TextCommit);
    assert!(message(&app).contains("gold: books-weight first error at step 2 · decided by cy"), "{}", message(&app));
    let s = Store::open(&opener(store.path()).journal(&demo()).path).unwrap();
    let gold = s.gold("books-weight").expect("a gold record");
    assert_eq!((gold.value, gold.by.as_str()), (Some(Label::FirstError(2)), "cy"));
    assert_eq!(gold.reason.as_deref(), Some("bo is right: step 1 is fine"));
    assert_eq!(gold.labels.iter().map(|(a, l)| (a.as_str(), *l)).collect::<Vec<_>>(), [("ana", 1), ("bo", 2)]);
    assert_eq!(s.label("books-weight", "cy"), None, "adjudication wrote my own label");
    assert_eq!(s.label("books-weight", "ana"), Some(Label::FirstError(1)));
    let shown = screen(&mut app, 140, 40);
    assert!(shown.contains("first error 2 (gold, cy)") && shown.contains("★2"), "{shown}");

    // Deciding again says what it replaced; undo is not for gold labels.
    update(&mut app, Action::MarkNoError);
    update(&mut app, Action::TextCommit);
    assert!(message(&app).contains("has no error (was 2)"), "{}", message(&app));
    update(&mut app, Action::Undo);
    assert!(message(&app).contains("decide the gold label again"), "{}", message(&app));
    update(&mut app, Action::NextUnlabelled);
    assert!(message(&app).contains("every disagreement shown has a gold label"), "{}", message(&app));

    // Leaving the mode: e labels for me again (the category chooser follows).
    update(&mut app, Action::Adjudicate);
    update(&mut app, Action::MarkFirstError);
    assert!(matches!(app.overlay(), Some(Overlay::Category { .. })), "{}", message(&app));
    let s = Store::open(&opener(store.path()).journal(&demo()).path).unwrap();
    assert_eq!(s.label("books-weight", "cy"), Some(Label::FirstError(2)));
    assert_eq!(s.gold_label("books-weight"), Some(Label::NoError), "my label changed the gold one");
}

#[test]
fn blind_mode_has_no_adjudication() {
    let store = tempfile::tempdir().unwrap();
    double_labelled(store.path());
    let mut app = app_as(store.path(), "cy");
    app.settings.blind = Some(Hide::ALL);
    select(&mut app, "books-weight");
    update(&mut app, Action::Adjudicate);
    assert!(!app.settings.adjudicate);
    assert!(message(&app).contains("off in blind mode"), "{}", message(&app));
}

fn stepscope(args: &[&str], store: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stepscope"))
        .args(args)
        .arg("--store")
        .arg(store)
        .env("STEPSCOPE_ANNOTATOR", "cy")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[test]
fn gold_labels_are_exported_beside_the_raw_labels_and_counted_by_agree() {
    let store = tempfile::tempdir().unwrap();
    double_labelled(store.path());
    let demo = demo();
    let file = demo.to_str().unwrap();
    let (code, out, err) = stepscope(
        &["label", file, "--trace", "books-weight", "--first-error", "2", "--gold", "--reason", "bo is right"],
        store.path(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("books-weight: gold label first error at step 2 (decided by cy"), "{out}");
    let (code, _, err) =
        stepscope(&["label", file, "--trace", "books-weight", "--reason", "x", "--no-error"], store.path());
    assert_ne!(code, 0, "--reason without --gold was taken");
    assert!(err.contains("--gold"), "{err}");

    let (code, out, err) = stepscope(&["export", file, "--to", "jsonl", "--labels", "gold", "-o", "-"], store.path());
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 8, "jsonl keeps unlabelled rows");
    for r in &rows {
        for key in ["adjudicator", "adjudication_reason", "label_ts", "annotator_labels"] {
            assert!(r.get(key).is_some(), "row {} lacks {key}", r["id"]);
        }
    }
    let books = rows.iter().find(|r| r["id"] == "books-weight").unwrap();
    assert_eq!(books["label"], 2, "{books}");
    assert_eq!(
        (books["adjudicator"].as_str(), books["adjudication_reason"].as_str()),
        (Some("cy"), Some("bo is right"))
    );
    assert_eq!(books["annotator_labels"], serde_json::json!({"ana": 1, "bo": 2}));
    let other = rows.iter().find(|r| r["id"] == "train-speed").unwrap();
    assert!(other["label"].is_null() && other["adjudicator"].is_null(), "{other}");
    let (code, _, err) =
        stepscope(&["export", file, "--to", "processbench", "--labels", "gold", "-o", "-"], store.path());
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("skipped 7 traces without a gold label"), "{err}");

    let (code, out, err) = stepscope(&["agree", file], store.path());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("gold labels: 1 · settled 1 of 1 traces where annotators disagree"), "{out}");
    assert!(out.contains("bo ~ gold") && out.contains("ana ~ gold") && out.contains("gold ~ dataset"), "{out}");
    let (code, out, _) = stepscope(&["agree", file, "--json"], store.path());
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["overall"]["gold"].as_u64(), v["overall"]["settled"].as_u64()), (Some(1), Some(1)));
}
