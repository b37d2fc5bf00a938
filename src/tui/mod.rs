//! The interactive application: an event task feeds one channel, keys become `Action`s through
//! the keymap, `update` changes the one owned `App`, and views render it. The terminal is
//! restored on quit, on SIGTERM/SIGHUP and on a panic in any thread.

pub mod action;
pub mod adjudicate;
pub mod campaign;
pub mod compare;
pub mod config;
pub mod effects;
pub mod event;
pub mod keymap;
pub mod long_cot;
pub mod msg;
pub mod prefix;
pub mod refining;
pub mod state;
pub mod text;
pub mod theme;
pub mod training;
pub mod update;
pub mod views;

use std::io::{self, Stdout};
use std::path::PathBuf;
use std::sync::Arc;

use crossterm::event::{DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::jobs::{Job, Worker};
use crate::trace::source::DuplicateIds;
use crate::trace::{Opener, Problem, Store, TraceFile};
use event::Event;
use state::{App, Source, Summary, EAGER_LIMIT_BYTES};

/// Opens every path as a source (unreadable files become problems) and builds the app state.
pub fn load_app(paths: &[PathBuf], input: &Opener, settings: state::Settings) -> App {
    let mut sources = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        let file = match input.open(path) {
            Ok(f) => f,
            Err(e) => {
                problems.push(Problem { file: path.clone(), line: 0, field: None, message: e.message });
                continue;
            }
        };
        let loc = input.journal(path);
        let store = match Store::open_location(&loc) {
            Ok(s) => s,
            Err(e) => {
                problems.push(Problem {
                    file: loc.path.clone(),
                    line: 0,
                    field: None,
                    message: format!("label journal: {e}"),
                });
                continue;
            }
        };
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        let lazy = file.is_on_disk() && size > EAGER_LIMIT_BYTES;
        let parent = sources.len();
        sources.push(Source {
            file: Arc::new(file),
            store,
            journal_note: loc.note,
            lazy,
            ambiguous: Default::default(),
            parent: None,
        });
        // Candidates accepted earlier are listed under their drafts.
        let refined = crate::service::refine::refinements_path(&loc.path);
        if !lazy && refined.exists() {
            match open_refinements(&refined, input) {
                Ok((file, store)) => sources.push(Source {
                    file: Arc::new(file),
                    store,
                    journal_note: None,
                    lazy: false,
                    ambiguous: Default::default(),
                    parent: Some(parent),
                }),
                Err(message) => problems.push(Problem { file: refined, line: 0, field: None, message }),
            }
        }
    }
    App::new(sources, problems, input.clone(), settings)
}

/// Opens a refinements file (stepscope's own format) and its label store.
pub fn open_refinements(path: &std::path::Path, input: &Opener) -> Result<(TraceFile, Store), String> {
    let file = TraceFile::open(path, Some(crate::trace::Format::Native), Default::default()).map_err(|e| e.message)?;
    let store = input.store(path)?;
    Ok((file, store))
}

/// Runs the TUI until the user quits; `model` (a model spec) is fetched and loaded on the model
/// thread while the app is already usable. Returns an error message for the caller to print.
pub fn run(mut app: App, model: Option<LoadRequest>) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the event loop: {e}"))?;
    install_panic_hook();
    // Signals are taken over before the terminal goes raw, so none can leave it that way.
    let (tx, rx) = unbounded_channel();
    {
        let _context = runtime.enter();
        event::watch_signals(&tx);
    }
    let mut terminal = enter().map_err(|e| format!("cannot set up the terminal: {e}"))?;
    let result = runtime.block_on(main_loop(&mut terminal, &mut app, model, tx, rx));
    leave();
    result
}

/// A model to load in the background when the app starts.
#[derive(Debug, Clone)]
pub struct LoadRequest {
    pub spec: String,
    pub options: crate::model::LoadOptions,
    pub remote: crate::model::remote::RemoteOptions,
}

async fn main_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    app: &mut App,
    model: Option<LoadRequest>,
    tx: UnboundedSender<Event>,
    mut rx: UnboundedReceiver<Event>,
) -> Result<(), String> {
    tokio::spawn(event::run(tx.clone()));
    start_scans(app, &tx);
    let job_tx = tx.clone();
    let mut worker = Worker::spawn(move |e| {
        let _ = job_tx.send(Event::Job(e));
    });
    if let Some(req) = model {
        update::update(app, msg::Msg::ModelRequested { spec: req.spec.clone(), options: req.options });
        worker.submit(Job::Load { spec: req.spec, options: req.options, remote: req.remote });
    }
    let size = terminal.size().map_err(|e| e.to_string())?;
    update::update(app, action::Action::Resize { width: size.width, height: size.height });
    loop {
        terminal.draw(|f| views::render(f, app)).map_err(|e| format!("drawing failed: {e}"))?;
        let Some(first) = rx.recv().await else { return Ok(()) };
        handle(app, first);
        // Coalesce: apply everything already queued, then draw once.
        while let Ok(e) = rx.try_recv() {
            handle(app, e);
        }
        submit_requests(app, &mut worker);
        if app.quit {
            return Ok(());
        }
    }
}

/// Every event becomes a message for `update`.
fn handle(app: &mut App, e: Event) {
    match e {
        Event::Terminal(te) => {
            if let Some(a) = event::to_action(&te, &app.settings.keymap, app.typing()) {
                update::update(app, a);
            }
        }
        Event::Summaries { first_entry, batch, problems, duplicates } => {
            update::update(app, msg::Msg::Summaries { first_entry, batch, problems, duplicates })
        }
        Event::Job(e) => update::update(app, msg::Msg::Job(e)),
        Event::Tick => update::update(app, action::Action::RefreshJournals),
        Event::Terminate => update::update(app, action::Action::Quit),
    }
}

/// Hands queued work to the model thread; the scoring job's handle lets `Esc` cancel it.
fn submit_requests(app: &mut App, worker: &mut Worker) {
    for req in std::mem::take(&mut app.requests) {
        match req {
            state::Request::Score { items, specs } => {
                let handle = worker.submit(Job::Score { items, specs, options: app.settings.verify_options.clone() });
                update::update(app, msg::Msg::Submitted(handle));
            }
            state::Request::Train { model, labelled, sources, output } => {
                let handle = worker.submit(Job::Train { model, labelled, sources, output });
                update::update(app, msg::Msg::TrainSubmitted(handle));
            }
            state::Request::Refine { draft, plans, race } => {
                let generator = app.settings.refine.generator.clone();
                let segmentation = draft.segmentation.clone();
                let handles = if race {
                    vec![worker.submit(Job::Race { draft, plans, generator, segmentation })]
                } else {
                    plans
                        .into_iter()
                        .map(|(plan, params)| {
                            worker.submit(Job::Refine {
                                draft: draft.clone(),
                                plan: Box::new(plan),
                                generator: generator.clone(),
                                params,
                                segmentation: segmentation.clone(),
                            })
                        })
                        .collect()
                };
                update::update(app, msg::Msg::RefineSubmitted(handles));
            }
        }
    }
}

/// One background thread per lazy source parses every record into a summary.
fn start_scans(app: &App, tx: &UnboundedSender<Event>) {
    for (index, source) in app.library.sources.iter().enumerate().filter(|(_, s)| s.lazy) {
        let base = app.library.entries.iter().position(|e| e.source == index).unwrap_or(0);
        let (file, tx) = (source.file.clone(), tx.clone());
        std::thread::Builder::new()
            .name("stepscope-scan".into())
            .spawn(move || scan(&file, base, &tx))
            .expect("spawn scan thread");
    }
}

fn scan(file: &TraceFile, first_entry: usize, tx: &UnboundedSender<Event>) {
    const BATCH: usize = 2000;
    let mut ids = DuplicateIds::default();
    let mut start = 0;
    while start < file.record_count() {
        let end = (start + BATCH).min(file.record_count());
        let mut batch = Vec::with_capacity(end - start);
        let mut problems = Vec::new();
        let repeated_before = ids.repeated().len();
        for r in start..end {
            match file.record(r) {
                Ok(ts) => {
                    for t in &ts {
                        problems.extend(ids.check(&file.path, &t.id, file.record_line(r)));
                    }
                    batch.push(ts.first().map(|t| Summary::of(t, false)).unwrap_or_else(|| empty_summary(r)))
                }
                Err(p) => {
                    problems.push(p);
                    batch.push(empty_summary(r));
                }
            }
        }
        let duplicates =
            if ids.repeated().len() > repeated_before { ids.repeated().iter().cloned().collect() } else { Vec::new() };
        if tx.send(Event::Summaries { first_entry: first_entry + start, batch, problems, duplicates }).is_err() {
            return; // the app has quit
        }
        start = end;
    }
}

fn empty_summary(record: usize) -> Summary {
    Summary { id: format!("(record {record}: unreadable)"), steps: 0, dataset: None, answer: None, haystack: None }
}

fn enter() -> io::Result<Terminal<CrosstermBackend<Stdout>>> {
    enable_raw_mode()?;
    execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture, EnableBracketedPaste)?;
    let mut t = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    t.clear()?;
    Ok(t)
}

/// Puts the terminal back the way it was. Safe to call more than once.
fn leave() {
    let _ = execute!(
        io::stdout(),
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = disable_raw_mode();
}

/// A panic anywhere restores the terminal first, prints the report, and ends the process (a
/// half-dead UI thread would leave the terminal unusable).
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if crate::model::guard::in_guard() {
            return; // a parser's panic that its caller turns into an error
        }
        leave();
        previous(info);
        std::process::exit(101);
    }));
}
