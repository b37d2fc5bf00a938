//! What a step asserts and what it only tries: a step is cut into sentences, and a sentence is a
//! hypothesis, not a claim, when it is a question (`does 2^2 + 2 = 7?`), says something is false
//! or rejected (`is false`, `extraneous`, `we discard`, `contradicts`, `does not satisfy`), or
//! belongs to a trial (`substitute`, `plug in`, `check`, `try` …) that ends in a rejection or a
//! comparison (`less than`, `too small`, `No,`). A hypothesis gives no claims and binds no names.
//!
//! A scope that lists alternatives (`or`, `either`, `roots`, `solutions`, `\pm`) holds sets of
//! values, not values: see `scope::claims`.

use std::sync::OnceLock;

use regex::Regex;

use super::parts::{self, Part};
use super::pattern::re;

/// One sentence of a step: its parts, whether it opens a new scope (a case or a paragraph), and
/// all its text (prose and math) for the markers.
#[derive(Debug, Default)]
pub struct Sentence {
    pub parts: Vec<Part>,
    pub opens_scope: bool,
    text: String,
}

/// Said to be false or set aside: the sentence is no claim.
fn rejects(text: &str) -> bool {
    static REJECT: OnceLock<Regex> = OnceLock::new();
    re(
        &REJECT,
        concat!(
            r"(?i)\b(?:false|untrue|incorrect|wrong|extraneous|discard\w*|reject\w*|contradict\w*|impossible|invalid|mistaken?|fails?|failed)\b",
            r"|\bnot\s+(?:true|valid|possible|allowed|satisf\w*)\b",
            r"|\b(?:is|are|was|were|does|do|did|will|would|can)\s+not\s+(?:satisfy|satisfies|work|hold|equal|be\s+a\s+solution)\b",
            r"|\b(?:isn|aren|doesn|don|didn|won|can)['’]t\s+(?:satisfy|satisfies|work|hold|equal)\b",
            r"|\bcannot\s+(?:satisfy|work|hold|equal|be)\b",
            r"|\bnot\s+(?:a\s+|an\s+)?(?:valid\s+|possible\s+|real\s+)?(?:solution|root|answer)s?\b",
            r"|\(False\)|✗",
        ),
    )
    .is_match(text)
}

/// Opens a trial: a value put in to see whether it works.
fn tries(text: &str) -> bool {
    static TRIAL: OnceLock<Regex> = OnceLock::new();
    re(&TRIAL, r"(?i)\b(?:substitut\w*|plug\w*|check\w*|verif\w*|test\w*|try|tries|trying|guess\w*)\b").is_match(text)
}

/// Ends a trial with a verdict against the tried value.
fn compares(text: &str) -> bool {
    static COMPARE: OnceLock<Regex> = OnceLock::new();
    rejects(text)
        || re(
            &COMPARE,
            r"(?i)\b(?:less|greater|more|fewer|smaller|larger|bigger|higher|lower)\s+than\b|\btoo\s+(?:small|large|big|few|many|low|high|much|little)\b|\bnot\s+enough\b|\bexceed\w*|\bshort\s+of\b|\binstead\s+of\b|\bno\b|\bnot\s+equal|\\neq?\b|≠",
        )
        .is_match(text)
}

/// Whether a scope's prose or math lists alternatives: a name it binds holds a set of values.
pub fn lists_alternatives(text: &str) -> bool {
    static ALT: OnceLock<Regex> = OnceLock::new();
    re(&ALT, r"(?i)\b(?:or|either|roots|solutions|zeros|zeroes)\b|\\pm\b|\\mp\b|±|∓").is_match(text)
}

/// Sentences of a step's text: cut after `.`, `!` or `?` before a space or the end, at line ends,
/// and where a case or a paragraph starts (those open a new scope).
pub fn sentences(text: &str) -> Vec<Sentence> {
    let mut out = vec![Sentence::default()];
    for part in parts::parts(text) {
        let prose = match &part {
            Part::Prose(prose) => prose,
            Part::Display(body) | Part::Inline(body) => {
                let current = out.last_mut().expect("one sentence");
                current.text.push_str(body);
                current.text.push(' ');
                current.parts.push(part);
                continue;
            }
        };
        for (piece, opens, ends) in pieces(prose) {
            if opens && !out.last().expect("one sentence").parts.is_empty() {
                out.push(Sentence { opens_scope: true, ..Default::default() });
            }
            let current = out.last_mut().expect("one sentence");
            current.opens_scope |= opens;
            current.text.push_str(piece);
            current.parts.push(Part::Prose(piece.to_string()));
            if ends {
                out.push(Sentence::default());
            }
        }
    }
    out.retain(|s| !s.parts.is_empty());
    out
}

/// Prose cut into pieces: (text, opens a scope, ends a sentence).
fn pieces(prose: &str) -> Vec<(&str, bool, bool)> {
    static END: OnceLock<Regex> = OnceLock::new();
    // cut → (the piece after it opens a scope, the piece before it ends a sentence)
    let mut cuts: std::collections::BTreeMap<usize, (bool, bool)> = Default::default();
    for k in parts::case_starts(prose).into_iter().chain(prose.match_indices("\n\n").map(|(k, _)| k)) {
        cuts.entry(k).or_default().0 = true;
    }
    for m in re(&END, r"[.!?](?:\s|$)|\n").find_iter(prose) {
        cuts.entry(m.end()).or_default().1 = true;
    }
    let mut out = Vec::new();
    let (mut start, mut opens) = (0, false);
    for (at, (next_opens, ends)) in cuts {
        if at > start {
            out.push((&prose[start..at], opens, ends));
            (start, opens) = (at, next_opens);
        } else {
            opens |= next_opens;
        }
    }
    if start < prose.len() {
        out.push((&prose[start..], opens, false));
    }
    out
}

/// Which sentences are hypotheses: questions, rejections, and trials up to their verdict.
pub fn hypotheses(sentences: &[Sentence]) -> Vec<bool> {
    let mut out: Vec<bool> = sentences.iter().map(|s| rejects(&s.text) || s.text.trim_end().ends_with('?')).collect();
    let mut trial: Option<usize> = None;
    for (k, s) in sentences.iter().enumerate() {
        if tries(&s.text) {
            trial = Some(k);
        } else if s.opens_scope {
            trial = None;
        }
        if let Some(start) = trial {
            if compares(&s.text) {
                out[start..=k].iter_mut().for_each(|h| *h = true);
                trial = None;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(text: &str) -> Vec<bool> {
        hypotheses(&sentences(text))
    }

    #[test]
    fn sentences_cut_at_ends_and_cases() {
        let s = sentences(r"So \(x = 2\). If \(x = 3\), then \(y = 1\)? Yes.");
        let texts: Vec<&str> = s.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, vec!["So x = 2 . ", "If x = 3 , then y = 1 ? ", "Yes."]);
        assert_eq!(s.iter().map(|s| s.opens_scope).collect::<Vec<_>>(), vec![false, true, false]);
    }

    #[test]
    fn rejected_and_questioned_sentences_are_hypotheses() {
        assert_eq!(flags(r"We discard \(z = -1\). Thus \(z = 2\)."), vec![true, false]);
        assert_eq!(flags(r"Does \(2 + 2 = 5\)? No."), vec![true, false]);
        assert_eq!(flags("The sum is 5 + 3 = 8."), vec![false]);
    }

    #[test]
    fn a_trial_is_a_hypothesis_up_to_its_verdict() {
        let text = "Plug in 20: 3 + 19 * 5 = 100. Since 98 is less than 100, it is too small. So 2 + 2 = 4.";
        assert_eq!(flags(text), vec![true, true, false]);
        // A trial without a verdict against it stays a claim.
        assert_eq!(flags("Check: 3 * 4 = 12. It works."), vec![false, false]);
    }

    #[test]
    fn alternatives_are_listed_by_words_and_signs() {
        assert!(lists_alternatives("so x = 2 or x = 3"));
        assert!(lists_alternatives(r"x = \frac{3 \pm \sqrt{5}}{2}"));
        assert!(!lists_alternatives("the order is 5"));
    }
}
