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
    },
    /// Progress and results from the model worker thread.
    Job(crate::jobs::JobEvent),
    /// SIGTERM, SIGHUP or the input stream ended: leave cleanly.
    Terminate,
}

/// Reads terminal events and signals until the receiver goes away.
pub async fn run(tx: UnboundedSender<Event>) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut input = EventStream::new();
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    loop {
        let event = tokio::select! {
            e = input.next() => match e {
                Some(Ok(e)) => Event::Terminal(e),
                Some(Err(_)) | None => Event::Terminate,
            },
            _ = async { term.as_mut()?.recv().await }, if term.is_some() => Event::Terminate,
            _ = async { hup.as_mut()?.recv().await }, if hup.is_some() => Event::Terminate,
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
                    KeyCode::Char(c) => return Some(Action::SearchInput(c)),
                    KeyCode::Backspace => return Some(Action::SearchBackspace),
                    KeyCode::Enter => return Some(Action::SearchCommit),
                    KeyCode::Esc => return Some(Action::Cancel),
                    _ => {}
                }
            }
            keymap.action(&key)
        }
        TermEvent::Mouse(m) => match m.kind {
            MouseEventKind::Down(MouseButton::Left) => Some(Action::Click { column: m.column, row: m.row }),
            MouseEventKind::ScrollDown => Some(Action::Scroll { column: m.column, row: m.row, lines: 3 }),
            MouseEventKind::ScrollUp => Some(Action::Scroll { column: m.column, row: m.row, lines: -3 }),
            _ => None,
        },
        TermEvent::Resize(w, h) => Some(Action::Resize { width: *w, height: *h }),
        _ => None,
    }
}
