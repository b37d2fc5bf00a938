//! Everything the user (or an event) can ask the app to do. Keys map to these through the keymap.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Switch focus between the trace list and the steps.
    SwitchFocus,
    /// Open the selected trace and focus its steps.
    Open,
    /// The selected step is the first error.
    MarkFirstError,
    /// No step of this trace is wrong.
    MarkNoError,
    /// Remove my label from this trace.
    ClearLabel,
    Undo,
    Redo,
    NextUnlabelled,
    StartSearch,
    CycleFilter,
    ToggleHelp,
    /// Close an overlay, cancel the search being typed, or cancel running scoring.
    Cancel,
    /// Run the chosen verifiers on the open trace (in the background).
    ScoreTrace,
    /// Run the chosen verifiers on every trace the filter shows.
    ScoreVisible,
    /// Open the menu of verifiers to run.
    VerifierMenu,
    /// In the verifier menu: switch the verifier under the cursor on or off.
    Toggle,
    Quit,
    /// Refine the open trace from its first error (local).
    RefineLocal,
    /// Rewrite the open trace whole (global).
    RefineGlobal,
    /// Replace the first wrong step with the reference in view, then continue (intervene).
    Intervene,
    /// Sample continuations from the steps before the first error; count how many reach the answer.
    Fork,
    /// Rewrite the selected step by hand; the generator continues after it.
    EditStep,
    /// Generate a new solution of the selected problem with the generator.
    Generate,
    /// Type a question; the generator solves it (saved to the questions file).
    Ask,
    /// Save the candidate shown as a child of its draft.
    Accept,
    /// Open or close the compare screen.
    Compare,
    /// Compare screen: the next / previous candidate.
    NextCandidate,
    PrevCandidate,
    /// Choose (again) the category of my first-error label.
    Category,
    /// Write a note on my label.
    Note,
    /// Rate the selected step +1 / 0 / −1 (PRM800K style); the same key again clears it.
    Rate(i8),
    /// Agreement numbers and labelling pace (overlay).
    Agreement,
    /// Open or close the failure report screen.
    Report,
    /// A digit key no binding claims (the category chooser reads it).
    Digit(u8),
    /// Typed into the search field.
    SearchInput(char),
    /// Text pasted (bracketed paste): goes into the search field while searching.
    Paste(String),
    /// Read what other processes wrote to the label journals (a periodic tick).
    RefreshJournals,
    SearchBackspace,
    SearchCommit,
    /// Mouse: click at a screen cell.
    Click {
        column: u16,
        row: u16,
    },
    /// Mouse wheel at a screen cell: positive = down.
    Scroll {
        column: u16,
        row: u16,
        lines: i32,
    },
    Resize {
        width: u16,
        height: u16,
    },
}

impl Action {
    /// Names used in the config file's `[keys]` table.
    pub fn from_name(name: &str) -> Option<Action> {
        Some(match name {
            "up" => Action::Up,
            "down" => Action::Down,
            "page_up" => Action::PageUp,
            "page_down" => Action::PageDown,
            "top" => Action::Top,
            "bottom" => Action::Bottom,
            "switch_focus" => Action::SwitchFocus,
            "open" => Action::Open,
            "first_error" => Action::MarkFirstError,
            "no_error" => Action::MarkNoError,
            "clear" => Action::ClearLabel,
            "undo" => Action::Undo,
            "redo" => Action::Redo,
            "next_unlabelled" => Action::NextUnlabelled,
            "search" => Action::StartSearch,
            "filter" => Action::CycleFilter,
            "help" => Action::ToggleHelp,
            "cancel" => Action::Cancel,
            "score" => Action::ScoreTrace,
            "score_all" => Action::ScoreVisible,
            "verifiers" => Action::VerifierMenu,
            "toggle" => Action::Toggle,
            "quit" => Action::Quit,
            "refine_local" => Action::RefineLocal,
            "refine_global" => Action::RefineGlobal,
            "intervene" => Action::Intervene,
            "fork" => Action::Fork,
            "edit_step" => Action::EditStep,
            "generate" => Action::Generate,
            "accept" => Action::Accept,
            "ask" => Action::Ask,
            "compare" => Action::Compare,
            "next_candidate" => Action::NextCandidate,
            "prev_candidate" => Action::PrevCandidate,
            "category" => Action::Category,
            "note" => Action::Note,
            "rate_good" => Action::Rate(1),
            "rate_neutral" => Action::Rate(0),
            "rate_bad" => Action::Rate(-1),
            "agreement" => Action::Agreement,
            "report" => Action::Report,
            _ => return None,
        })
    }
}
