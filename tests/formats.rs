//! Readers on small hand-written records of each format.

use std::fs;
use std::path::Path;

use stepscope::trace::{Format, Label, ReadOptions, Segmentation, TraceFile};

fn open(dir: &Path, name: &str, body: &str) -> TraceFile {
    let path = dir.join(name);
    fs::write(&path, body).unwrap();
    TraceFile::open(&path, None, ReadOptions::default()).unwrap()
}

#[test]
fn prm800k_follows_chosen_completions() {
    let dir = tempfile::tempdir().unwrap();
    let record = serde_json::json!({
        "labeler": "x", "generation": 3,
        "question": {"problem": "What is 2+3*4?", "ground_truth_answer": "14",
                     "pre_generated_steps": ["a", "b"], "pre_generated_answer": "20"},
        "label": {"steps": [
            {"completions": [{"text": "3*4 = 12.", "rating": 1, "flagged": null}], "human_completion": null, "chosen_completion": 0},
            {"completions": [{"text": "2+12 = 14.", "rating": 1, "flagged": null},
                             {"text": "2+3 = 5, 5*4 = 20.", "rating": -1, "flagged": null}], "human_completion": null, "chosen_completion": null}
        ], "finish_reason": "found_error", "total_time": 1}
    });
    let f = open(dir.path(), "prm.jsonl", &format!("{record}\n"));
    assert_eq!(f.format, Format::Prm800k);
    let t = &f.record(0).unwrap()[0];
    assert_eq!(t.step_texts(), ["3*4 = 12.", "2+3 = 5, 5*4 = 20."]);
    assert_eq!(t.label, Some(Label::FirstError(1)));
    assert_eq!(t.reference_answer.as_deref(), Some("14"));
    assert_eq!(t.answer_correct(), Some(false));
    assert_eq!(t.extra["labeler"], "x");
}

#[test]
fn openai_chat_logprobs_become_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let tok = |t: &str, lp: f64| serde_json::json!({"token": t, "logprob": lp, "bytes": t.as_bytes(), "top_logprobs": [{"token": t, "logprob": lp}, {"token": "?", "logprob": -3.0}]});
    let record = serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "m",
        "request": {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "What is 2+2?"}]},
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "2+2 = 4.\n\nThe answer is 4."},
            "logprobs": {"content": [tok("2+2", -0.1), tok(" = 4.", -0.2), tok("\n\n", -0.3), tok("The answer is 4.", -0.05)]}}]
    });
    let f = open(dir.path(), "resp.json", &serde_json::to_string_pretty(&record).unwrap());
    assert_eq!(f.format, Format::OpenAi);
    let t = &f.record(0).unwrap()[0];
    assert_eq!(t.problem, "What is 2+2?");
    assert_eq!(t.step_texts(), ["2+2 = 4.", "The answer is 4."]);
    assert_eq!(t.final_answer.as_deref(), Some("4"));
    let tokens = t.tokens.as_ref().unwrap();
    assert_eq!(tokens.iter().map(|k| k.offset).collect::<Vec<_>>(), [0, 3, 8, 10]);
    assert_eq!(tokens[1].top.len(), 2);
    // Token offsets fall inside the step spans.
    assert!(tokens[3].offset >= t.steps[1].start && tokens[3].offset < t.steps[1].end);
}

#[test]
fn legacy_completion_logprobs() {
    let dir = tempfile::tempdir().unwrap();
    let record = serde_json::json!({"id": "cmpl", "prompt": "Q?", "choices": [
        {"text": "a\nb", "logprobs": {"tokens": ["a", "\n", "b"], "token_logprobs": [-1.0, -0.5, -0.25],
          "top_logprobs": [{"a": -1.0}, {"\n": -0.5}, {"b": -0.25, "c": -2.0}], "text_offset": [0, 1, 2]}},
        {"text": "c", "logprobs": null}]});
    let f = open(dir.path(), "c.jsonl", &format!("{record}\n"));
    let ts = f.record(0).unwrap();
    assert_eq!(ts.len(), 2);
    assert_eq!(ts[0].id, "cmpl-0");
    assert_eq!(ts[0].problem, "Q?");
    assert_eq!(ts[0].tokens.as_ref().unwrap()[2].top.len(), 2);
    assert!(ts[1].tokens.is_none());
}

#[test]
fn plain_text_is_one_segmented_trace() {
    let dir = tempfile::tempdir().unwrap();
    let f = open(
        dir.path(),
        "mine.txt",
        "Problem: 3 apples plus 4 apples?\n\nStep 1: 3 + 4 = 7.\nStep 2: So 7 apples.\nThe answer is 7.",
    );
    assert_eq!(f.format, Format::Text);
    let t = &f.record(0).unwrap()[0];
    assert_eq!(t.id, "mine");
    assert_eq!(t.problem, "3 apples plus 4 apples?");
    assert_eq!(t.segmentation, Segmentation::StepHeaders);
    assert_eq!(t.step_texts(), ["Step 1: 3 + 4 = 7.", "Step 2: So 7 apples.\nThe answer is 7."]);
    assert_eq!(t.final_answer.as_deref(), Some("7"));
    for s in &t.steps {
        assert_eq!(&t.solution[s.start..s.end], s.text);
    }
}

#[test]
fn native_keeps_unknown_fields_and_spans() {
    let dir = tempfile::tempdir().unwrap();
    let rec = r#"{"stepscope":1,"id":"n1","problem":"p","solution":"one\n\ntwo","segmentation":"blank_line","label":1,"my_field":{"x":[1,2]},"tokens":[{"token":"one","logprob":-0.5,"offset":0,"top":[["one",-0.5],["1",-1.5]]}]}"#;
    let f = open(
        dir.path(),
        "n.jsonl",
        &format!("{rec}\n{{\"id\":\"n2\",\"problem\":\"q\",\"solution\":\"a\\nb\",\"segmentation\":\"line\"}}\n"),
    );
    assert_eq!(f.format, Format::Native);
    let t = &f.record(0).unwrap()[0];
    assert_eq!(t.step_texts(), ["one", "two"]);
    assert_eq!((t.steps[1].start, t.steps[1].end), (5, 8));
    assert_eq!(t.label, Some(Label::FirstError(1)));
    assert_eq!(t.extra["my_field"]["x"][1], 2);
    let v = stepscope::trace::formats::native::to_value(t, t.label);
    assert_eq!(v["my_field"]["x"][0], 1);
    assert_eq!(v["tokens"][0]["top"][1][0], "1");
    let t2 = &f.record(1).unwrap()[0];
    assert_eq!(t2.step_texts(), ["a", "b"]);
}

#[test]
fn gsm8k_steps_exclude_the_answer_line() {
    let dir = tempfile::tempdir().unwrap();
    let rec = r#"{"question": "Q", "answer": "He buys 3*2=<<3*2=6>>6 eggs.\nSo 6+1=<<6+1=7>>7.\n#### 1,007"}"#;
    let f = open(dir.path(), "test.jsonl", &format!("{rec}\n"));
    assert_eq!(f.format, Format::Gsm8k);
    let t = &f.record(0).unwrap()[0];
    assert_eq!(t.steps.len(), 2);
    assert_eq!(t.reference_answer.as_deref(), Some("1007"));
}

#[test]
fn segmentation_override_applies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.txt");
    fs::write(&path, "a\nb\n\nc").unwrap();
    let opts = ReadOptions { segmentation: Some(Segmentation::Line) };
    let f = TraceFile::open(&path, None, opts).unwrap();
    assert_eq!(f.record(0).unwrap()[0].step_texts(), ["a", "b", "c"]);
    let f = TraceFile::open(&path, None, ReadOptions::default()).unwrap();
    assert_eq!(f.record(0).unwrap()[0].step_texts(), ["a\nb", "c"]);
}
