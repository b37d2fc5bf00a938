//! No panic on awkward traces and sizes: zero steps, a 50,000-character step, CJK and emoji,
//! a terminal squeezed to 20×5 and back.

use std::path::Path;

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use serde_json::json;
use stepscope::trace::Opener;
use stepscope::tui::action::Action;
use stepscope::tui::keymap::Keymap;
use stepscope::tui::state::App;
use stepscope::tui::state::Settings;
use stepscope::tui::theme::{Theme, ThemeName};
use stepscope::tui::update::update;
use stepscope::tui::{load_app, views};

fn draw(app: &mut App, w: u16, h: u16) -> String {
    update(app, Action::Resize { width: w, height: h });
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| views::render(f, app)).unwrap();
    term.backend().to_string()
}

fn awkward_file(dir: &Path) -> std::path::PathBuf {
    let long = "7 × 8 = 56, ".repeat(4200);
    assert!(long.chars().count() >= 50_000);
    let rows = [
        json!({"stepscope": 1, "id": "empty-generation", "problem": "Cancelled before any token", "solution": ""}),
        json!({"stepscope": 1, "id": "long-step", "problem": "p", "steps": [long, "short"]}),
        json!({"stepscope": 1, "id": "数学-🎉", "problem": "小明有３个苹果🍎，又买了５个。一共有几个？",
               "steps": ["３＋５＝８ 👍👨‍👩‍👧", "答案是 \\boxed{8} ✅", "e\u{301}\u{200d}\t tab"], "label": 1}),
    ];
    let path = dir.join("awkward.jsonl");
    std::fs::write(&path, rows.iter().map(|r| r.to_string() + "\n").collect::<String>()).unwrap();
    path
}

#[test]
fn awkward_traces_render_at_any_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = awkward_file(dir.path());
    let input = Opener { store_dir: Some(dir.path().to_path_buf()), ..Opener::default() };
    let mut app =
        load_app(&[path], &input, Settings::new("ana".into(), Theme::new(ThemeName::Light, true), Keymap::default()));
    assert_eq!(app.library.entries.len(), 3, "{:?}", app.library.problems);
    let sizes = [(120, 36), (80, 24), (20, 5), (1, 1), (200, 60), (20, 5), (80, 24)];
    for entry in 0..3 {
        app.browse.selected = entry;
        for focus_switch in [false, true] {
            if focus_switch {
                update(&mut app, Action::SwitchFocus);
            }
            for (w, h) in sizes {
                draw(&mut app, w, h);
                for a in [Action::Down, Action::Bottom, Action::PageUp, Action::Top] {
                    update(&mut app, a);
                    draw(&mut app, w, h);
                }
            }
        }
    }
    // Labelling a zero-step trace: "no error" works, "first error" is refused.
    app.browse.selected = 0;
    update(&mut app, Action::MarkFirstError);
    assert_eq!(app.status.message.as_deref(), Some("this trace has no steps to mark"));
    update(&mut app, Action::MarkNoError);
    assert!(app.status.message.as_deref().unwrap().starts_with("saved"));
    let screen = draw(&mut app, 120, 36);
    assert!(screen.contains("This trace has no steps."), "{screen}");
}

#[test]
fn search_filter_and_mouse() {
    let dir = tempfile::tempdir().unwrap();
    let path = awkward_file(dir.path());
    let input = Opener { store_dir: Some(dir.path().to_path_buf()), ..Opener::default() };
    let mut app =
        load_app(&[path], &input, Settings::new("ana".into(), Theme::new(ThemeName::Dark, false), Keymap::default()));
    draw(&mut app, 120, 36);
    update(&mut app, Action::StartSearch);
    for c in "苹果".chars() {
        update(&mut app, Action::TextInput(c));
    }
    assert_eq!(app.browse.visible.len(), 1);
    update(&mut app, Action::TextCommit);
    update(&mut app, Action::Cancel);
    update(&mut app, Action::StartSearch);
    update(&mut app, Action::Cancel);
    assert_eq!(app.browse.visible.len(), 3);
    update(&mut app, Action::CycleFilter); // unlabelled
    assert_eq!(app.browse.visible.len(), 3);
    app.browse.selected = 2;
    update(&mut app, Action::MarkNoError);
    assert_eq!(app.browse.visible.len(), 2, "labelled trace leaves the unlabelled filter");
    update(&mut app, Action::CycleFilter); // labelled
    assert_eq!(app.browse.visible.len(), 1);
    update(&mut app, Action::CycleFilter); // disagreement: mine -1 vs dataset 1
    assert_eq!(app.browse.visible.len(), 1);
    update(&mut app, Action::CycleFilter); // annotators disagree: one annotator only
    assert_eq!(app.browse.visible.len(), 0);
    update(&mut app, Action::CycleFilter); // verifier disagrees: nothing scored yet
    assert_eq!(app.browse.visible.len(), 0);
    for _ in 0..2 {
        update(&mut app, Action::CycleFilter);
    }
    assert_eq!(app.browse.visible.len(), 3, "back to all");
    // Click the second row of the list, then a step line.
    draw(&mut app, 120, 36);
    update(&mut app, Action::Click { column: 5, row: 2 });
    assert_eq!(app.browse.selected, 1);
    draw(&mut app, 120, 36);
    let (row, step) = *app.step_rows().last().unwrap();
    update(&mut app, Action::Click { column: 60, row });
    assert_eq!(app.browse.step, step);
    update(&mut app, Action::Scroll { column: 5, row: 3, lines: 3 });
    assert_eq!(app.browse.selected, 2);
}

/// A problem of 50,000 nested `\sqrt{` (the TUI overflowed its stack on it; 20,000 took seconds
/// a frame): drawn at once, with the text as it is, in the problem and in a step.
#[test]
fn deeply_nested_latex_draws() {
    let dir = tempfile::tempdir().unwrap();
    let deep = format!("{}x{}", "\\sqrt{".repeat(50_000), "}".repeat(50_000));
    let row = json!({"stepscope": 1, "id": "deep", "problem": deep, "steps": [deep.clone(), "ok"]});
    let path = dir.path().join("deep.jsonl");
    std::fs::write(&path, format!("{row}\n")).unwrap();
    let input = Opener { store_dir: Some(dir.path().to_path_buf()), ..Opener::default() };
    let mut app =
        load_app(&[path], &input, Settings::new("ana".into(), Theme::new(ThemeName::Dark, false), Keymap::default()));
    let screen = draw(&mut app, 120, 36);
    assert!(screen.contains("\\sqrt{\\sqrt{"), "{screen}");
    update(&mut app, Action::Open);
    update(&mut app, Action::Bottom);
    draw(&mut app, 80, 24);
}
