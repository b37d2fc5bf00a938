//! End-to-end: the real binary in tmux, driven by keys, checked through the label store.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{run, shared};
use serde_json::Value;

/// A tmux server of our own (its own socket), so tests never touch a user's sessions.
struct Tmux {
    socket: String,
    /// An empty config file, so a user's own config never changes what the tests see.
    config: tempfile::NamedTempFile,
}

impl Tmux {
    /// `None` (with a visible skip) when tmux is missing; `STEPSCOPE_REQUIRE_SHARED=1` (CI)
    /// requires it.
    fn new(name: &str) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            if common::required() {
                panic!("tmux is required for the end-to-end tests (STEPSCOPE_REQUIRE_SHARED=1)");
            }
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIP: tmux not installed; TUI end-to-end test {name} not run");
            return None;
        }
        let config = tempfile::NamedTempFile::new().unwrap();
        Some(Tmux { socket: format!("stepscope-test-{}-{name}", std::process::id()), config })
    }

    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux").arg("-L").arg(&self.socket).args(args).env("TERM", "xterm-256color").output().unwrap()
    }

    /// Starts the app in a detached 120×36 window.
    fn start(&self, args: &[&str]) {
        let mut line = format!("exec {}", env!("CARGO_BIN_EXE_stepscope"));
        for a in args {
            line.push_str(&format!(" '{a}'"));
        }
        let out = self.cmd(&[
            "new-session",
            "-d",
            "-s",
            "app",
            "-x",
            "120",
            "-y",
            "36",
            "-e",
            &format!("STEPSCOPE_CONFIG={}", self.config.path().display()),
            &line,
        ]);
        assert!(out.status.success(), "tmux: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "app"]).stdout).into_owned()
    }

    fn wait_for(&self, text: &str) -> String {
        // Generous: the first run of the demo may fetch the model.
        self.wait_for_within(text, Duration::from_secs(180))
    }

    fn wait_for_within(&self, text: &str, limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(start.elapsed() < limit, "screen never showed {text:?}:\n{s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Keeps the pane (and its terminal state) after the app exits.
    fn remain_on_exit(&self) {
        self.cmd(&["set-option", "-t", "app", "remain-on-exit", "on"]);
    }

    /// tmux's view of the pane: (dead, alternate screen on, mouse reporting on).
    fn pane_state(&self) -> (bool, bool, bool) {
        let out = self.cmd(&[
            "display-message",
            "-p",
            "-t",
            "app",
            "#{pane_dead} #{alternate_on} #{mouse_any_flag}#{mouse_button_flag}#{mouse_standard_flag}",
        ]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let parts: Vec<&str> = text.split_whitespace().collect();
        (parts[0] == "1", parts[1] == "1", parts.get(2).is_some_and(|m| m.contains('1')))
    }

    fn wait_dead(&self) -> (bool, bool, bool) {
        let start = Instant::now();
        loop {
            let state = self.pane_state();
            if state.0 {
                return state;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "the app did not exit:\n{}", self.screen());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.cmd(&["send-keys", "-t", "app", k]);
            // One key at a time, as a person types.
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    fn pid(&self) -> i32 {
        let out = self.cmd(&["list-panes", "-t", "app", "-F", "#{pane_pid}"]);
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }

    fn wait_exit(&self) {
        let start = Instant::now();
        while self.cmd(&["has-session", "-t", "app"]).status.success() {
            assert!(start.elapsed() < Duration::from_secs(10), "the app did not exit:\n{}", self.screen());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// Human labels per trace id, read back through `export --labels human`.
fn human_labels(traces: &Path, store: &Path) -> Vec<(String, i64)> {
    let out = store.join("export.json");
    let (code, _, err) = run(&[
        "export",
        traces.to_str().unwrap(),
        "--to",
        "processbench",
        "--labels",
        "human",
        "--store",
        store.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    rows.iter().map(|r| (r["id"].as_str().unwrap().to_string(), r["label"].as_i64().unwrap())).collect()
}

fn processbench() -> Option<PathBuf> {
    shared("data/processbench/gsm8k.json")
}

#[test]
fn label_by_keys_then_stats() {
    let Some(pb) = processbench() else { return };
    let Some(tmux) = Tmux::new("keys") else { return };
    let store = tempfile::tempdir().unwrap();
    let s = store.path().to_str().unwrap();
    tmux.start(&["open", pb.to_str().unwrap(), "--store", s, "--annotator", "ana"]);
    tmux.wait_for("gsm8k-0");
    tmux.keys(&["j", "Enter", "j", "j", "e"]);
    tmux.wait_for("saved: gsm8k-1 first error at step 2");
    tmux.keys(&["q"]);
    tmux.wait_exit();
    let (code, out, _) = run(&["stats", "--json", pb.to_str().unwrap(), "--store", s]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["human_labels"]["first_error"], 1);
    assert_eq!(human_labels(&pb, store.path()), [("gsm8k-1".to_string(), 2)]);
}

#[test]
fn label_survives_sigkill_of_the_app() {
    let Some(pb) = processbench() else { return };
    let Some(tmux) = Tmux::new("kill") else { return };
    let store = tempfile::tempdir().unwrap();
    let s = store.path().to_str().unwrap();
    tmux.start(&["open", pb.to_str().unwrap(), "--store", s, "--annotator", "ana"]);
    tmux.wait_for("gsm8k-0");
    tmux.keys(&["j", "Enter", "j", "e"]);
    tmux.wait_for("me:1");
    let pid = tmux.pid();
    let killed = Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
    assert!(killed.success());
    tmux.wait_exit();
    assert_eq!(human_labels(&pb, store.path()), [("gsm8k-1".to_string(), 1)]);
}

#[test]
fn undo_works_across_a_restart() {
    let Some(pb) = processbench() else { return };
    let Some(tmux) = Tmux::new("undo") else { return };
    let store = tempfile::tempdir().unwrap();
    let s = store.path().to_str().unwrap();
    let args = ["open", pb.to_str().unwrap(), "--store", s, "--annotator", "ana"];
    // Label, undo right away: store and screen agree.
    tmux.start(&args);
    tmux.wait_for("gsm8k-0");
    tmux.keys(&["j", "Enter", "e"]);
    tmux.wait_for("me:0");
    // The category chooser takes every key: `#` closes it without a category.
    tmux.keys(&["#", "u"]);
    let screen = tmux.wait_for("undid the label change on gsm8k-1");
    assert!(screen.contains("labelled 0/400"), "{screen}");
    assert!(human_labels(&pb, store.path()).is_empty());
    // Label again and quit; after a restart `u` still undoes it.
    tmux.keys(&["e"]);
    tmux.wait_for("me:0");
    tmux.keys(&["q"]);
    tmux.wait_exit();
    assert_eq!(human_labels(&pb, store.path()), [("gsm8k-1".to_string(), 0)]);
    tmux.start(&args);
    tmux.wait_for("labelled 1/400");
    tmux.keys(&["u"]);
    let screen = tmux.wait_for("undid the label change on gsm8k-1");
    assert!(screen.contains("labelled 0/400"), "{screen}");
    assert!(human_labels(&pb, store.path()).is_empty());
    // And redo brings it back.
    tmux.keys(&["U"]);
    tmux.wait_for("labelled 1/400");
    tmux.keys(&["q"]);
    tmux.wait_exit();
    assert_eq!(human_labels(&pb, store.path()), [("gsm8k-1".to_string(), 0)]);
}

#[test]
fn sigterm_restores_and_exits() {
    let Some(tmux) = Tmux::new("term") else { return };
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/demo.jsonl");
    let store = tempfile::tempdir().unwrap();
    tmux.start(&["open", demo.to_str().unwrap(), "--store", store.path().to_str().unwrap()]);
    tmux.wait_for("bakery-muffins");
    let pid = tmux.pid();
    assert!(Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success());
    tmux.wait_exit();
}

#[test]
fn demo_loads_the_default_model_in_the_background() {
    // The model comes through our fetch code: offline this is a visible skip, not minutes of waiting.
    let Some(_) = common::fetched("smollm2") else { return };
    let Some(tmux) = Tmux::new("demo") else { return };
    let store = tempfile::tempdir().unwrap();
    tmux.start(&["demo", "--store", store.path().to_str().unwrap(), "--annotator", "ana"]);
    tmux.wait_for("bakery-muffins");
    // Usable while the model loads: move and label right away.
    tmux.keys(&["j", "c"]);
    tmux.wait_for("saved: books-weight has no error");
    let screen = tmux.wait_for("model smollm2 (llama, cpu) ready");
    assert!(screen.contains("labelled 1/8"), "{screen}");
    tmux.keys(&["q"]);
    tmux.wait_exit();
}

#[test]
fn score_key_runs_the_verifier_in_the_background_and_stores_it() {
    let Some(tmux) = Tmux::new("score") else { return };
    let store = tempfile::tempdir().unwrap();
    let s = store.path().to_str().unwrap();
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/demo.jsonl");
    tmux.start(&["open", demo.to_str().unwrap(), "--store", s, "--annotator", "ana"]);
    tmux.wait_for("bakery-muffins");
    tmux.keys(&["V", "V"]); // model work: the key twice
    tmux.wait_for("scoring done: 8/8 results stored");
    tmux.keys(&["j"]);
    tmux.wait_for("[◆arith 0.00]");
    tmux.keys(&["q"]);
    tmux.wait_exit();
    let journal = std::fs::read_dir(store.path()).unwrap().next().unwrap().unwrap().path();
    let text = std::fs::read_to_string(journal).unwrap();
    let verify: Vec<Value> =
        text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).filter(|v| v["kind"] == "verify").collect();
    assert_eq!(verify.len(), 8, "{text}");
    assert!(verify.iter().all(|v| v["spec"] == "arith"));
}

/// SIGINT and SIGQUIT end the app like SIGTERM: alternate screen left, mouse reporting off.
#[test]
fn sigint_and_sigquit_restore_the_terminal() {
    for sig in ["-INT", "-QUIT", "-TERM"] {
        let Some(tmux) = Tmux::new(&format!("sig{}", &sig[1..])) else { return };
        let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/demo.jsonl");
        let store = tempfile::tempdir().unwrap();
        tmux.start(&["open", demo.to_str().unwrap(), "--store", store.path().to_str().unwrap()]);
        tmux.remain_on_exit();
        tmux.wait_for("bakery-muffins");
        assert_eq!(tmux.pane_state(), (false, true, true), "the app runs in the alternate screen with the mouse on");
        let pid = tmux.pid();
        assert!(Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success());
        let (_, alternate, mouse) = tmux.wait_dead();
        assert!(!alternate && !mouse, "{sig}: terminal left with alternate screen {alternate}, mouse {mouse}");
    }
}

/// A large paste is read to its end at once, so the keys after it act right away (and a label
/// made after a paste is on disk before a kill).
#[test]
fn keys_after_a_large_paste_are_not_stranded() {
    let Some(pb) = processbench() else { return };
    let Some(tmux) = Tmux::new("paste") else { return };
    let store = tempfile::tempdir().unwrap();
    let s = store.path().to_str().unwrap();
    tmux.start(&["open", pb.to_str().unwrap(), "--store", s, "--annotator", "ana"]);
    tmux.wait_for("gsm8k-0");
    tmux.keys(&["j", "Enter", "/"]);
    let paste = "z".repeat(3000);
    tmux.cmd(&["send-keys", "-t", "app", "-l", &paste]);
    // Escape alone first: an Escape and a key read together are Alt+key.
    tmux.keys(&["Escape"]);
    let start = Instant::now();
    while tmux.screen().contains(" SEARCH ") {
        assert!(start.elapsed() < Duration::from_secs(10), "Escape did not leave the search:\n{}", tmux.screen());
        std::thread::sleep(Duration::from_millis(50));
    }
    tmux.keys(&["e"]);
    tmux.wait_for_within("me:0", Duration::from_secs(10));
    let pid = tmux.pid();
    assert!(Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap().success());
    tmux.wait_exit();
    assert_eq!(human_labels(&pb, store.path()), [("gsm8k-1".to_string(), 0)]);
}

/// Bracketed paste goes into the search box as text.
#[test]
fn paste_into_search() {
    let Some(pb) = processbench() else { return };
    let Some(tmux) = Tmux::new("bracketed") else { return };
    let store = tempfile::tempdir().unwrap();
    tmux.start(&["open", pb.to_str().unwrap(), "--store", store.path().to_str().unwrap()]);
    tmux.wait_for("gsm8k-0");
    tmux.keys(&["/"]);
    tmux.cmd(&["set-buffer", "-b", "p", "gsm8k-17"]);
    tmux.cmd(&["paste-buffer", "-p", "-b", "p", "-t", "app"]);
    let screen = tmux.wait_for_within("/gsm8k-17", Duration::from_secs(10));
    assert!(screen.contains("gsm8k-17") && !screen.contains("gsm8k-0 "), "{screen}");
}

/// A label written by another process appears without a restart.
#[test]
fn labels_from_another_process_appear() {
    let Some(pb) = processbench() else { return };
    let Some(tmux) = Tmux::new("reload") else { return };
    let store = tempfile::tempdir().unwrap();
    let s = store.path().to_str().unwrap();
    tmux.start(&["open", pb.to_str().unwrap(), "--store", s, "--annotator", "ana"]);
    tmux.wait_for("labelled 0/400");
    let (code, _, err) = run(&[
        "label",
        pb.to_str().unwrap(),
        "--trace",
        "gsm8k-2",
        "--first-error",
        "3",
        "--annotator",
        "ana",
        "--store",
        s,
    ]);
    assert_eq!(code, 0, "{err}");
    let screen = tmux.wait_for_within("labelled 1/400", Duration::from_secs(10));
    assert!(screen.contains("me:3"), "{screen}");
    // And the app's own next label lands beside it.
    tmux.keys(&["Enter", "e"]);
    tmux.wait_for("labelled 2/400");
    tmux.keys(&["q"]);
    tmux.wait_exit();
    assert_eq!(human_labels(&pb, store.path()), [("gsm8k-0".to_string(), 0), ("gsm8k-2".to_string(), 3)]);
}

/// `v` scores the open trace and `V` every shown trace with a real model verifier on the model
/// thread; Esc cancels the run part-way and what was stored stays stored.
#[test]
fn score_with_a_model_and_cancel() {
    // The model comes through our fetch code: offline this is a visible skip, not minutes of waiting.
    let Some(_) = common::fetched("smollm2") else { return };
    let Some(tmux) = Tmux::new("cancel") else { return };
    let store = tempfile::tempdir().unwrap();
    let s = store.path().to_str().unwrap();
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/demo.jsonl");
    tmux.start(&["open", demo.to_str().unwrap(), "--store", s, "--annotator", "ana"]);
    tmux.wait_for("bakery-muffins");
    // Menu: arith off, judge:smollm2 on.
    tmux.keys(&["m", "Space", "Down", "Space", "m"]);
    tmux.wait_for("verifiers: judge:smollm2");
    // `v` on the last trace, so the `V` below (which reuses stored results) starts with new work.
    tmux.keys(&["G", "v"]);
    tmux.wait_for("scoring done: 1/1 results stored");
    tmux.keys(&["V", "V"]); // model work: the key twice
                            // The status bar counts results as they are stored; cancel after the first.
    tmux.wait_for("scoring 1/8 (Esc cancels)");
    tmux.keys(&["Escape"]);
    let screen = tmux.wait_for("scoring cancelled: ");
    tmux.keys(&["q"]);
    tmux.wait_exit();
    let line = screen.lines().find(|l| l.contains("scoring cancelled: ")).unwrap();
    let done: usize = line.split("scoring cancelled: ").nth(1).unwrap().split('/').next().unwrap().parse().unwrap();
    assert!((1..8).contains(&done), "{line}");
    let journal = std::fs::read_dir(store.path()).unwrap().next().unwrap().unwrap().path();
    let text = std::fs::read_to_string(journal).unwrap();
    let judged = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["kind"] == "verify" && v["spec"] == "judge:smollm2")
        .count();
    assert_eq!(judged, 1 + done, "one from v, {done} from the cancelled V:\n{text}");
}

/// Journal lines of the one journal in a `--store` folder.
fn journal_lines(store: &Path) -> Vec<String> {
    let journal = std::fs::read_dir(store).unwrap().next().unwrap().unwrap().path();
    std::fs::read_to_string(journal).unwrap().lines().map(str::to_string).collect()
}

/// A trace file of our own: a two-step solution with its reference answer.
fn two_step_trace(dir: &Path) -> PathBuf {
    let path = dir.join("two.jsonl");
    let row = serde_json::json!({"stepscope": 1, "id": "add", "problem": "What is 2 + 3?",
        "steps": ["2 + 3 = 5.", "The answer is \\boxed{5}."], "reference_answer": "5", "final_answer": "5"});
    std::fs::write(&path, format!("{row}\n")).unwrap();
    path
}

/// Issue 10's spec bug: `rollout:smollm2@2` stored by `stepscope score` is offered again by the
/// TUI menu after a restart, and choosing it takes the stored result: no model is loaded.
#[test]
fn stored_rollout_spec_is_offered_and_reused_without_a_model() {
    // The model comes through our fetch code: offline this is a visible skip, not minutes of waiting.
    let Some(_) = common::fetched("smollm2") else { return };
    let Some(tmux) = Tmux::new("rollout-spec") else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    let file = two_step_trace(dir.path());
    let (f, s) = (file.to_str().unwrap(), store.path().to_str().unwrap());
    let (code, out, err) = run(&["score", f, "--verifier", "rollout:smollm2@2", "--max-tokens", "4", "--store", s]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rollout:smollm2@2 · 1 traces: 1 scored"), "{out}");
    let before = journal_lines(store.path());
    tmux.start(&["open", f, "--store", s, "--annotator", "ana"]);
    tmux.wait_for("add");
    // The menu: the four defaults (arith on), then the stored spec.
    tmux.keys(&["m"]);
    tmux.wait_for_within("rollout:smollm2@2", Duration::from_secs(10));
    tmux.keys(&["Space", "Down", "Down", "Down", "Down", "Space", "m"]);
    tmux.wait_for_within("verifiers: rollout:smollm2@2 ", Duration::from_secs(10));
    tmux.keys(&["v"]);
    tmux.wait_for("scoring done: 1/1 results stored (0 new, 1 reused; 0 models loaded)");
    tmux.keys(&["q"]);
    tmux.wait_exit();
    assert_eq!(journal_lines(store.path()), before, "nothing new is stored");
}

/// `V` on traces `stepscope score` already scored stores nothing and loads no model: the TUI
/// goes through the same score-or-reuse service as the command.
#[test]
fn score_all_reuses_what_the_score_command_stored() {
    // The model comes through our fetch code: offline this is a visible skip, not minutes of waiting.
    let Some(_) = common::fetched("smollm2") else { return };
    let Some(tmux) = Tmux::new("reuse") else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/demo.jsonl");
    let text = std::fs::read_to_string(&demo).unwrap();
    let file = dir.path().join("three.jsonl");
    std::fs::write(&file, text.lines().take(3).map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let (f, s) = (file.to_str().unwrap(), store.path().to_str().unwrap());
    let (code, out, err) = run(&["score", f, "--verifier", "judge:smollm2", "--verifier", "arith", "--store", s]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("judge:smollm2 · 3 traces: 3 scored"), "{out}");
    let before = journal_lines(store.path());
    assert_eq!(before.len(), 6, "3 judge and 3 arith results");
    tmux.start(&["open", f, "--store", s, "--annotator", "ana"]);
    tmux.wait_for("bakery-muffins");
    // Menu: arith stays on, judge:smollm2 on too.
    tmux.keys(&["m", "Down", "Space", "m"]);
    tmux.wait_for_within("verifiers: arith, judge:smollm2", Duration::from_secs(10));
    tmux.keys(&["V", "V"]); // model work: the key twice
    tmux.wait_for("scoring done: 6/6 results stored (0 new, 6 reused; 0 models loaded)");
    tmux.keys(&["q"]);
    tmux.wait_exit();
    assert_eq!(journal_lines(store.path()), before, "nothing new is stored");
}

/// A three-step trace of our own with a wrong step 1 (dataset label) and the reference answer.
fn eggs_trace(dir: &Path) -> PathBuf {
    let path = dir.join("eggs.jsonl");
    let row = serde_json::json!({"stepscope": 1, "id": "eggs",
        "problem": "A box holds 6 eggs. Tom buys 4 boxes and breaks 3 eggs. How many whole eggs does he have?",
        "steps": ["Each box holds 6 eggs.", "4 boxes hold 4 × 6 = 26 eggs.", "26 - 3 = 23, so the answer is \\boxed{23}."],
        "label": 1, "reference_answer": "21", "final_answer": "23"});
    std::fs::write(&path, format!("{row}\n")).unwrap();
    path
}

/// A config that makes smollm2 the generator (small and fast, for CI).
fn generator_config(tmux: &Tmux, max_tokens: usize) {
    let text = format!("generator = \"smollm2\"\nrefine_max_tokens = {max_tokens}\nfork_samples = 2\n");
    std::fs::write(tmux.config.path(), text).unwrap();
}

/// The traces of the one refinements file in a `--store` folder.
fn refinements(store: &Path) -> Vec<Value> {
    let file = std::fs::read_dir(store)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".refined.jsonl"))
        .expect("a refinements file");
    std::fs::read_to_string(file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

impl Tmux {
    /// Waits until a screen line passes `test`.
    fn wait_for_line(&self, what: &str, test: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.lines().any(&test) {
                return s;
            }
            assert!(start.elapsed() < Duration::from_secs(240), "screen never showed {what}:\n{s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Issue 11: `r` streams a local refinement into the compare view, Esc cancels it (the partial
/// candidate is kept, marked), `r` again completes, `a` accepts: the child is in the refinements
/// file with its provenance and listed under its draft after a restart; the source is unchanged.
#[test]
fn refine_streams_cancels_completes_and_accepts() {
    // The model comes through our fetch code: offline this is a visible skip, not minutes of waiting.
    let Some(_) = common::fetched("smollm2") else { return };
    let Some(tmux) = Tmux::new("refine") else { return };
    generator_config(&tmux, 64);
    let eggs = Eggs::open(&tmux);
    tmux.keys(&["r", "r"]); // model work: the key twice
    tmux.wait_for("LOCAL from step 1 (generating)");
    // Tokens arrive while it is still generating.
    let screen = tmux.wait_for_line("a token count above 0", |l| {
        l.split("generating… ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| n > 0)
    });
    assert!(screen.contains(" 0 = Each box holds 6 eggs."), "the kept step is shown:\n{screen}");
    tmux.keys(&["Escape"]);
    let screen = tmux.wait_for("local cancelled: the partial candidate is kept");
    assert!(screen.contains("CANCELLED"), "{screen}");
    tmux.keys(&["r", "r"]); // model work: the key twice
    let screen = tmux.wait_for_line("local done", |l| l.contains("local done: "));
    assert!(screen.contains("winner"), "{screen}");
    assert!(screen.contains("DRAFT") && screen.contains("LOCAL from step 1"), "{screen}");
    tmux.keys(&["a"]);
    tmux.wait_for("saved: eggs~local-s43");
    tmux.keys(&["q"]);
    tmux.wait_exit();

    let rows = refinements(eggs.store.path());
    assert_eq!(rows.len(), 1, "only the accepted candidate is saved: {rows:?}");
    let r = &rows[0]["refinement"];
    assert_eq!(
        (r["parent"].as_str(), r["strategy"].as_str(), r["from_step"].as_u64()),
        (Some("eggs"), Some("local"), Some(1))
    );
    assert_eq!(
        (r["generator"].as_str(), r["seed"].as_u64(), r["cancelled"].as_bool()),
        (Some("smollm2"), Some(43), Some(false))
    );
    assert!(r["prompt"].as_str().unwrap().starts_with("local@"), "{r}");
    assert_eq!(rows[0]["steps"][0]["text"], "Each box holds 6 eggs.", "the kept step is verbatim");
    // Issue 28: the question is asked as it was; the wrong step is nowhere the model could copy
    // it from, and the rewrite starts at the flagged step (right after the kept one).
    let chat = rows[0]["chat"].to_string();
    assert!(chat.contains("Tom buys 4 boxes") && !chat.contains("4 × 6 = 26") && !chat.contains("[BAD]"), "{chat}");
    let rewrite = &rows[0]["steps"][1];
    assert!(rewrite["start"].as_u64().unwrap() >= "Each box holds 6 eggs.\n\n".len() as u64, "{rewrite}");
    assert!(!rows[0]["solution"].as_str().unwrap().contains("[BAD]"));
    assert_eq!(std::fs::read(&eggs.file).unwrap(), eggs.before, "the source file is never modified");

    // After a restart the child is listed under its draft.
    let tmux = Tmux::new("refine-restart").unwrap();
    eggs.start(&tmux);
    let screen = tmux.wait_for("↳ ~local-s43");
    let lines: Vec<&str> = screen.lines().collect();
    let draft = lines.iter().position(|l| l.contains("▶✗ eggs ")).expect("draft row");
    assert!(lines[draft + 1].contains("↳ ~local-s43"), "child right under its draft:\n{screen}");
    tmux.keys(&["q"]);
    tmux.wait_exit();
}

/// The eggs trace opened in the TUI with a fresh store; the source's bytes as they were.
struct Eggs {
    _dir: tempfile::TempDir,
    store: tempfile::TempDir,
    file: PathBuf,
    before: Vec<u8>,
}

impl Eggs {
    /// Writes the trace and opens it, waiting for its row.
    fn open(tmux: &Tmux) -> Eggs {
        let dir = tempfile::tempdir().unwrap();
        let store = tempfile::tempdir().unwrap();
        let file = eggs_trace(dir.path());
        let before = std::fs::read(&file).unwrap();
        let eggs = Eggs { _dir: dir, store, file, before };
        eggs.start(tmux);
        tmux.wait_for("eggs");
        eggs
    }

    /// `stepscope open` on the trace and its store (again, after a restart).
    fn start(&self, tmux: &Tmux) {
        let (file, store) = (self.file.to_str().unwrap(), self.store.path().to_str().unwrap());
        tmux.start(&["open", file, "--store", store, "--annotator", "ana"]);
    }
}

/// Lanes of a race or fork on the screen whose head starts with `head` and that are still
/// writing with at least one token (`GLOBAL from step 1 · 12 tokens · writing`).
fn lanes_writing(screen: &str, head: &str) -> usize {
    screen
        .lines()
        .filter(|l| {
            let lane = l.split(head).nth(1).and_then(|r| r.split(" tokens · writing").next());
            let count = lane.and_then(|r| r.rsplit(' ').next()?.parse::<usize>().ok());
            count.is_some_and(|n| n > 0) && l.contains(" tokens · writing")
        })
        .count()
}

impl Tmux {
    /// Polls the screen until `test` passes; fails if `ended` shows first (the moment was missed).
    fn wait_while_running(&self, what: &str, ended: &str, test: impl Fn(&str) -> bool) {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if test(&s) {
                return;
            }
            assert!(!s.contains(ended), "it ended before {what} was seen:\n{s}");
            assert!(start.elapsed() < Duration::from_secs(240), "never saw {what}:\n{s}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Issue 31, 4: `X` races local, global and intervene: the compare screen shows the three
/// writing at once (each lane's token count above 0 on one screen, before any is done), each
/// ends with its answer mark, `]` chooses the global candidate and `a` saves that one only.
#[test]
fn a_race_streams_three_candidates_at_once_and_a_accepts_the_chosen_one() {
    let Some(_) = common::fetched("smollm2") else { return };
    let Some(tmux) = Tmux::new("race") else { return };
    generator_config(&tmux, 48);
    let eggs = Eggs::open(&tmux);
    tmux.keys(&["X", "X"]); // model work: the key twice
    tmux.wait_for("RACE (generating)");
    let heads = ["LOCAL from step 1 · ", "GLOBAL", "INTERVENE from step 1 · "];
    tmux.wait_while_running("three lanes writing at once", "race done", |s| {
        heads.iter().all(|h| lanes_writing(s, h) > 0)
    });
    let screen = tmux.wait_for_line("race done", |l| l.contains("race done: "));
    let race = screen.lines().find(|l| l.contains("race ") && l.contains("intervene")).expect("the race line");
    for strategy in ["local", "global", "intervene"] {
        let part = race.split(strategy).nth(1).unwrap_or_default();
        assert!(part.contains('✓') || part.contains('✗'), "{strategy} has no answer mark: {race}");
    }
    assert!(!race.contains("cancelled"), "{race}");
    tmux.keys(&["]"]);
    tmux.wait_for("GLOBAL");
    tmux.keys(&["a"]);
    tmux.wait_for("saved: eggs~global-s42");
    tmux.keys(&["q"]);
    tmux.wait_exit();
    let rows = refinements(eggs.store.path());
    assert_eq!(rows.len(), 1, "only the accepted candidate is saved: {rows:?}");
    assert_eq!(rows[0]["refinement"]["strategy"], "global");
    assert_eq!(std::fs::read(&eggs.file).unwrap(), eggs.before, "the source file is never modified");
}

/// Issue 31, 2: `F`'s samples decode together: both lanes write at once, and the fork's count of
/// continuations that reach the answer follows.
#[test]
fn fork_samples_write_at_once() {
    let Some(_) = common::fetched("smollm2") else { return };
    let Some(tmux) = Tmux::new("fork") else { return };
    generator_config(&tmux, 24);
    let _eggs = Eggs::open(&tmux);
    tmux.keys(&["F", "F"]); // model work: the key twice
    tmux.wait_for("FORK (generating)");
    tmux.wait_while_running("both samples writing at once", "continuations reach", |s| {
        lanes_writing(s, "FORK from step 1 · ") == 2
    });
    tmux.wait_for_line("the fork's count", |l| l.contains("fork before step 1: ") && l.contains(" of 2 continuations"));
    tmux.keys(&["q"]);
    tmux.wait_exit();
}

/// Issue 29: on the compare screen `v` runs the verifier chosen in the menu (a model judge)
/// over the draft and the candidate, and the winner is picked by it, not by the arithmetic check.
#[test]
fn the_compare_screen_reranks_with_a_judge_chosen_in_the_menu() {
    let Some(_) = common::fetched("smollm2") else { return };
    let Some(tmux) = Tmux::new("rerank") else { return };
    generator_config(&tmux, 24);
    let dir = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    let file = eggs_trace(dir.path());
    tmux.start(&["open", file.to_str().unwrap(), "--store", store.path().to_str().unwrap(), "--annotator", "ana"]);
    tmux.wait_for("eggs");
    tmux.keys(&["r", "r"]); // model work: the key twice
    let screen = tmux.wait_for_line("local done", |l| l.contains("local done: "));
    let winner = |by: &str| {
        let by = format!(": {by}: ");
        move |l: &str| l.contains("winner    ") && l.contains(&by)
    };
    assert!(screen.lines().any(winner("arith")), "before: the arithmetic check ranks:\n{screen}");
    // Menu: arith off, judge:smollm2 on; then `v` on the compare screen.
    tmux.keys(&["m", "Space", "Down", "Space", "m"]);
    tmux.wait_for("verifiers: judge:smollm2");
    tmux.keys(&["v"]);
    let screen = tmux.wait_for("scoring done: ");
    assert!(screen.contains("COMPARE"), "still on the compare screen:\n{screen}");
    let screen = tmux.wait_for_line("the judge's winner", winner("judge:smollm2"));
    assert!(screen.contains("of step scores"), "{screen}");
    tmux.keys(&["q"]);
    tmux.wait_exit();
}

/// Issue 11: `g` adds a generated solution (with token log-probs) under the problem's trace;
/// `E` rewrites a step by hand and the generator continues after it (saved as a human edit); `A`
/// solves a question typed in and saves it to `asked.jsonl`.
#[test]
fn generate_and_edit_a_step() {
    // The model comes through our fetch code: offline this is a visible skip, not minutes of waiting.
    let Some(_) = common::fetched("smollm2") else { return };
    let Some(tmux) = Tmux::new("generate") else { return };
    generator_config(&tmux, 48);
    let dir = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    let file = eggs_trace(dir.path());
    tmux.start(&["open", file.to_str().unwrap(), "--store", store.path().to_str().unwrap(), "--annotator", "ana"]);
    tmux.wait_for("eggs");
    tmux.keys(&["S", "S"]); // model work: the key twice
    tmux.wait_for_line("generate done, saved", |l| {
        l.contains("generate done: ") && l.contains("saved under its draft")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("↳ ~generate-s42");
    let rows = refinements(store.path());
    let generated = rows.iter().find(|r| r["refinement"]["strategy"] == "generate").expect("generated trace");
    let tokens = generated["tokens"].as_array().expect("token log-probs");
    assert!(
        !tokens.is_empty() && tokens.iter().all(|t| t["logprob"].as_f64().is_some_and(|lp| lp <= 0.0)),
        "{generated}"
    );

    // Step 1 of the draft, rewritten by hand.
    tmux.keys(&["Home", "Enter", "Down", "E"]);
    tmux.wait_for("rewrite step 1");
    for _ in 0..40 {
        tmux.cmd(&["send-keys", "-t", "app", "BSpace"]);
    }
    tmux.cmd(&["send-keys", "-t", "app", "-l", "4 boxes hold 24 eggs."]);
    tmux.wait_for("4 boxes hold 24 eggs.▌");
    tmux.keys(&["Enter"]);
    tmux.wait_for_line("edit done", |l| l.contains("edit done: "));
    tmux.keys(&["a"]);
    tmux.wait_for("saved: eggs~edit-s42");
    tmux.keys(&["q"]);
    tmux.wait_exit();
    let rows = refinements(store.path());
    let edit = rows.iter().find(|r| r["refinement"]["strategy"] == "edit").expect("edited trace");
    assert_eq!(edit["refinement"]["edited_step"], "4 boxes hold 24 eggs.");
    assert_eq!(edit["steps"][0]["text"], "Each box holds 6 eggs.");
    assert_eq!(edit["steps"][1]["text"], "4 boxes hold 24 eggs.");
    assert!(edit["steps"].as_array().unwrap().len() > 2, "the model continued: {edit}");

    // A question of the user's own: solved, saved to asked.jsonl in the store folder, listed.
    tmux.start(&["open", file.to_str().unwrap(), "--store", store.path().to_str().unwrap(), "--annotator", "ana"]);
    tmux.wait_for("eggs");
    tmux.keys(&["A"]);
    tmux.wait_for("your question");
    tmux.cmd(&["send-keys", "-t", "app", "-l", "What is 7 + 5?"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("QUESTION");
    tmux.wait_for_line("generate done, saved", |l| l.contains("generate done: ") && l.contains("saved"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("· asked-");
    tmux.keys(&["q"]);
    tmux.wait_exit();
    let asked = std::fs::read_to_string(store.path().join("asked.jsonl")).unwrap();
    let row: Value = serde_json::from_str(asked.lines().next().unwrap()).unwrap();
    assert_eq!(row["problem"], "What is 7 + 5?");
    assert!(row["tokens"].as_array().is_some_and(|t| !t.is_empty()), "{row}");
}

/// Blind labelling: before `e` the dataset label, another annotator's label, the verifier's
/// marks and the answer are hidden; after it they show with the agreement, the journal says
/// the label was blind, and the category and note keys store theirs.
#[test]
fn blind_session_hides_hints_until_labelled() {
    let Some(pb) = processbench() else { return };
    let Some(tmux) = Tmux::new("blind") else { return };
    let store = tempfile::tempdir().unwrap();
    let (p, s) = (pb.to_str().unwrap(), store.path().to_str().unwrap());
    // gsm8k-1: dataset first error at step 1; bo says step 2; arith is scored.
    let (code, _, err) =
        run(&["label", p, "--trace", "gsm8k-1", "--first-error", "2", "--annotator", "bo", "--store", s]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(&["score", p, "--verifier", "arith", "--store", s, "--limit", "3"]);
    assert_eq!(code, 0, "{err}");
    tmux.start(&["open", p, "--store", s, "--annotator", "ana", "--blind"]);
    tmux.wait_for("gsm8k-0");
    tmux.keys(&["j", "Enter"]);
    let before = tmux.wait_for("BLIND: hints hidden");
    assert!(before.contains("ds:? "), "{before}");
    for hint in ["ds:1", "(dataset)", "(bo)", "arith", "FIRST ERROR", "answer ✗", "answer ✓", "◆"] {
        assert!(!before.contains(hint), "{hint} visible before labelling:\n{before}");
    }
    tmux.keys(&["j", "e"]);
    let after = tmux.wait_for("saved blind: gsm8k-1 first error at step 1 · dataset 1 same");
    assert!(after.contains("ds:1") && after.contains("[arith") && after.contains("answer ✗"), "{after}");
    assert!(after.contains("category of the error in gsm8k-1"), "{after}");
    tmux.keys(&["1"]);
    tmux.wait_for("category calculation");
    tmux.keys(&["N"]);
    tmux.wait_for("note on my label of gsm8k-1");
    tmux.keys(&["unit mix-up", "Enter"]);
    tmux.wait_for("with a note");
    tmux.keys(&["+"]);
    tmux.wait_for("step 1 rated +1");
    tmux.keys(&["q"]);
    tmux.wait_exit();
    let lines = journal_lines(store.path());
    let mine: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["kind"] == "label" && v["annotator"] == "ana")
        .collect();
    assert_eq!(mine[0]["value"], 1);
    assert_eq!(mine[0]["blind"], true, "{lines:?}");
    let last = mine.last().unwrap();
    assert_eq!((last["category"].as_str(), last["note"].as_str()), (Some("calculation"), Some("unit mix-up")));
    assert!(lines.iter().any(|l| l.contains("\"kind\":\"rating\"") && l.contains("\"rating\":1")), "{lines:?}");
}

/// A model on a server that stops answering: the status bar names the backend, model and
/// latency; while the judge's request hangs the UI still moves; Esc cancels the request in
/// flight at once, and nothing from the judge is stored. The server is a fixture (a real one
/// cannot be made to hang on cue); tests/remote.rs drives the real llama-server.
#[test]
fn a_stalled_server_never_freezes_the_ui_and_esc_cancels_it() {
    use common::server::{fixture, reply_json};
    let Some(tmux) = Tmux::new("stalled") else { return };
    let url = fixture(|path, _body, stream| match path {
        "/v1/models" => reply_json(
            stream,
            200,
            r#"{"data":[{"id":"stall.gguf","owned_by":"llamacpp","meta":{"n_ctx_train":2048}}]}"#,
        ),
        "/apply-template" => reply_json(stream, 200, r#"{"prompt":"question"}"#),
        "/tokenize" => reply_json(stream, 200, r#"{"tokens":[1,2,3]}"#),
        "/detokenize" => reply_json(stream, 200, r#"{"content":"Yes"}"#),
        "/v1/completions" => std::thread::sleep(Duration::from_secs(600)),
        _ => reply_json(stream, 404, r#"{"error":{"message":"not here"}}"#),
    });
    let store = tempfile::tempdir().unwrap();
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/demo.jsonl");
    let (d, s) = (demo.to_str().unwrap(), store.path().to_str().unwrap());
    tmux.start(&["open", d, "--store", s, "--annotator", "ana", "--server", &url, "--timeout", "600"]);
    tmux.wait_for("model stall (server, llama.cpp http://127.0.0.1:");
    tmux.wait_for("1/1 servers up");
    tmux.wait_for("bakery-muffins");
    tmux.keys(&["v"]);
    tmux.wait_for_within("(Esc cancels)", Duration::from_secs(10));
    // The judge's request hangs; the list still answers keys.
    tmux.keys(&["j"]);
    tmux.wait_for_within("┌ books-weight", Duration::from_secs(5));
    // The server holds the request for 600 s (and --timeout is 600 s): "scoring cancelled"
    // within a minute can only come from Esc dropping the request. (A limit, not a speed claim.)
    tmux.keys(&["Escape"]);
    tmux.wait_for_within("scoring cancelled", Duration::from_secs(60));
    for entry in std::fs::read_dir(store.path()).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        assert!(!text.contains("judge:server"), "a judge result was stored: {text}");
    }
    tmux.keys(&["q"]);
}

/// Fourteen short sums of our own; `t01`, `t05`, … go wrong at step 1, `t03`, `t07`, … at step
/// 0, the even ones are right. Returns the file and each trace's first error.
fn sums(dir: &Path) -> (PathBuf, Vec<Option<usize>>) {
    let path = dir.join("sums.jsonl");
    let (mut text, mut errors) = (String::new(), Vec::new());
    for i in 0..14u64 {
        let (a, b) = (3 + i, 5 + 2 * i);
        let error = match i % 4 {
            1 => Some(1),
            3 => Some(0),
            _ => None,
        };
        let sum = if error == Some(0) { a + b + 1 } else { a + b };
        let double = if error == Some(1) { 2 * sum + 3 } else { 2 * sum };
        let row = serde_json::json!({"stepscope": 1, "id": format!("t{i:02}"),
            "problem": format!("Ann has {a} apples and gets {b} more. Then the pile doubles. How many apples?"),
            "steps": [format!("{a} + {b} = {sum}."), format!("2 * {sum} = {double}."), format!("The answer is {double}.")],
            "reference_answer": (2 * (a + b)).to_string(), "final_answer": double.to_string()});
        text.push_str(&format!("{row}\n"));
        errors.push(error);
    }
    std::fs::write(&path, text).unwrap();
    (path, errors)
}

/// Issue 30: label 12 traces, `T` trains a probe on the model thread, the menu offers it with
/// its cross-validated F1, `v` scores with it; after a restart the head is offered again and
/// `v` reuses what it stored.
#[test]
fn the_train_key_makes_a_probe_that_scores_and_survives_a_restart() {
    let Some(_) = common::fetched("smollm2") else { return };
    let Some(tmux) = Tmux::new("train") else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    let (file, errors) = sums(dir.path());
    let (f, s) = (file.to_str().unwrap(), store.path().to_str().unwrap());
    tmux.start(&["open", f, "--store", s, "--annotator", "ana"]);
    tmux.wait_for("t00");
    tmux.keys(&["T", "T"]); // model work: the key twice
    tmux.wait_for("a probe needs at least 6 labelled traces (0 so far)");
    tmux.keys(&["Enter"]);
    for (i, error) in errors.iter().take(12).enumerate() {
        match error {
            Some(k) => {
                tmux.keys(&vec!["j"; *k]);
                tmux.keys(&["e"]);
                tmux.wait_for(&format!("saved: t{i:02} first error at step {k}"));
                tmux.wait_for(&format!("category of the error in t{i:02}"));
                tmux.keys(&["1"]);
                tmux.wait_for("category calculation");
            }
            None => {
                tmux.keys(&["c"]);
                tmux.wait_for(&format!("saved: t{i:02}"));
            }
        }
        tmux.keys(&["n"]);
    }
    tmux.keys(&["T", "T"]); // model work: the key twice
    tmux.wait_for("probe trained: CV F1 ");
    tmux.keys(&["m"]);
    let menu = tmux.wait_for(".probe-smollm2.json  CV F1 ");
    assert!(menu.contains("12 traces"), "{menu}");
    tmux.keys(&["m", "Tab", "Home", "v"]);
    tmux.wait_for("scoring done: 2/2 results stored");
    tmux.keys(&["q"]);
    tmux.wait_exit();
    let heads: Vec<PathBuf> = std::fs::read_dir(store.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".probe-smollm2.json"))
        .collect();
    assert_eq!(heads.len(), 1, "one head beside the journal");
    let head: Value = serde_json::from_str(&std::fs::read_to_string(&heads[0]).unwrap()).unwrap();
    assert_eq!(head["problems"].as_array().unwrap().len(), 12, "trained on the 12 labels");
    assert_eq!(head["model"], "smollm2");

    tmux.start(&["open", f, "--store", s, "--annotator", "ana"]);
    tmux.wait_for("t00");
    tmux.keys(&["m"]);
    tmux.wait_for(".probe-smollm2.json  CV F1 ");
    // The four defaults (arith on), then the probe.
    tmux.keys(&["Down", "Down", "Down", "Down", "Space", "m", "v"]);
    tmux.wait_for("scoring done: 2/2 results stored (0 new, 2 reused; 0 models loaded)");
    // The queue by the probe's uncertainty: the two traces I have not labelled come first.
    tmux.keys(&["V", "V"]); // model work: the key twice
    tmux.wait_for("scoring done: 28/28 results stored");
    tmux.keys(&["O"]);
    let screen = tmux.wait_for("least sure first errors first (14/14 scored by it)");
    // Rows of the list pane (its left 48 columns, under its title).
    let row = |id: &str| {
        let in_list = |l: &str| l.chars().take(48).collect::<String>().contains(id);
        screen.lines().skip(1).position(in_list).unwrap_or_else(|| panic!("{id}:\n{screen}"))
    };
    assert!(row("t12") < row("t00") && row("t13") < row("t00"), "{screen}");
    tmux.keys(&["q"]);
    tmux.wait_exit();
}

/// Issue 33: an annotator labels 10 traces with the new keys (counts, `3e`-style marks, `g g`,
/// the category chooser, advance after a label), keys typed on the report change nothing, and
/// a Shift slip starts no model work.
#[test]
fn an_annotator_labels_ten_traces_with_counts_and_nothing_changes_unseen() {
    let Some(tmux) = Tmux::new("annotator") else { return };
    std::fs::write(tmux.config.path(), "advance_after_label = true\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    let (file, errors) = sums(dir.path());
    let (f, s) = (file.to_str().unwrap(), store.path().to_str().unwrap());
    tmux.start(&["open", f, "--store", s, "--annotator", "ana"]);
    tmux.wait_for("t00");
    tmux.keys(&["Enter"]);
    for (i, error) in errors.iter().take(10).enumerate() {
        match error {
            Some(k) => {
                // A count marks that step (the cursor is on step 0 after each advance).
                let count = k.to_string();
                let keys: Vec<&str> = if *k == 0 { vec!["e"] } else { vec![count.as_str(), "e"] };
                tmux.keys(&keys);
                tmux.wait_for(&format!("saved: t{i:02} first error at step {k}"));
                tmux.wait_for(&format!("category of the error in t{i:02}"));
                tmux.keys(&["1"]);
            }
            None => tmux.keys(&["c"]),
        }
        // advance_after_label: the next trace is selected once this one is saved.
        let next = format!("t{:02} · ", i + 1);
        tmux.wait_for_line(&format!("t{:02} selected", i + 1), |l| l.contains(&next) && l.contains('┌'));
    }
    let labels = |store: &Path| journal_lines(store).iter().filter(|l| l.contains("\"kind\":\"label\"")).count();
    let after_ten = labels(store.path());
    assert!(after_ten >= 10, "{after_ten} label records for 10 traces");
    // Keys typed on the report never reach the list.
    tmux.keys(&["P"]);
    tmux.wait_for("REPORT");
    tmux.keys(&["j", "j", "j", "e", "c", "x", "P"]);
    tmux.wait_for("NORMAL");
    assert_eq!(labels(store.path()), after_ten, "a key typed on the report wrote a label");
    // A Shift slip: R asks, another key cancels; nothing starts.
    tmux.keys(&["R"]);
    tmux.wait_for("press R again to start");
    tmux.keys(&["j"]);
    // g g: back to the top.
    tmux.keys(&["Tab", "g", "g"]);
    tmux.wait_for_line("t00 at the top", |l| l.starts_with("│▶") && l.contains("t00"));
    let screen = tmux.screen();
    assert!(!screen.contains("local ·") && !screen.contains("global ·"), "R j started a refinement:\n{screen}");
    tmux.keys(&["q"]);
}

/// Issue 33, 2: an adjudicator opens the traces where two annotators disagree, sees both marks,
/// decides the gold first error with a reason, and neither annotator's label changes.
#[test]
fn an_adjudicator_settles_a_disagreement_with_a_reason() {
    let Some(tmux) = Tmux::new("adjudicate") else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    let (file, _) = sums(dir.path());
    let (f, s) = (file.to_str().unwrap(), store.path().to_str().unwrap());
    for (who, verdict) in [("ana", ["--first-error", "0"]), ("bo", ["--first-error", "1"])] {
        let (code, _, err) =
            run(&["label", f, "--trace", "t03", verdict[0], verdict[1], "--annotator", who, "--store", s]);
        assert_eq!(code, 0, "{err}");
    }
    tmux.start(&["open", f, "--store", s, "--annotator", "cy", "--adjudicate"]);
    tmux.wait_for("ADJUDICATE");
    tmux.wait_for("1 traces where annotators disagree");
    tmux.keys(&["Enter"]);
    tmux.wait_for("[bo ✗]");
    tmux.keys(&["e"]);
    tmux.wait_for("why?");
    tmux.cmd(&["send-keys", "-t", "app", "-l", "3 + 5 is 8, not 9"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("gold: t03 first error at step 0 · decided by cy");
    let lines = journal_lines(store.path());
    let gold: Vec<Value> =
        lines.iter().map(|l| serde_json::from_str::<Value>(l).unwrap()).filter(|v| v["kind"] == "gold").collect();
    assert_eq!(gold.len(), 1, "{lines:?}");
    assert_eq!((gold[0]["value"].as_i64(), gold[0]["by"].as_str()), (Some(0), Some("cy")));
    assert_eq!(gold[0]["reason"], "3 + 5 is 8, not 9");
    assert_eq!(gold[0]["labels"], serde_json::json!({"ana": 0, "bo": 1}));
    assert_eq!(lines.iter().filter(|l| l.contains("\"kind\":\"label\"")).count(), 2, "a label record was written");
    tmux.keys(&["q"]);
}

/// Issue 32, 3: a long chain of thought in a real terminal: fold and unfold its sections, jump to
/// a reflection, label the first error and where the model realises it, export, read back.
#[test]
fn a_long_chain_of_thought_folds_jumps_and_takes_a_realisation_label() {
    let Some(tmux) = Tmux::new("longcot") else { return };
    let store = tempfile::tempdir().unwrap();
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/thinking/long-cot.jsonl");
    let (f, s) = (file.to_str().unwrap(), store.path().to_str().unwrap());
    tmux.start(&["open", f, "--store", s, "--annotator", "ana"]);
    tmux.wait_for("books-pairs");
    tmux.keys(&["Enter", "Z"]);
    tmux.wait_for("▸ 0–5 · 6 units");
    assert!(!tmux.screen().contains("5 + 4 + 3 + 2 + 1 = 14."), "a folded unit is drawn");
    tmux.keys(&["Z"]);
    tmux.wait_for("5 + 4 + 3 + 2 + 1 = 14.");
    tmux.keys(&["w"]);
    tmux.wait_for("reflection: step 2");
    tmux.keys(&["5", "e"]);
    tmux.wait_for("saved: books-pairs first error at step 5");
    tmux.keys(&["Escape", "3", "j", "y"]);
    tmux.wait_for("realised at 8");
    tmux.keys(&["Y"]);
    tmux.wait_for("realised at 8 · recovered");
    tmux.keys(&["q"]);
    let out = tempfile::tempdir().unwrap();
    let exported = out.path().join("labels.jsonl");
    let (code, _, err) =
        run(&["export", f, "--store", s, "--labels", "human", "--to", "jsonl", "-o", exported.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let back = stepscope::trace::TraceFile::open(&exported, None, Default::default()).unwrap();
    let (traces, problems) = back.load_all();
    assert!(problems.is_empty(), "{problems:?}");
    let t = &traces[0];
    assert_eq!((t.label, t.thinking_steps), (Some(stepscope::trace::Label::FirstError(5)), 10));
    assert_eq!((t.extra["realisation_step"].as_i64(), t.extra["recovered"].as_bool()), (Some(8), Some(true)));
}
