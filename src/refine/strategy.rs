//! What each refinement strategy asks of the generator (docs/methods.md §8): the conversation,
//! the steps of the draft kept verbatim at the start of the answer, and where it starts.
//!
//! - `global`: the question and the draft; a whole new solution.
//! - `local`: the question asked as it was (template `local`, by default the question alone),
//!   steps before k kept, the model continues from there (their tokens are read once and forked
//!   for each sample). The wrong step is never shown: models of 1.5B or less copy it back.
//! - `local-critique`: GLoRe's prompt, the draft with `[BAD]` before step k, steps before k kept;
//!   for models trained on it.
//! - `intervene`: first one replacement for step k, written with the reference answer in view;
//!   then a plain continuation from the kept steps plus that replacement.
//! - `fork`: the question asked plainly, the steps before k kept; sampled several times, each
//!   continuation checked against the reference ("m of N reach the answer").
//! - `edit`: a step the user rewrote by hand replaces step k; the model continues after it.
//! - `generate`: a fresh solution of the question (no draft steps kept).

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use anyhow::{bail, Result};

use super::prompts::{template, PromptInput};
use crate::model::generate::GenerateParams;
use crate::model::sample::SamplingParams;
use crate::model::Message;
use crate::trace::Trace;

/// The system turn of every generation (the one `generate` uses by default).
pub const SYSTEM: &str = "Please reason step by step, and put your final answer within \\boxed{}.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    Global,
    Local,
    LocalCritique,
    Intervene,
    Fork,
    Edit,
    Generate,
}

impl Strategy {
    pub const ALL: [Strategy; 7] = [
        Strategy::Global,
        Strategy::Local,
        Strategy::LocalCritique,
        Strategy::Intervene,
        Strategy::Fork,
        Strategy::Edit,
        Strategy::Generate,
    ];

    /// A strategy `refine --strategy` can run over a file: not `edit` (it needs a step rewritten
    /// by hand) nor `generate` (a fresh solution, which is `generate`'s work).
    pub fn batch(s: &str) -> Result<Strategy, String> {
        match s.parse()? {
            Strategy::Edit | Strategy::Generate => {
                Err(format!("'{s}' is a TUI action (expected local, local-critique, global, intervene or fork)"))
            }
            strategy => Ok(strategy),
        }
    }
}

impl FromStr for Strategy {
    type Err = String;
    /// Every name [`Strategy`] displays as (provenance records read back through this).
    fn from_str(s: &str) -> Result<Strategy, String> {
        Strategy::ALL.into_iter().find(|k| k.to_string() == s).ok_or_else(|| {
            format!("unknown strategy '{s}' (expected local, local-critique, global, intervene or fork)")
        })
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strategy::Global => "global",
            Strategy::Local => "local",
            Strategy::LocalCritique => "local-critique",
            Strategy::Intervene => "intervene",
            Strategy::Fork => "fork",
            Strategy::Edit => "edit",
            Strategy::Generate => "generate",
        })
    }
}

/// One generation to run: the conversation and the answer's start (kept steps, verbatim).
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    pub messages: Vec<Message>,
    pub kept: Vec<String>,
    /// Text of the prompt that is neither the question nor the draft (the `[BAD]` marker, the
    /// instructions): a candidate ends where it starts echoing one (generation stop strings).
    pub echoes: Vec<String>,
}

impl Ask {
    /// The text the answer starts with: the kept steps, each followed by a blank line.
    pub fn answer_start(&self) -> String {
        self.kept.iter().map(|s| format!("{}\n\n", s.trim())).collect()
    }
}

/// A strategy applied to one draft: what to ask, and provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub strategy: Strategy,
    /// The first wrong step it starts from (global: the one it was told of, if any).
    pub from_step: Option<usize>,
    /// `NAME@hash` of the prompt template used.
    pub prompt_version: String,
    pub ask: Ask,
    /// `edit`: the step as the user rewrote it (saved as a human intervention).
    pub edited: Option<String>,
    /// How many times a rewrite that visibly failed ([`why_again`]) is sampled again (`local`).
    pub resamples: usize,
}

/// `local`'s resamples of a rewrite that shows it failed ([`why_again`]) [U]: greedy decoding
/// of a small model loops until the token limit more often than a sample does, and a sample at
/// temperature 0.7 often avoids a slip the greedy path walks into.
pub const LOCAL_RESAMPLES: usize = 3;

/// What the resample rule of `local` looks at (part of a stored candidate's key).
pub const RESAMPLE_RULE: &str = "repeat,no-answer,arith";

/// Prompt version of the plans that ask the question as it is (no template).
pub const PLAIN: &str = "plain";

/// Plans a strategy for `draft` with first error `k`. `prompts` is the user's prompts folder.
/// Local, intervene and fork need a first error; intervene and fork also need the reference
/// answer. `edit` is planned by [`plan_edit`].
pub fn plan(strategy: Strategy, draft: &Trace, k: Option<usize>, prompts: Option<&Path>) -> Result<Plan> {
    let steps = draft.step_texts();
    if let Some(k) = k.filter(|&k| k >= steps.len()) {
        bail!("trace {}: step {k} does not exist (the trace has {} steps)", draft.id, steps.len());
    }
    let needs_k = || {
        match k {
        Some(k) => Ok(k),
        None => bail!(
            "trace {}: {strategy} refinement needs a first error (a label, a verifier's first error, or a step you choose)",
            draft.id
        ),
    }
    };
    match strategy {
        Strategy::Fork => {
            let k = needs_k()?;
            if draft.reference_answer.is_none() {
                bail!(
                    "trace {}: fork needs the reference answer to check its continuations, and the trace has none",
                    draft.id
                );
            }
            return Ok(plain(strategy, draft, Some(k), steps[..k].iter().map(|s| s.to_string()).collect()));
        }
        Strategy::Generate => return Ok(plain(strategy, draft, None, Vec::new())),
        Strategy::Edit => bail!("trace {}: an edit needs the rewritten step (plan_edit)", draft.id),
        _ => {}
    }
    let mut input = PromptInput {
        problem: &draft.problem,
        steps: steps.clone(),
        bad: k,
        reference: draft.reference_answer.as_deref(),
        reference_solution: None,
    };
    let (name, kept) = match strategy {
        Strategy::Global => ("global", Vec::new()),
        Strategy::Local => {
            // The template sees only the kept steps: the wrong one is nowhere to copy from.
            let k = needs_k()?;
            input.steps.truncate(k);
            ("local", steps[..k].iter().map(|s| s.to_string()).collect())
        }
        Strategy::LocalCritique => ("local-critique", steps[..needs_k()?].iter().map(|s| s.to_string()).collect()),
        Strategy::Intervene => {
            let k = needs_k()?;
            if draft.reference_answer.is_none() {
                bail!("trace {}: intervene needs the reference answer, and the trace has none", draft.id);
            }
            ("intervene", steps[..k].iter().map(|s| s.to_string()).collect())
        }
        Strategy::Fork | Strategy::Edit | Strategy::Generate => unreachable!("planned above"),
    };
    let t = template(name, prompts)?;
    let prompt = t.render(&input)?;
    // Intervene first asks for the replacement step alone; `continuation` then builds the rest.
    let echoes = echoes_of(&prompt, draft);
    let messages = vec![Message::new("system", SYSTEM), Message::new("user", &prompt)];
    let ask = match strategy {
        Strategy::Intervene => Ask { messages, kept: Vec::new(), echoes },
        _ => Ask { messages, kept, echoes },
    };
    let resamples = if strategy == Strategy::Local { LOCAL_RESAMPLES } else { 0 };
    Ok(Plan { strategy, from_step: k, prompt_version: t.version, ask, edited: None, resamples })
}

/// Whether a rewrite from step `k` repeats the draft's error: its first new step is the draft's
/// step `k` (spacing aside), or it reaches the draft's final answer while that answer is not
/// known to be right. Neither needs the reference answer.
pub fn repeats(draft: &Trace, k: usize, first_step: Option<&str>, final_answer: Option<&str>) -> bool {
    let same_step = match (first_step, draft.steps.get(k)) {
        (Some(new), Some(old)) => new.split_whitespace().eq(old.text.split_whitespace()),
        _ => false,
    };
    let same_answer = match (final_answer, draft.final_answer.as_deref()) {
        (Some(new), Some(old)) => draft.answer_correct() != Some(true) && crate::trace::answer::same_answer(new, old),
        _ => false,
    };
    same_step || same_answer
}

/// Why a rewrite from step `k` should be sampled again, if it should: it [`repeats`] the
/// error, it reached no final answer, or the arithmetic checker sees a wrong claim in one of its
/// new steps. None of these needs the reference answer. `new_steps` are the rewrite's steps.
pub fn why_again(draft: &Trace, k: usize, new_steps: &[&str], final_answer: Option<&str>) -> Option<String> {
    if repeats(draft, k, new_steps.first().copied(), final_answer) {
        return Some("repeats the error".into());
    }
    if final_answer.is_none() {
        return Some("reached no final answer".into());
    }
    let slip = new_steps.iter().position(|s| crate::arith::first_wrong(s).is_some());
    slip.map(|i| format!("has an arithmetic slip in step {}", k + i))
}

/// The generation settings of attempt `attempt` of one candidate: the first as asked, each
/// resample at temperature 0.7 (at least) from its own seed stream.
pub fn attempt_params(params: &GenerateParams, attempt: usize) -> GenerateParams {
    if attempt == 0 {
        return params.clone();
    }
    let mut p = params.clone();
    p.sampling.temperature = p.sampling.temperature.max(0.7);
    p.sampling.seed = params.sampling.seed ^ ((attempt as u64) << 32);
    p
}

/// What a candidate must not copy from a templated prompt: the `[BAD]` marker and each line of
/// at least 24 characters that is in neither the question nor a draft step (instructions).
fn echoes_of(prompt: &str, draft: &Trace) -> Vec<String> {
    let mut out = vec!["[BAD]".to_string()];
    for line in prompt.lines().map(str::trim) {
        let from_draft = draft.problem.contains(line) || draft.steps.iter().any(|s| s.text.contains(line));
        if line.chars().count() >= 24 && !from_draft && !out.iter().any(|o| o == line) {
            out.push(line.to_string());
        }
    }
    out
}

/// The user's rewrite of step `k` replaces it; the model continues after it.
pub fn plan_edit(draft: &Trace, k: usize, text: &str) -> Result<Plan> {
    let steps = draft.step_texts();
    if k >= steps.len() {
        bail!("trace {}: step {k} does not exist (the trace has {} steps)", draft.id, steps.len());
    }
    let text = text.trim();
    if text.is_empty() {
        bail!("trace {}: the rewritten step {k} is empty", draft.id);
    }
    let mut kept: Vec<String> = steps[..k].iter().map(|s| s.to_string()).collect();
    kept.push(text.to_string());
    let mut p = plain(Strategy::Edit, draft, Some(k), kept);
    p.edited = Some(text.to_string());
    Ok(p)
}

/// A plan that asks the question as it was asked, the answer starting with `kept`.
fn plain(strategy: Strategy, draft: &Trace, k: Option<usize>, kept: Vec<String>) -> Plan {
    let messages = vec![Message::new("system", SYSTEM), Message::new("user", &draft.problem)];
    let ask = Ask { messages, kept, echoes: Vec::new() };
    Plan { strategy, from_step: k, prompt_version: PLAIN.into(), ask, edited: None, resamples: 0 }
}

/// Generation settings of one sample: greedy, unless several samples are drawn or the strategy
/// samples by nature (fork estimates how often a prefix reaches the answer; generate writes a
/// fresh solution), then temperature 0.7.
pub fn sample_params(strategy: Strategy, samples: usize, max_tokens: usize, seed: u64) -> GenerateParams {
    let sampled = samples > 1 || matches!(strategy, Strategy::Fork | Strategy::Generate);
    GenerateParams {
        max_tokens,
        sampling: SamplingParams { temperature: if sampled { 0.7 } else { 0.0 }, top_p: 0.95, seed },
        stop: Vec::new(),
        top_k: 20,
        stop_at_answer: true,
    }
}

/// Intervene's second generation: the problem as asked originally, the answer starting with the
/// kept steps and the replacement step.
pub fn continuation(draft: &Trace, k: usize, replacement: &str) -> Ask {
    let mut kept: Vec<String> = draft.step_texts()[..k].iter().map(|s| s.to_string()).collect();
    kept.push(first_paragraph(replacement).to_string());
    Ask {
        messages: vec![Message::new("system", SYSTEM), Message::new("user", &draft.problem)],
        kept,
        echoes: Vec::new(),
    }
}

/// The replacement step: the first paragraph of what the model wrote, without a `Step k:` head,
/// and before a line that starts the next `Step N` (asked for one step, a model often writes the
/// rest of the solution on the lines after it).
pub fn first_paragraph(text: &str) -> &str {
    let text = text.trim();
    let para = text.split("\n\n").next().unwrap_or(text).trim();
    let step = match para.split_once(':') {
        Some((head, rest)) if is_step_head(head) => rest.trim(),
        _ => para,
    };
    let next = step.match_indices('\n').map(|(i, _)| i).find(|&i| {
        let line = step[i + 1..].trim_start();
        line.split_once(':').is_some_and(|(head, _)| is_step_head(head))
    });
    next.map_or(step, |i| step[..i].trim_end())
}

/// `Step 3`, `Step 12` (a step header before its colon).
fn is_step_head(head: &str) -> bool {
    let head = head.trim();
    head.len() < 12 && head.strip_prefix("Step").is_some_and(|n| n.trim().chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> Trace {
        let mut t = Trace::from_step_texts(
            "eggs",
            "A box holds 6 eggs. How many eggs are in 4 boxes?",
            &["Each box holds 6 eggs.", "4 × 6 = 26.", "The answer is \\boxed{26}."],
        );
        t.reference_answer = Some("24".into());
        t
    }

    #[test]
    fn local_keeps_the_steps_before_the_error() {
        let p = plan(Strategy::Local, &draft(), Some(1), None).unwrap();
        assert_eq!(p.ask.kept, ["Each box holds 6 eggs."]);
        assert_eq!(p.ask.answer_start(), "Each box holds 6 eggs.\n\n");
        // The question as it was asked; the wrong step is nowhere in the conversation.
        assert_eq!(p.ask.messages[1].content.trim(), draft().problem);
        assert!(p.ask.messages.iter().all(|m| !m.content.contains("26") && !m.content.contains("[BAD]")));
        assert!(p.prompt_version.starts_with("local@"));
        assert_eq!(p.from_step, Some(1));
        // GLoRe's marked draft stays available under its own name.
        let c = plan(Strategy::LocalCritique, &draft(), Some(1), None).unwrap();
        assert_eq!(c.ask.kept, p.ask.kept);
        assert!(c.ask.messages[1].content.contains("[BAD] 4 × 6 = 26."));
        assert!(c.prompt_version.starts_with("local-critique@"));
        assert_eq!("local-critique".parse::<Strategy>().unwrap(), Strategy::LocalCritique);
        // Its instructions and marker are echoes a candidate stops at; the draft's text is not.
        assert!(c.ask.echoes.iter().any(|e| e == "[BAD]"));
        assert!(c.ask.echoes.iter().any(|e| e.starts_with("Rewrite the solution")), "{:?}", c.ask.echoes);
        assert!(c.ask.echoes.iter().all(|e| !e.contains("eggs")), "{:?}", c.ask.echoes);
        // The first error at step 0 keeps nothing.
        assert!(plan(Strategy::Local, &draft(), Some(0), None).unwrap().ask.kept.is_empty());
    }

    #[test]
    fn a_rewrite_repeats_the_error_by_its_first_step_or_the_drafts_answer() {
        let mut d = draft();
        d.final_answer = Some("26".into());
        assert!(repeats(&d, 1, Some(" 4 ×  6 = 26.\n"), None), "the flagged step again, spacing aside");
        assert!(!repeats(&d, 1, Some("4 × 6 = 24."), Some("24")));
        assert!(repeats(&d, 1, Some("4 boxes of 6 make 26."), Some("26.0")), "the draft's answer again");
        assert!(!repeats(&d, 1, None, None));
        // Resampled: a repeat, no final answer, a slip the checker sees; not a clean new path.
        assert_eq!(why_again(&d, 1, &["4 × 6 = 26."], Some("26")).unwrap(), "repeats the error");
        assert_eq!(why_again(&d, 1, &["4 × 6 = 24.", "So 24 eggs"], None).unwrap(), "reached no final answer");
        let slip = why_again(&d, 1, &["4 × 6 = 24.", "24 + 1 = 26.", "\\boxed{26}"], Some("27"));
        assert_eq!(slip.unwrap(), "has an arithmetic slip in step 2");
        assert_eq!(why_again(&d, 1, &["4 × 6 = 24.", "The answer is \\boxed{24}."], Some("24")), None);
        // A draft whose answer is right (an error on the way): reaching it again is no repeat.
        d.final_answer_correct = Some(true);
        assert!(!repeats(&d, 1, Some("4 boxes of 6 make 26."), Some("26")));
        // Only local resamples, and each resample draws from its own seed at temperature 0.7.
        assert_eq!(plan(Strategy::Local, &d, Some(1), None).unwrap().resamples, LOCAL_RESAMPLES);
        assert_eq!(plan(Strategy::LocalCritique, &d, Some(1), None).unwrap().resamples, 0);
        assert_eq!(plan(Strategy::Fork, &d, Some(1), None).unwrap().resamples, 0);
        let greedy = sample_params(Strategy::Local, 1, 64, 42);
        let first = attempt_params(&greedy, 0).sampling;
        assert_eq!((first.temperature, first.seed), (0.0, 42), "the first attempt as asked");
        let (a, b) = (attempt_params(&greedy, 1), attempt_params(&greedy, 2));
        assert_eq!((a.sampling.temperature, b.sampling.temperature), (0.7, 0.7));
        assert!(a.sampling.seed != 42 && b.sampling.seed != a.sampling.seed && a.sampling.seed != 43);
    }

    #[test]
    fn global_keeps_nothing_and_needs_no_error() {
        let p = plan(Strategy::Global, &draft(), None, None).unwrap();
        assert!(p.ask.kept.is_empty());
        assert!(p.ask.messages[1].content.contains("4 × 6 = 26."));
    }

    #[test]
    fn intervene_asks_for_one_step_then_continues_after_it() {
        let p = plan(Strategy::Intervene, &draft(), Some(1), None).unwrap();
        assert!(p.ask.kept.is_empty(), "the first generation writes the replacement alone");
        assert!(p.ask.messages[1].content.contains("Correct final answer: 24"));
        let c = continuation(&draft(), 1, "Step 1: 4 × 6 = 24.\n\nThen the rest.");
        assert_eq!(c.kept, ["Each box holds 6 eggs.", "4 × 6 = 24."]);
        // One step, even when the model writes on with the next steps' headers.
        let on = "Step 1: 4 × 6 = 24.\nStep 2: So \\boxed{24}.\nTo verify: …";
        assert_eq!(first_paragraph(on), "4 × 6 = 24.");
        assert_eq!(first_paragraph("Stepping back: 4 × 6 = 24.\nSo 24."), "Stepping back: 4 × 6 = 24.\nSo 24.");
        assert_eq!(c.messages[1].content, draft().problem);
    }

    #[test]
    fn what_is_missing_is_named() {
        let e = plan(Strategy::Local, &draft(), None, None).unwrap_err().to_string();
        assert!(e.contains("local refinement needs a first error"), "{e}");
        let mut no_ref = draft();
        no_ref.reference_answer = None;
        let e = plan(Strategy::Intervene, &no_ref, Some(1), None).unwrap_err().to_string();
        assert!(e.contains("intervene needs the reference answer"), "{e}");
        let e = plan(Strategy::Local, &draft(), Some(3), None).unwrap_err().to_string();
        assert!(e.contains("step 3 does not exist"), "{e}");
        assert_eq!("local".parse::<Strategy>().unwrap().to_string(), "local");
        assert!("fix".parse::<Strategy>().is_err());
        // Every strategy reads back from the name it is stored under; a batch runs no TUI action.
        for s in Strategy::ALL {
            assert_eq!(s.to_string().parse::<Strategy>(), Ok(s));
        }
        assert!(Strategy::batch("edit").unwrap_err().contains("TUI action"));
        assert_eq!(Strategy::batch("local-critique"), Ok(Strategy::LocalCritique));
        let e = plan(Strategy::Fork, &no_ref, Some(1), None).unwrap_err().to_string();
        assert!(e.contains("fork needs the reference answer"), "{e}");
        assert!(plan_edit(&draft(), 1, "  ").unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn fork_edit_and_generate_ask_the_question_plainly() {
        let f = plan(Strategy::Fork, &draft(), Some(2), None).unwrap();
        assert_eq!(f.ask.kept, ["Each box holds 6 eggs.", "4 × 6 = 26."]);
        assert_eq!(f.ask.messages[1].content, draft().problem);
        assert_eq!(f.prompt_version, PLAIN);
        let e = plan_edit(&draft(), 1, " 4 × 6 = 24. ").unwrap();
        assert_eq!(e.ask.kept, ["Each box holds 6 eggs.", "4 × 6 = 24."]);
        assert_eq!((e.strategy, e.from_step, e.edited.as_deref()), (Strategy::Edit, Some(1), Some("4 × 6 = 24.")));
        let g = plan(Strategy::Generate, &draft(), None, None).unwrap();
        assert!(g.ask.kept.is_empty());
        assert_eq!(g.ask.messages[1].content, draft().problem);
        assert_eq!("fork".parse::<Strategy>().unwrap(), Strategy::Fork);
    }
}
