//! Writers: native JSONL, ProcessBench JSON, PRM800K-style JSONL, TRL stepwise rows.

use std::io::{self, Write};

use serde_json::{json, Map, Value};

use super::formats::native;
use super::model::{Label, Trace};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Jsonl,
    ProcessBench,
    Prm800k,
    Trl,
}

impl ExportFormat {
    pub fn parse(s: &str) -> Result<ExportFormat, String> {
        match s {
            "jsonl" | "native" => Ok(ExportFormat::Jsonl),
            "processbench" => Ok(ExportFormat::ProcessBench),
            "prm800k" => Ok(ExportFormat::Prm800k),
            "trl" => Ok(ExportFormat::Trl),
            _ => Err(format!("unknown export format '{s}' (expected processbench, prm800k, trl or jsonl)")),
        }
    }

    /// Whether a trace without a label can still be written in this format.
    pub fn allows_unlabelled(self) -> bool {
        self == ExportFormat::Jsonl
    }
}

/// Writes the traces with the chosen label per trace.
pub fn write(format: ExportFormat, items: &[(&Trace, Option<Label>)], out: &mut dyn Write) -> io::Result<()> {
    match format {
        ExportFormat::Jsonl => lines(items, out, native::to_value),
        ExportFormat::Prm800k => lines(items, out, prm800k_row),
        ExportFormat::Trl => lines(items, out, trl_row),
        ExportFormat::ProcessBench => {
            let rows: Vec<Value> = items.iter().map(|(t, l)| processbench_row(t, *l)).collect();
            // Same layout as Python's json.dump(indent=2, ensure_ascii=False): no final newline.
            serde_json::to_writer_pretty(&mut *out, &rows)?;
            Ok(())
        }
    }
}

fn lines(
    items: &[(&Trace, Option<Label>)],
    out: &mut dyn Write,
    row: impl Fn(&Trace, Option<Label>) -> Value,
) -> io::Result<()> {
    for (t, l) in items {
        serde_json::to_writer(&mut *out, &row(t, *l))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// ProcessBench keys in the dataset's order, then any extra keys the source had.
fn processbench_row(t: &Trace, label: Option<Label>) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(t.id));
    if let Some(g) = &t.generator {
        o.insert("generator".into(), json!(g));
    }
    o.insert("problem".into(), json!(t.problem));
    o.insert("steps".into(), json!(t.step_texts()));
    if let Some(c) = t.answer_correct() {
        o.insert("final_answer_correct".into(), json!(c));
    }
    o.insert("label".into(), json!(label.map_or(-1, Label::to_index)));
    if let Some(r) = &t.replay {
        for (k, v) in super::formats::native::replay_keys(r) {
            o.insert(k.into(), v);
        }
    }
    if let Some(p) = &t.refinement {
        o.insert("refinement".into(), p.to_value());
    }
    // Keys that would make the row read as another format (PRM800K's `question` object).
    super::formats::put_extra(&mut o, &t.extra, &OTHER_FORMATS_KEYS);
    Value::Object(o)
}

/// Keys by which the readers recognise other formats.
const OTHER_FORMATS_KEYS: [&str; 7] = ["stepscope", "choices", "question", "answer", "prompt", "completions", "labels"];

/// PRM800K shape: steps up to and including the first error, rated +1 before it and −1 at it;
/// a step a human rated (`step_ratings`) keeps that rating.
fn prm800k_row(t: &Trace, label: Option<Label>) -> Value {
    let first_error = label.and_then(Label::first_error);
    let human = t.step_ratings().unwrap_or_default();
    let last = first_error.unwrap_or(t.steps.len().saturating_sub(1));
    let steps: Vec<Value> = t.steps[..=last.min(t.steps.len().saturating_sub(1))]
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let derived = if Some(i) == first_error { -1 } else { 1 };
            let rating = human.get(i).copied().flatten().unwrap_or(derived);
            json!({"completions": [{"text": s.text, "rating": rating, "flagged": null}], "human_completion": null, "chosen_completion": 0})
        })
        .collect();
    let finish = if first_error.is_some() { "found_error" } else { "solution" };
    json!({
        "question": {
            "problem": t.problem,
            "ground_truth_answer": t.reference_answer,
            "pre_generated_steps": t.step_texts(),
            "pre_generated_answer": t.final_answer,
        },
        "label": {"steps": steps, "finish_reason": finish},
        "stepscope_id": t.id,
    })
}

/// TRL stepwise supervision: every step, labelled true before the first error, false from it on.
fn trl_row(t: &Trace, label: Option<Label>) -> Value {
    let first_error = label.and_then(Label::first_error).unwrap_or(usize::MAX);
    let labels: Vec<bool> = (0..t.steps.len()).map(|i| i < first_error).collect();
    json!({"prompt": t.problem, "completions": t.step_texts(), "labels": labels, "id": t.id})
}
