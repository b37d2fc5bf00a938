//! The event task: terminal input, signals and background results, all into one channel.

use crossterm::event::{Event as TermEvent, EventStream, KeyCode, KeyEventKind, MouseButton, MouseEventKind};
use futures::StreamExt;
use tokio::sync::mpsc::UnboundedSender;

use super::action::Action;
use super::keymap::{Key, Keymap};
use super::state::Summary;
use crate::trace::Problem;

pub enum Event {
    Terminal(TermEvent),
    /// Summaries of lazy-source entries from the background scan.
    Summaries {
        first_entry: usize,
        batch: Vec<Summary>,
        problems: Vec<Problem>,
        /// Trace ids found more than once so far.
        duplicates: Vec<String>,
    },
    /// Progress and results from the model worker thread.
    Job(crate::jobs::JobEvent),
    /// A periodic tick: the app looks for labels other processes wrote.
    Tick,
    /// SIGTERM, SIGHUP, SIGINT, SIGQUIT or the input stream ended: leave cleanly.
    Terminate,
}

/// How often the app looks for labels written by other processes.
pub const TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a signal waits for the loop to leave on its own before the terminal is restored and
/// the process ends from the signal task.
const SIGNAL_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Takes over SIGTERM, SIGHUP, SIGINT and SIGQUIT: each becomes `Event::Terminate`. Call it
/// (inside the runtime) before the first frame is drawn, so a signal that arrives at once still
/// restores the terminal instead of killing the process with the screen in raw mode.
pub fn watch_signals(tx: &UnboundedSender<Event>) {
    use tokio::signal::unix::{signal, SignalKind};
    // In raw mode ctrl-c is a key, but `kill -INT` / `kill -QUIT` still arrive as signals: every
    // one of these ends the app through the same path as `q`, restoring the terminal.
    for kind in [SignalKind::terminate(), SignalKind::hangup(), SignalKind::interrupt(), SignalKind::quit()] {
        if let Ok(mut s) = signal(kind) {
            let tx = tx.clone();
            tokio::spawn(async move {
                if s.recv().await.is_some() {
                    let _ = tx.send(Event::Terminate);
                    // The loop leaves between two frames. Should a frame never end, the signal
                    // still ends the app: labels are durable once shown, so nothing is lost.
                    tokio::time::sleep(SIGNAL_GRACE).await;
                    super::leave();
                    std::process::exit(128 + kind.as_raw_value());
                }
            });
        }
    }
}

/// Reads terminal events and ticks until the receiver goes away.
pub async fn run(tx: UnboundedSender<Event>) {
    let mut input = EventStream::new();
    let ticks = tx.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        tick.tick().await; // the first tick is immediate
        loop {
            tick.tick().await;
            if ticks.send(Event::Tick).is_err() {
                return;
            }
        }
    });
    loop {
        let event = tokio::select! {
            e = input.next() => match e {
                Some(Ok(e)) => Event::Terminal(e),
                Some(Err(_)) | None => Event::Terminate,
            },
            _ = tx.closed() => return,
        };
        let stop = matches!(event, Event::Terminate);
        if tx.send(event).is_err() || stop {
            return;
        }
    }
}

/// Maps a terminal event to an action (search mode takes typed characters).
pub fn to_action(e: &TermEvent, keymap: &Keymap, searching: bool) -> Option<Action> {
    match e {
        TermEvent::Key(k) if k.kind == KeyEventKind::Press || k.kind == KeyEventKind::Repeat => {
            let key = Key::from_event(k);
            if searching && !key.ctrl && !key.alt {
                match k.code {
                    KeyCode::Char(c) => return Some(Action::TextInput(c)),
                    KeyCode::Backspace => return Some(Action::TextBackspace),
                    KeyCode::Enter => return Some(Action::TextCommit),
                    KeyCode::Esc => return Some(Action::Cancel),
                    _ => {}
                }
            }
            keymap.action(&key).or(match k.code {
                KeyCode::Char(c @ '1'..='9') if !key.ctrl && !key.alt => Some(Action::Digit(c as u8 - b'0')),
                _ => None,
            })
        }
        TermEvent::Mouse(m) => match m.kind {
            MouseEventKind::Down(MouseButton::Left) => Some(Action::Click { column: m.column, row: m.row }),
            MouseEventKind::ScrollDown => Some(Action::Scroll { column: m.column, row: m.row, lines: 3 }),
            MouseEventKind::ScrollUp => Some(Action::Scroll { column: m.column, row: m.row, lines: -3 }),
            _ => None,
        },
        TermEvent::Resize(w, h) => Some(Action::Resize { width: *w, height: *h }),
        TermEvent::Paste(text) => Some(Action::Paste(text.clone())),
        _ => None,
    }
}
