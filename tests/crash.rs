//! Labels survive SIGKILL: a child process writes labels in a loop and acknowledges each one after
//! `set_label` returns; the parent kills it mid-stream and replays the journal.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use stepscope::trace::{Label, Store};

const CHILD_ENV: &str = "STEPSCOPE_CRASH_CHILD_JOURNAL";

/// In the child: write labels forever, acknowledging each on stdout.
fn child_loop(journal: &str) -> ! {
    let mut store = Store::open(std::path::Path::new(journal)).unwrap();
    let mut out = std::io::stdout().lock();
    for n in 0.. {
        let trace = format!("t{n}");
        store.set_label(&trace, "ana", Some(Label::FirstError(n % 7))).unwrap();
        writeln!(out, "ok {n}").unwrap();
        out.flush().unwrap();
    }
    unreachable!()
}

#[test]
fn labels_survive_sigkill() {
    if let Ok(journal) = std::env::var(CHILD_ENV) {
        child_loop(&journal);
    }
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("traces.jsonl.stepscope.jsonl");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "labels_survive_sigkill", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &journal)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("ok ") {
            acked.push(n.parse::<usize>().unwrap());
            if acked.len() == 300 {
                child.kill().unwrap(); // SIGKILL on Unix
                break;
            }
        }
    }
    child.wait().unwrap();
    assert_eq!(acked.len(), 300, "the child stopped early");
    let store = Store::open(&journal).unwrap();
    for n in &acked {
        assert_eq!(store.label(&format!("t{n}"), "ana"), Some(Label::FirstError(n % 7)), "label t{n} lost");
    }
    assert!(store.warnings.len() <= 1, "only a torn last record may be unreadable: {:?}", store.warnings);
    // Every complete line is valid JSON.
    let text = std::fs::read_to_string(&journal).unwrap();
    let complete = if text.ends_with('\n') { text.lines().count() } else { text.lines().count() - 1 };
    for line in text.lines().take(complete) {
        serde_json::from_str::<serde_json::Value>(line).expect("journal line parses");
    }
}
