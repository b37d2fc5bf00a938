//! The one owned application state: which screen, which overlays on top of it, the selection
//! and scroll positions. Views render from it and never change it; only `update` does.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

use crate::jobs::JobHandle;
use crate::trace::source::DuplicateIds;
use crate::trace::store::JournalIssue;
use crate::trace::{Label, Problem, Store, Trace, TraceFile};

use super::keymap::Keymap;
use super::theme::Theme;

/// Files larger than this are read lazily: rows are parsed when shown, summaries by a background scan.
pub const EAGER_LIMIT_BYTES: u64 = 64 << 20;

/// One opened trace file with its label store.
pub struct Source {
    pub file: Arc<TraceFile>,
    pub store: Store,
    /// Said when the journal is not beside the file (read-only folder).
    pub journal_note: Option<String>,
    /// Lazy sources show one entry per record (the record's first trace).
    pub lazy: bool,
    /// Trace ids that appear more than once in the file: labels are keyed by id, so these
    /// cannot be labelled.
    pub ambiguous: HashSet<String>,
    /// For a refinements file (`<file>.refined.jsonl`): the source whose drafts it refines. Its
    /// traces are listed under their drafts.
    pub parent: Option<usize>,
}

/// What the list and the filters need to know about a trace without holding it.
#[derive(Debug, Clone)]
pub struct Summary {
    pub id: String,
    pub steps: usize,
    pub dataset: Option<Label>,
    pub answer: Option<bool>,
    /// Lower-cased id, problem and steps for search (eager sources only).
    pub haystack: Option<String>,
}

impl Summary {
    pub fn of(t: &Trace, with_text: bool) -> Summary {
        let haystack = with_text.then(|| {
            let mut h = format!("{}\n{}", t.id, t.problem);
            for s in &t.steps {
                h.push('\n');
                h.push_str(&s.text);
            }
            h.to_lowercase()
        });
        Summary { id: t.id.clone(), steps: t.steps.len(), dataset: t.label, answer: t.answer_correct(), haystack }
    }
}

/// One row of the trace list.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub source: usize,
    pub record: usize,
    pub sub: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    List,
    Steps,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    All,
    Unlabelled,
    Labelled,
    /// Human label differs from the dataset label.
    Disagreement,
    /// Two annotators' current labels differ.
    AnnotatorsDisagree,
    /// A verifier's first error differs from the label (human, else dataset), or a verifier
    /// finds no error in a trace whose final answer is wrong.
    VerifierDisagrees,
    /// Final answer is wrong.
    AnswerWrong,
}

impl Filter {
    pub fn next(self) -> Filter {
        match self {
            Filter::All => Filter::Unlabelled,
            Filter::Unlabelled => Filter::Labelled,
            Filter::Labelled => Filter::Disagreement,
            Filter::Disagreement => Filter::AnnotatorsDisagree,
            Filter::AnnotatorsDisagree => Filter::VerifierDisagrees,
            Filter::VerifierDisagrees => Filter::AnswerWrong,
            Filter::AnswerWrong => Filter::All,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Filter::All => "all",
            Filter::Unlabelled => "unlabelled",
            Filter::Labelled => "labelled",
            Filter::Disagreement => "human≠dataset",
            Filter::AnnotatorsDisagree => "annotators disagree",
            Filter::VerifierDisagrees => "verifier disagrees",
            Filter::AnswerWrong => "answer wrong",
        }
    }
}

/// Where the first-error highlight comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelOrigin {
    Me,
    /// The adjudicated label, decided by this annotator.
    Gold(String),
    Annotator(String),
    Dataset,
}

/// The screen under the overlays.
pub enum Screen {
    /// The trace list, the selected trace's steps and its signals.
    Browse,
    /// A draft beside its refinements (`App::compare`, the refinement session).
    Compare,
    /// The failure report over the loaded traces.
    Report(Box<ReportView>),
}

impl Screen {
    pub fn is_browse(&self) -> bool {
        matches!(self, Screen::Browse)
    }

    pub fn is_compare(&self) -> bool {
        matches!(self, Screen::Compare)
    }
}

/// What the report screen shows: the failure report, and the stored signals evaluated against
/// final answers.
pub struct ReportView {
    pub report: crate::service::campaign::Report,
    pub signal_evals: Vec<crate::service::signal_eval::SignalEval>,
    /// Lines scrolled down.
    pub scroll: usize,
    /// The most lines it can scroll, as the last frame found (the height is known only there).
    pub max_scroll: std::cell::Cell<usize>,
}

/// A layer drawn over the screen that takes the keys while it is open (the last one opened).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    /// The key list, scrolled down by `scroll` lines (clamped when drawn).
    Help { scroll: usize },
    /// The verifier menu, with its cursor.
    VerifierMenu { cursor: usize },
    /// Typing a search; `origin` is the entry selected when it began (Esc goes back to it).
    Search { origin: Option<usize> },
    /// Rewriting a step by hand (`E`); Enter lets the generator continue after it.
    Edit { step: usize, text: String },
    /// Typing a question (`A`); Enter lets the generator solve it.
    Ask { text: String },
    /// Choosing the category of the first error just labelled (a digit), or `N` for a note.
    /// Any other key closes it and does what it always does.
    Category { source: usize, trace: String },
    /// Typing a note on my label of a trace; Enter saves it.
    Note { source: usize, trace: String, text: String },
    /// Typing why the gold label of a trace is `value` (None: why it is cleared); Enter writes it.
    Reason { source: usize, trace: String, value: Option<Label>, text: String },
    /// Agreement numbers and labelling pace over the loaded files (`K`).
    Agreement { lines: Vec<String> },
}

/// Which hints blind mode hides until the annotator has labelled the trace (config `blind`,
/// `blind_hide`, or `--blind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hide {
    pub dataset: bool,
    pub annotators: bool,
    pub verifiers: bool,
    pub answer: bool,
}

impl Hide {
    pub const NOTHING: Hide = Hide { dataset: false, annotators: false, verifiers: false, answer: false };
    pub const ALL: Hide = Hide { dataset: true, annotators: true, verifiers: true, answer: true };

    pub fn any(self) -> bool {
        self != Hide::NOTHING
    }
}

/// Background scoring in progress.
pub struct Scoring {
    /// Set by the loop once the job is submitted; `Esc` cancels through it.
    pub handle: Option<JobHandle>,
    pub done: usize,
    pub total: usize,
    /// (computed, reused, models loaded), reported by the worker before the job ends.
    pub tally: Option<(usize, usize, usize)>,
    /// Results for candidates not saved: kept by the compare screen, not stored.
    pub unstored: usize,
}

/// Work the update asks the event loop to hand to the model thread.
pub enum Request {
    Score {
        items: Vec<crate::jobs::ScoreItem>,
        specs: Vec<String>,
    },
    /// Train a probe with `model` on labelled traces; its head goes to `output`.
    Train {
        model: String,
        labelled: Vec<(Trace, Option<Label>)>,
        sources: Vec<String>,
        output: std::path::PathBuf,
    },
    /// Refine the compare screen's draft: one job per plan (fork: one per sample).
    Refine {
        draft: Box<Trace>,
        plans: Vec<(crate::refine::strategy::Plan, crate::model::generate::GenerateParams)>,
        /// Decode the plans together in one job (a race), not one job each.
        race: bool,
    },
}

/// What the refinement keys use (config: `generator`, `refine_max_tokens`, `fork_samples`).
#[derive(Debug, Clone, PartialEq)]
pub struct RefineSettings {
    pub generator: String,
    pub max_tokens: usize,
    pub fork_samples: usize,
    /// `local`: resamples of a rewrite that repeats the error (config `local_resamples`).
    pub local_resamples: usize,
    /// The user's prompt templates folder, when it exists.
    pub prompts: Option<std::path::PathBuf>,
    /// How the compare screen's reranker aggregates step scores (config `rerank`).
    pub aggregate: crate::refine::rerank::Aggregate,
}

impl Default for RefineSettings {
    fn default() -> RefineSettings {
        RefineSettings {
            generator: "qwen2.5-coder-1.5b".into(),
            max_tokens: 512,
            fork_samples: 4,
            local_resamples: crate::refine::strategy::LOCAL_RESAMPLES,
            prompts: None,
            aggregate: crate::refine::rerank::Aggregate::Min,
        }
    }
}

/// Verifiers offered in the menu when nothing else is known.
pub const DEFAULT_VERIFIERS: [&str; 4] = ["arith", "judge:smollm2", "critic:smollm2", "rollout:smollm2"];

pub struct App {
    pub library: Library,
    pub browse: Browse,
    pub settings: Settings,
    pub status: Status,
    pub screen: Screen,
    /// Open overlays, the top one last.
    pub overlays: Vec<Overlay>,
    /// The refinement session: a draft, its candidates and the one streaming in. Not the compare
    /// screen's alone: a refinement goes on streaming while the list is shown, Esc cancels it
    /// from either screen, and `C` comes back to it.
    pub compare: Option<super::compare::Compare>,
    pub requests: Vec<Request>,
    pub size: (u16, u16),
    pub quit: bool,
}

/// What is loaded: the sources, their entries and traces, and what could not be read.
pub struct Library {
    pub sources: Vec<Source>,
    pub entries: Vec<Entry>,
    pub summaries: Vec<Option<Summary>>,
    /// Traces of eager sources, by entry.
    pub loaded: Vec<Option<Rc<Trace>>>,
    /// Parsed traces of lazy sources, by entry (bounded).
    pub cache: RefCell<HashMap<usize, Rc<Trace>>>,
    pub problems: Vec<Problem>,
    /// Problems of the label journals: unreadable lines, labels that do not fit their trace.
    pub journal_problems: Vec<Problem>,
    /// Background scan progress of lazy sources: (records done, total).
    pub scan: Option<(usize, usize)>,
    /// How files were opened (refinement files are opened the same way).
    pub opener: crate::trace::Opener,
}

/// Where the user is in the list and the open trace.
pub struct Browse {
    /// Entry indices that pass the filter and search, in order.
    pub visible: Vec<usize>,
    pub filter: Filter,
    pub search: String,
    /// Index into `visible`.
    pub selected: usize,
    pub focus: Focus,
    /// Selected step of the shown trace.
    pub step: usize,
    /// First list row and first steps-pane line shown: set by `update` so the selection stays
    /// in sight.
    pub list_offset: usize,
    pub steps_offset: usize,
    /// A campaign's entries in queue order (a sample, or the disagreement queue); None: all.
    pub order: Option<Vec<usize>>,
    /// Keys typed that wait for the next one (a count, `g`, a model action to confirm).
    pub pending: Pending,
    /// `advance_after_label`: the category chooser is open after a new label; once it closes,
    /// go on to the next unlabelled trace.
    pub advance_after_category: bool,
    /// The folded sections (first steps) of the trace shown, with its entry (`z`, `Z`).
    pub folded: Option<(usize, std::collections::BTreeSet<usize>)>,
}

/// What the keys typed so far wait for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pending {
    /// Digits typed before a move or `e`.
    pub count: Option<usize>,
    /// `g` was typed.
    pub go: bool,
    /// A model action waiting for its key again.
    pub confirm: Option<super::action::Action>,
}

/// What the user settled before the app started (flags, config file), built once and passed
/// to [`App::new`]; the verifier menu's switches change while it runs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub annotator: String,
    pub theme: Theme,
    pub keymap: Keymap,
    /// Verifiers the menu offers, and which are switched on. Those given to `App::new` come
    /// after the defaults and the ones with stored results.
    pub verifier_choices: Vec<(String, bool)>,
    /// What the menu says beside a verifier (a probe's cross-validated F1).
    pub verifier_notes: std::collections::BTreeMap<String, String>,
    /// The model whose hidden states the train key's probe reads (`probe_model` in the config,
    /// else `--model`, else smollm2).
    pub probe_model: String,
    pub verify_options: crate::verify::Options,
    pub refine: RefineSettings,
    /// Blind mode: what stays hidden on a trace until I have labelled it.
    pub blind: Option<Hide>,
    /// Error categories offered after `e` (digits 1–9).
    pub categories: Vec<String>,
    /// Model actions (refine, generate, train, score all) start on a second press of their key.
    pub confirm_model_actions: bool,
    /// After a new label (and its category), go on to the next trace I have not labelled.
    pub advance_after_label: bool,
    /// Adjudication mode: `e` / `c` / `x` decide the gold label, not mine (`D`, `--adjudicate`).
    pub adjudicate: bool,
}

impl Settings {
    /// The defaults, for `annotator` with `theme` and `keymap`.
    pub fn new(annotator: String, theme: Theme, keymap: Keymap) -> Settings {
        Settings {
            annotator,
            theme,
            keymap,
            verifier_choices: Vec::new(),
            verifier_notes: std::collections::BTreeMap::new(),
            probe_model: "smollm2".into(),
            verify_options: crate::verify::Options::default(),
            refine: RefineSettings::default(),
            blind: None,
            categories: crate::service::campaign::DEFAULT_CATEGORIES.iter().map(|c| c.to_string()).collect(),
            confirm_model_actions: true,
            advance_after_label: false,
            adjudicate: false,
        }
    }
}

/// What the status line says: the last message, the model and servers, scoring progress.
#[derive(Default)]
pub struct Status {
    pub message: Option<String>,
    /// What the model worker is doing (fetching, loading, ready, failed).
    pub model_status: Option<String>,
    /// The servers' health and latency, when the model is on servers.
    pub server_status: Option<String>,
    pub scoring: Option<Scoring>,
    /// A probe training on the model thread.
    pub training: Option<Training>,
}

/// The train key's job.
pub struct Training {
    /// Set by the loop once the job is submitted; `Esc` cancels through it.
    pub handle: Option<JobHandle>,
    pub traces: usize,
}

const CACHE_LIMIT: usize = 512;

/// `name:line: field: message` of a problem, with the file's name only.
fn short(p: &Problem) -> String {
    let name = p.file.file_name().map_or_else(|| p.file.display().to_string(), |n| n.to_string_lossy().into_owned());
    let field = p.field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default();
    format!("{name}:{}: {field}{}", p.line, p.message)
}

fn journal_problem(w: &JournalIssue) -> Problem {
    Problem { file: w.file.clone(), line: w.line, field: None, message: w.message.clone() }
}

impl App {
    pub fn new(sources: Vec<Source>, problems: Vec<Problem>, opener: crate::trace::Opener, settings: Settings) -> App {
        let library = Library {
            sources: Vec::new(),
            entries: Vec::new(),
            summaries: Vec::new(),
            loaded: Vec::new(),
            cache: RefCell::new(HashMap::new()),
            problems,
            journal_problems: Vec::new(),
            scan: None,
            opener,
        };
        let browse = Browse {
            visible: Vec::new(),
            filter: Filter::All,
            search: String::new(),
            selected: 0,
            focus: Focus::List,
            step: 0,
            list_offset: 0,
            steps_offset: 0,
            order: None,
            pending: Default::default(),
            advance_after_category: false,
            folded: None,
        };
        let mut app = App {
            library,
            browse,
            settings,
            status: Status::default(),
            screen: Screen::Browse,
            overlays: Vec::new(),
            compare: None,
            requests: Vec::new(),
            size: (80, 24),
            quit: false,
        };
        for s in sources {
            app.add_source(s);
        }
        app.nest_children();
        let lazy_records: usize = app.library.sources.iter().filter(|s| s.lazy).map(|s| s.file.record_count()).sum();
        if lazy_records > 0 {
            app.library.scan = Some((0, lazy_records));
        }
        let given = std::mem::take(&mut app.settings.verifier_choices);
        app.settings.verifier_choices = app.initial_verifiers();
        for (spec, on) in given {
            app.settings.verifier_choices.retain(|(s, _)| *s != spec);
            app.settings.verifier_choices.push((spec, on));
        }
        app.refresh_visible();
        if let Some(p) = app.library.problems.first() {
            app.status.message =
                Some(format!("{} records not loaded; first: {}", app.library.problems.len(), short(p)));
        } else if let Some(p) = app.library.journal_problems.first() {
            app.status.message =
                Some(format!("label journal: {} problems; first: {}", app.library.journal_problems.len(), short(p)));
        }
        app
    }

    fn add_source(&mut self, mut source: Source) {
        let index = self.library.sources.len();
        self.library.journal_problems.extend(source.store.warnings.iter().map(journal_problem));
        if source.lazy {
            for record in 0..source.file.record_count() {
                self.library.entries.push(Entry { source: index, record, sub: 0 });
                self.library.summaries.push(None);
                self.library.loaded.push(None);
            }
        } else {
            self.library.problems.extend(source.file.index_problems.iter().cloned());
            let mut ids = DuplicateIds::default();
            let mut steps_by_id = HashMap::new();
            for record in 0..source.file.record_count() {
                let traces = match source.file.record(record) {
                    Ok(t) => t,
                    Err(p) => {
                        self.library.problems.push(p);
                        continue;
                    }
                };
                for (sub, t) in traces.into_iter().enumerate() {
                    self.library.problems.extend(ids.check(&source.file.path, &t.id, source.file.record_line(record)));
                    steps_by_id.insert(t.id.clone(), t.steps.len());
                    self.library.entries.push(Entry { source: index, record, sub });
                    self.library.summaries.push(Some(Summary::of(&t, true)));
                    self.library.loaded.push(Some(Rc::new(t)));
                }
            }
            source.ambiguous = ids.repeated().clone();
            let path = source.file.path.clone();
            let issues = source.store.check_labels(&path, |id| steps_by_id.get(id).copied());
            self.library.journal_problems.extend(issues.iter().map(journal_problem));
        }
        self.library.sources.push(source);
    }

    /// Puts the traces of refinement files right under their drafts (a child whose draft is not
    /// listed stays at the end). Entry indices change: the selection and the compare screen's
    /// draft follow their entries.
    pub fn nest_children(&mut self) {
        let n = self.library.entries.len();
        let root = |app: &App, e: usize| {
            let source = app.library.entries[e].source;
            app.library.sources[source].parent.unwrap_or(source)
        };
        let parent_of = |app: &App, e: usize| -> Option<(usize, String)> {
            app.library.sources[app.library.entries[e].source].parent?;
            let t = app.library.loaded[e].as_ref()?;
            Some((root(app, e), t.refinement.as_ref()?.parent.clone()))
        };
        let mut children: HashMap<(usize, String), Vec<usize>> = HashMap::new();
        let mut is_child = vec![false; n];
        for (e, child) in is_child.iter_mut().enumerate() {
            if let Some(key) = parent_of(self, e) {
                children.entry(key).or_default().push(e);
                *child = true;
            }
        }
        // Depth first: a refinement of a refinement goes under its own parent.
        let mut order = Vec::with_capacity(n);
        let mut stack: Vec<usize> = (0..n).filter(|&e| !is_child[e]).rev().collect();
        while let Some(e) = stack.pop() {
            order.push(e);
            let key = self.library.summaries[e].as_ref().map(|s| (root(self, e), s.id.clone()));
            if let Some(kids) = key.and_then(|k| children.remove(&k)) {
                stack.extend(kids.into_iter().rev());
            }
        }
        let mut left: Vec<usize> = children.into_values().flatten().collect();
        left.sort_unstable();
        order.extend(left);
        if order.iter().enumerate().all(|(i, &e)| i == e) {
            return;
        }
        let mut new_index = vec![0; n];
        for (i, &e) in order.iter().enumerate() {
            new_index[e] = i;
        }
        let keep = self.selected_entry().map(|e| new_index[e]);
        self.library.entries = order.iter().map(|&e| self.library.entries[e]).collect();
        self.library.summaries = order.iter().map(|&e| self.library.summaries[e].clone()).collect();
        self.library.loaded = order.iter().map(|&e| self.library.loaded[e].clone()).collect();
        self.library.cache.borrow_mut().clear();
        if let Some(c) = self.compare.as_mut() {
            if let Some(e) = c.draft_entry.as_mut() {
                *e = new_index[*e];
            }
        }
        if let Some(order) = self.browse.order.as_mut() {
            for e in order.iter_mut() {
                *e = new_index[*e];
            }
        }
        let all = self.campaign_entries();
        self.filter_visible(keep, all);
    }

    /// After a candidate was appended to the refinements file of `parent`: the file (read
    /// again) and, the first time, its label store become a source, and its new traces are
    /// listed under their drafts.
    pub fn attach_refinements(&mut self, parent: usize, file: TraceFile, store: Option<Store>) {
        let index = self.library.sources.iter().position(|s| s.parent == Some(parent));
        self.attach(index, Some(parent), file, store);
    }

    /// After a solution of a typed-in question was appended to the questions file: that file
    /// (read again) is a source of its own.
    pub fn attach_asked(&mut self, file: TraceFile, store: Option<Store>) {
        let index = self.library.sources.iter().position(|s| s.parent.is_none() && s.file.path == file.path);
        self.attach(index, None, file, store);
    }

    /// Replaces source `index` by the file read again and lists its new records, or adds the
    /// file as a new source (with `parent`) when there is none yet.
    fn attach(&mut self, index: Option<usize>, parent: Option<usize>, file: TraceFile, store: Option<Store>) {
        match index {
            Some(index) => {
                let known = self.library.entries.iter().filter(|e| e.source == index).count();
                let file = Arc::new(file);
                self.library.sources[index].file = file.clone();
                let mut added = 0;
                for record in 0..file.record_count() {
                    let Ok(traces) = file.record(record) else { continue };
                    for (sub, t) in traces.into_iter().enumerate() {
                        added += 1;
                        if added <= known {
                            continue;
                        }
                        self.library.entries.push(Entry { source: index, record, sub });
                        self.library.summaries.push(Some(Summary::of(&t, true)));
                        self.library.loaded.push(Some(Rc::new(t)));
                    }
                }
            }
            None => {
                let Some(store) = store else { return };
                self.add_source(Source {
                    file: Arc::new(file),
                    store,
                    journal_note: None,
                    lazy: false,
                    ambiguous: Default::default(),
                    parent,
                });
            }
        }
        self.nest_children();
        self.refresh_visible();
    }

    /// The overlay that takes the keys, if any.
    pub fn overlay(&self) -> Option<&Overlay> {
        self.overlays.last()
    }

    /// Whether a search is being typed (keys go into the search field).
    pub fn searching(&self) -> bool {
        matches!(self.overlay(), Some(Overlay::Search { .. }))
    }

    /// Whether keys are text: a search, a step being rewritten, a question, a note.
    pub fn typing(&self) -> bool {
        matches!(
            self.overlay(),
            Some(
                Overlay::Search { .. }
                    | Overlay::Edit { .. }
                    | Overlay::Ask { .. }
                    | Overlay::Note { .. }
                    | Overlay::Reason { .. }
            )
        )
    }

    /// The search as text to find in steps (`n`/`N`, highlighting); a `#category` search is
    /// about labels, not text.
    pub fn step_search(&self) -> Option<&str> {
        Some(self.browse.search.as_str()).filter(|s| !s.is_empty() && !s.starts_with('#'))
    }

    /// Selects the next trace shown that I have not labelled (after the selected one, around).
    pub fn next_unlabelled(&mut self) {
        let n = self.browse.visible.len();
        let found = (1..=n).map(|d| (self.browse.selected + d) % n.max(1)).find(|&pos| {
            let e = self.browse.visible[pos];
            self.summary(e).is_some_and(|s| self.my_label(e, &s.id).is_none())
        });
        match found {
            Some(pos) => {
                self.browse.selected = pos;
                self.browse.step = 0;
            }
            None => self.status.message = Some("every trace shown is labelled".into()),
        }
    }

    pub fn help_open(&self) -> bool {
        self.overlays.iter().any(|o| matches!(o, Overlay::Help { .. }))
    }

    /// The verifier menu's cursor when the menu is open.
    pub fn menu_cursor(&self) -> Option<usize> {
        self.overlays.iter().find_map(|o| match o {
            Overlay::VerifierMenu { cursor } => Some(*cursor),
            _ => None,
        })
    }

    /// The trace of an entry: held for eager sources, parsed (and cached) for lazy ones.
    pub fn trace(&self, entry: usize) -> Option<Rc<Trace>> {
        if let Some(t) = self.library.loaded.get(entry)? {
            return Some(t.clone());
        }
        if let Some(t) = self.library.cache.borrow().get(&entry) {
            return Some(t.clone());
        }
        let e = self.library.entries[entry];
        let trace = Rc::new(self.library.sources[e.source].file.record(e.record).ok()?.into_iter().nth(e.sub)?);
        let mut cache = self.library.cache.borrow_mut();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(entry, trace.clone());
        Some(trace)
    }

    /// The menu's verifiers: the defaults, every spec already in a store, and the probes kept
    /// beside the journals (with their notes); arith starts on.
    fn initial_verifiers(&mut self) -> Vec<(String, bool)> {
        let mut specs: Vec<String> = DEFAULT_VERIFIERS.iter().map(|s| s.to_string()).collect();
        for src in &self.library.sources {
            for spec in src.store.result_specs() {
                if !specs.contains(&spec) {
                    specs.push(spec);
                }
            }
            for head in crate::service::train::heads_beside(src.store.path()) {
                let Ok(h) = crate::verify::probe::ProbeHead::read(&head) else { continue };
                let spec = format!("probe:{}", head.display());
                self.settings.verifier_notes.insert(spec.clone(), crate::service::train::menu_note(&h.metrics));
                if !specs.contains(&spec) {
                    specs.push(spec);
                }
            }
        }
        specs.into_iter().map(|s| (s.clone(), s == "arith")).collect()
    }

    /// The specs switched on in the menu.
    pub fn chosen_verifiers(&self) -> Vec<String> {
        self.settings.verifier_choices.iter().filter(|(_, on)| *on).map(|(s, _)| s.clone()).collect()
    }

    /// The summary of an entry, computing it from the trace when the scan has not reached it.
    pub fn summary(&self, entry: usize) -> Option<Summary> {
        match &self.library.summaries[entry] {
            Some(s) => Some(s.clone()),
            None => self.trace(entry).map(|t| Summary::of(&t, false)),
        }
    }

    pub fn selected_entry(&self) -> Option<usize> {
        self.browse.visible.get(self.browse.selected).copied()
    }

    pub fn store_of(&self, entry: usize) -> &Store {
        &self.library.sources[self.library.entries[entry].source].store
    }

    /// My label on an entry's trace.
    pub fn my_label(&self, entry: usize, id: &str) -> Option<Label> {
        self.store_of(entry).label(id, &self.settings.annotator)
    }

    /// The human label to show: mine, else the latest of another annotator.
    pub fn human_label(&self, entry: usize, id: &str) -> Option<(Label, LabelOrigin)> {
        if let Some(l) = self.my_label(entry, id) {
            return Some((l, LabelOrigin::Me));
        }
        self.store_of(entry).latest_label(id).map(|(l, a)| (l, LabelOrigin::Annotator(a.to_string())))
    }

    /// The first-error label that drives the highlight: mine, else the gold label, else another
    /// annotator's, else the dataset's; in blind mode only what is not hidden. When adjudicating,
    /// only the gold label (each annotator's mark is shown beside the steps).
    pub fn effective_label(&self, entry: usize, t: &Trace) -> Option<(Label, LabelOrigin)> {
        let hide = self.hides(entry, &t.id);
        let gold = || self.gold(entry, &t.id).map(|(l, by)| (l, LabelOrigin::Gold(by)));
        if self.settings.adjudicate {
            return gold();
        }
        if let Some(l) = self.my_label(entry, &t.id) {
            return Some((l, LabelOrigin::Me));
        }
        let other = (!hide.annotators)
            .then(|| {
                gold().or_else(|| {
                    let (l, a) = self.store_of(entry).latest_label(&t.id)?;
                    Some((l, LabelOrigin::Annotator(a.to_string())))
                })
            })
            .flatten();
        other.or(t.label.filter(|_| !hide.dataset).map(|l| (l, LabelOrigin::Dataset)))
    }

    /// The gold label of an entry's trace and who decided it, unless blind mode hides the
    /// annotators' labels there.
    pub fn gold(&self, entry: usize, id: &str) -> Option<(Label, String)> {
        if self.hides(entry, id).annotators {
            return None;
        }
        let g = self.store_of(entry).gold(id)?;
        Some((g.value?, g.by.clone()))
    }

    /// What blind mode hides on a trace now: everything configured until I have labelled it.
    /// The one rule every screen, overlay, search and list decoration asks. Once I have labelled
    /// a trace its hints were shown, so a label cleared or undone later hides nothing again (and
    /// a new label on it is not blind).
    pub fn hides(&self, entry: usize, id: &str) -> Hide {
        match self.settings.blind {
            Some(h) if !self.store_of(entry).touched(id, &self.settings.annotator) => h,
            _ => Hide::NOTHING,
        }
    }

    /// A refinement listed under a draft whose hints blind mode hides: it exists only where a
    /// first error was found, and shows where the draft went wrong, so it is hidden too.
    fn hidden_refinement(&self, entry: usize, id: &str) -> bool {
        if !self.settings.blind.is_some_and(Hide::any) {
            return false;
        }
        let Some(parent) = self.library.sources[self.library.entries[entry].source].parent else { return false };
        let parent_id = id.split_once('~').map_or(id, |(p, _)| p);
        !self.library.sources[parent].store.touched(parent_id, &self.settings.annotator)
    }

    /// The stored verifier results shown for a trace (none while blind mode hides them).
    pub fn shown_results(&self, entry: usize, id: &str) -> Vec<&crate::trace::store::VerifyRecord> {
        if self.hides(entry, id).verifiers {
            return Vec::new();
        }
        self.store_of(entry).results_for(id)
    }

    /// Final-answer correctness as shown (None while blind mode hides it).
    pub fn shown_answer(&self, entry: usize, id: &str, answer: Option<bool>) -> Option<bool> {
        answer.filter(|_| !self.hides(entry, id).answer)
    }

    /// Traces I have labelled, over all sources.
    pub fn labelled_count(&self) -> usize {
        self.library.sources.iter().map(|s| s.store.labelled_traces(Some(&self.settings.annotator))).sum()
    }

    fn passes(&self, entry: usize, needle: &str) -> bool {
        let Some(s) = &self.library.summaries[entry] else {
            return self.browse.filter == Filter::All && needle.is_empty();
        };
        if self.hidden_refinement(entry, &s.id) {
            return false;
        }
        if let Some(category) = needle.strip_prefix('#') {
            // `#calc`: traces whose human label (mine, else anyone's) has a matching category.
            if !self.category_matches(entry, &s.id, category.trim()) {
                return false;
            }
        } else if !needle.is_empty() {
            let hit = match &s.haystack {
                Some(h) => h.contains(needle),
                None => s.id.to_lowercase().contains(needle),
            };
            if !hit {
                return false;
            }
        }
        let mine = self.my_label(entry, &s.id);
        match self.browse.filter {
            Filter::All => true,
            Filter::Unlabelled => mine.is_none(),
            Filter::Labelled => mine.is_some(),
            Filter::Disagreement => {
                let human = self.human_label(entry, &s.id).map(|(l, _)| l);
                matches!((human, s.dataset), (Some(h), Some(d)) if h != d)
            }
            Filter::AnnotatorsDisagree => {
                let labels = self.store_of(entry).labels_for(&s.id);
                labels.iter().any(|(_, l)| *l != labels[0].1)
            }
            Filter::VerifierDisagrees => {
                let label = self.human_label(entry, &s.id).map(|(l, _)| l).or(s.dataset).map(|l| l.first_error());
                self.store_of(entry).results_for(&s.id).iter().any(|r| match label {
                    Some(l) => r.first_error != l,
                    None => r.first_error.is_none() && s.answer == Some(false),
                })
            }
            Filter::AnswerWrong => s.answer == Some(false),
        }
    }

    /// Whether a human label on the trace has a category starting with `prefix` (lower case).
    fn category_matches(&self, entry: usize, id: &str, prefix: &str) -> bool {
        let store = self.store_of(entry);
        // Blind: other annotators' categories would tell which traces they marked wrong.
        let others_hidden = self.hides(entry, id).annotators;
        store.labels_for(id).iter().filter(|(a, _)| !others_hidden || *a == self.settings.annotator).any(|(a, _)| {
            store
                .detail(id, a)
                .and_then(|d| d.category.as_deref())
                .is_some_and(|c| c.to_lowercase().starts_with(prefix))
        })
    }

    /// My label's category on a trace, if I gave one.
    pub fn my_category(&self, entry: usize, id: &str) -> Option<&str> {
        self.store_of(entry).detail(id, &self.settings.annotator)?.category.as_deref()
    }

    /// Recomputes the visible rows, keeping the selected entry selected when it stays visible.
    pub fn refresh_visible(&mut self) {
        let keep = self.selected_entry();
        let all = self.campaign_entries();
        self.filter_visible(keep, all);
    }

    /// The entries a list can show, in order: the campaign's, else all.
    pub fn campaign_entries(&self) -> Vec<usize> {
        match &self.browse.order {
            Some(order) => order.clone(),
            None => (0..self.library.entries.len()).collect(),
        }
    }

    /// After characters were added to the search: only rows shown now can still match, so
    /// only they are tested (a long paste into the search box costs one pass, not one per key).
    pub fn narrow_visible(&mut self) {
        let keep = self.selected_entry();
        let shown = std::mem::take(&mut self.browse.visible);
        self.filter_visible(keep, shown);
    }

    fn filter_visible(&mut self, keep: Option<usize>, candidates: Vec<usize>) {
        let needle = self.browse.search.to_lowercase();
        self.browse.visible = candidates.into_iter().filter(|&e| self.passes(e, &needle)).collect();
        self.browse.selected = keep.and_then(|k| self.browse.visible.iter().position(|&e| e == k)).unwrap_or(0);
        if keep != self.selected_entry() {
            self.browse.step = 0;
        }
    }

    /// Stores summaries from the background scan of a lazy source.
    pub fn add_summaries(&mut self, first_entry: usize, batch: Vec<Summary>) {
        let n = batch.len();
        for (i, s) in batch.into_iter().enumerate() {
            if let Some(slot) = self.library.summaries.get_mut(first_entry + i) {
                *slot = Some(s);
            }
        }
        if let Some((done, total)) = self.library.scan {
            self.library.scan = if done + n >= total { None } else { Some((done + n, total)) };
        }
        if self.browse.filter != Filter::All || !self.browse.search.is_empty() {
            self.refresh_visible();
        }
    }
}
