//! Everything the user (or an event) can ask the app to do. Keys map to these through the keymap.

#[derive(Debug, Clone, PartialEq, Eq, strum::EnumIter)]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// `g`: a prefix; `g g` goes to the top.
    GoPrefix,
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
    /// Train a probe on the labels made so far; it joins the verifier menu.
    TrainProbe,
    /// Order the list by a probe's uncertainty about the first error (unlabelled first).
    QueueUncertain,
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
    /// Local, global and intervene at once: the three candidates decode together, side by side.
    Race,
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
    /// The selected step is where the model realises my first error.
    Realisation,
    /// Whether the model recovers from my first error: recovered, fatal, not said.
    Recovery,
    /// Rate the selected step +1 / 0 / −1 (PRM800K style); the same key again clears it.
    Rate(i8),
    /// Fold or unfold the section under the cursor (long chains of thought).
    Fold,
    /// Fold every section, or unfold them all.
    FoldAll,
    /// The next reflection ("Wait", "Hmm", …).
    NextReflection,
    /// The first step of the next / previous section.
    NextSection,
    PrevSection,
    /// The next step a shown verifier flags.
    NextFlagged,
    /// Enter or leave adjudication mode: e / c / x decide a gold label with a reason.
    Adjudicate,
    /// Agreement numbers and labelling pace (overlay).
    Agreement,
    /// Open or close the failure report screen.
    Report,
    /// A digit key no binding claims (the category chooser reads it).
    Digit(u8),
    /// Typed into the text field open (search, step editor, question, note).
    TextInput(char),
    /// Text pasted (bracketed paste): goes into the text field open.
    Paste(String),
    /// Read what other processes wrote to the label journals (a periodic tick).
    RefreshJournals,
    TextBackspace,
    /// Enter in a text field.
    TextCommit,
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

/// One action a key can be bound to: its name in the config file's `[keys]` table, its default
/// keys and its line in the help overlay. The keymap, `[keys]` and help read this table only;
/// a test fails when an action is in none of it.
pub struct Binding {
    pub action: Action,
    pub name: &'static str,
    pub keys: &'static [&'static str],
    pub help: &'static str,
}

/// Every bindable action, in the order help lists them.
pub const BINDINGS: &[Binding] = &[
    Binding {
        action: Action::Down,
        name: "down",
        keys: &["j", "down"],
        help: "move down in the focused pane (3j: three)",
    },
    Binding { action: Action::Up, name: "up", keys: &["k", "up"], help: "move up" },
    Binding { action: Action::PageDown, name: "page_down", keys: &["pgdn", "ctrl-d"], help: "page down" },
    Binding { action: Action::PageUp, name: "page_up", keys: &["pgup", "ctrl-u"], help: "page up" },
    Binding { action: Action::Top, name: "top", keys: &["home"], help: "first" },
    Binding { action: Action::GoPrefix, name: "go", keys: &["g"], help: "g g: the first trace (or step)" },
    Binding { action: Action::Bottom, name: "bottom", keys: &["G", "end"], help: "last" },
    Binding {
        action: Action::SwitchFocus, name: "switch_focus", keys: &["tab"], help: "switch focus: traces ↔ steps"
    },
    Binding { action: Action::Open, name: "open", keys: &["enter"], help: "open the selected trace's steps" },
    Binding {
        action: Action::MarkFirstError,
        name: "first_error",
        keys: &["e"],
        help: "first error is the selected step (3e: step 3)",
    },
    Binding { action: Action::MarkNoError, name: "no_error", keys: &["c"], help: "no error in this trace" },
    Binding { action: Action::ClearLabel, name: "clear", keys: &["x"], help: "clear my label" },
    Binding { action: Action::Undo, name: "undo", keys: &["u"], help: "undo the last label change" },
    Binding { action: Action::Redo, name: "redo", keys: &["U", "ctrl-r"], help: "redo" },
    Binding {
        action: Action::NextUnlabelled,
        name: "next_unlabelled",
        keys: &["n"],
        help: "next trace I have not labelled (after a search: next match)",
    },
    Binding {
        action: Action::Category,
        name: "category",
        keys: &["#"],
        help: "category of my first error (1–9; also offered after e)",
    },
    Binding {
        action: Action::Note,
        name: "note",
        keys: &["N"],
        help: "a note on my label (after a search: previous match)",
    },
    Binding {
        action: Action::Realisation,
        name: "realisation",
        keys: &["y"],
        help: "the model realises my first error at the selected step (again: unset)",
    },
    Binding {
        action: Action::Recovery,
        name: "recovery",
        keys: &["Y"],
        help: "does the model recover from it: recovered → fatal → not said",
    },
    Binding {
        action: Action::Rate(1),
        name: "rate_good",
        keys: &["+"],
        help: "rate the selected step +1 (the same key again clears)",
    },
    Binding { action: Action::Rate(0), name: "rate_neutral", keys: &["0"], help: "rate the selected step 0 (neutral)" },
    Binding { action: Action::Rate(-1), name: "rate_bad", keys: &["-"], help: "rate the selected step −1 (bad)" },
    Binding {
        action: Action::Agreement,
        name: "agreement",
        keys: &["K"],
        help: "agreement (κ, α, exact, ±1) and labelling pace",
    },
    Binding { action: Action::Fold, name: "fold", keys: &["z"], help: "fold / unfold the section under the cursor" },
    Binding { action: Action::FoldAll, name: "fold_all", keys: &["Z"], help: "fold every section / unfold all" },
    Binding {
        action: Action::NextReflection,
        name: "next_reflection",
        keys: &["w"],
        help: "next reflection (Wait, Hmm, Actually, …)",
    },
    Binding { action: Action::NextSection, name: "next_section", keys: &["}"], help: "next section (a new approach)" },
    Binding { action: Action::PrevSection, name: "prev_section", keys: &["{"], help: "previous section" },
    Binding { action: Action::NextFlagged, name: "next_flagged", keys: &["!"], help: "next step a verifier flags" },
    Binding {
        action: Action::Adjudicate,
        name: "adjudicate",
        keys: &["D"],
        help: "adjudicate: e / c / x set the gold label, and why",
    },
    Binding { action: Action::Report, name: "report", keys: &["P"], help: "failure report screen" },
    Binding {
        action: Action::StartSearch,
        name: "search",
        keys: &["/"],
        help: "search ids, problems and steps; #calc: by category",
    },
    Binding {
        action: Action::CycleFilter,
        name: "filter",
        keys: &["f"],
        help: "cycle filters: all, unlabelled, labelled, disagree, verifier, wrong",
    },
    Binding {
        action: Action::ScoreTrace,
        name: "score",
        keys: &["v"],
        help: "run the chosen verifiers on this trace (compare: on all, the first model verifier reranks)",
    },
    Binding {
        action: Action::ScoreVisible,
        name: "score_all",
        keys: &["V"],
        help: "run them on every trace the filter shows",
    },
    Binding { action: Action::VerifierMenu, name: "verifiers", keys: &["m"], help: "choose verifiers" },
    Binding {
        action: Action::TrainProbe,
        name: "train_probe",
        keys: &["T"],
        help: "train a probe on the labels so far (model thread, Esc cancels); it joins the menu",
    },
    Binding {
        action: Action::QueueUncertain,
        name: "queue_uncertain",
        keys: &["O"],
        help: "order the list by the probe's uncertainty: unlabelled, least sure first error first",
    },
    Binding {
        action: Action::Toggle,
        name: "toggle",
        keys: &["space"],
        help: "verifier menu: switch the verifier under the cursor on or off",
    },
    Binding {
        action: Action::RefineLocal,
        name: "refine_local",
        keys: &["r"],
        help: "refine from the first error (local: the question again, earlier steps kept)",
    },
    Binding {
        action: Action::RefineGlobal,
        name: "refine_global",
        keys: &["R"],
        help: "rewrite the whole solution (global)",
    },
    Binding {
        action: Action::Intervene,
        name: "intervene",
        keys: &["i"],
        help: "replace the first wrong step with the reference in view, continue",
    },
    Binding {
        action: Action::Fork,
        name: "fork",
        keys: &["F"],
        help: "sample continuations before the first error: m of N reach the answer",
    },
    Binding {
        action: Action::Race,
        name: "race",
        keys: &["X"],
        help: "race: local, global and intervene stream at once, side by side",
    },
    Binding {
        action: Action::EditStep,
        name: "edit_step",
        keys: &["E"],
        help: "rewrite a step by hand; the generator continues after it",
    },
    Binding {
        action: Action::Generate,
        name: "generate",
        keys: &["S"],
        help: "generate a new solution of this problem (added to the list)",
    },
    Binding {
        action: Action::Ask,
        name: "ask",
        keys: &["A"],
        help: "type a question; the generator solves it (saved to asked.jsonl)",
    },
    Binding {
        action: Action::Accept,
        name: "accept",
        keys: &["a"],
        help: "compare: save the candidate shown under its draft",
    },
    Binding { action: Action::Compare, name: "compare", keys: &["C"], help: "open / close the compare screen" },
    Binding {
        action: Action::NextCandidate,
        name: "next_candidate",
        keys: &["]", "right"],
        help: "compare: next candidate",
    },
    Binding {
        action: Action::PrevCandidate,
        name: "prev_candidate",
        keys: &["[", "left"],
        help: "compare: previous candidate",
    },
    Binding {
        action: Action::Cancel,
        name: "cancel",
        keys: &["esc"],
        help: "cancel scoring, refinement or training / close / clear",
    },
    Binding { action: Action::ToggleHelp, name: "help", keys: &["?"], help: "this help" },
    Binding { action: Action::Quit, name: "quit", keys: &["q", "ctrl-c"], help: "quit (labels are already saved)" },
];

impl Action {
    /// The action a name of the config file's `[keys]` table stands for.
    pub fn from_name(name: &str) -> Option<Action> {
        BINDINGS.iter().find(|b| b.name == name).map(|b| b.action.clone())
    }

    /// Whether the action comes from an event rather than a bound key: a digit for the category
    /// chooser, text typed into a field, the mouse, a resize, the journal refresh tick.
    pub fn is_event(&self) -> bool {
        matches!(
            self,
            Action::Digit(_)
                | Action::TextInput(_)
                | Action::TextBackspace
                | Action::TextCommit
                | Action::Paste(_)
                | Action::RefreshJournals
                | Action::Click { .. }
                | Action::Scroll { .. }
                | Action::Resize { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    /// Every action a key can ask for has a name, a default key and a line of help.
    #[test]
    fn every_key_action_has_a_name_a_default_key_and_help() {
        let same_kind = |a: &Action, b: &Action| std::mem::discriminant(a) == std::mem::discriminant(b);
        let mut missing = Vec::new();
        for action in Action::iter().filter(|a| !a.is_event()) {
            let bound = BINDINGS.iter().filter(|b| same_kind(&b.action, &action)).collect::<Vec<_>>();
            if bound.is_empty() || bound.iter().any(|b| b.keys.is_empty() || b.help.trim().is_empty()) {
                missing.push(format!("{action:?}"));
            }
        }
        assert!(missing.is_empty(), "actions without a binding, a default key or help: {missing:?}");
        let mut names: Vec<&str> = BINDINGS.iter().map(|b| b.name).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "two bindings share a name");
        assert!(BINDINGS.iter().all(|b| !b.action.is_event()), "an event action is in the key table");
    }
}
