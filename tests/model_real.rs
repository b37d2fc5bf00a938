//! The real default models, fetched through stepscope's own fetch code: tokenizer round trip,
//! deterministic greedy generation, perplexity against llama.cpp's numbers, and the CLI.

mod common;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use stepscope::model::generate::GenerateParams;
use stepscope::model::{self, fetch, LoadOptions, Message, Model};

/// Fetches (or finds cached) a known model; without network outside CI this is a visible skip.
fn model(name: &str) -> Option<Model> {
    let m = fetch::known(name).unwrap();
    match fetch::ensure(m, &mut |_| {}) {
        Ok(_) => Some(model::load(name, LoadOptions::default(), &mut |_| {}).unwrap()),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("fetching {name} failed in CI: {e:#}")
        }
        Err(e) => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "SKIP: cannot fetch {name} ({e:#}); real-model test not run");
            None
        }
    }
}

fn gsm8k_questions(n: usize) -> Option<String> {
    let path = common::shared("data/gsm8k/test.jsonl")?;
    let qs: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .take(n)
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["question"].as_str().unwrap().to_string())
        .collect();
    Some(qs.join("\n\n"))
}

fn processbench_problems() -> Option<Vec<String>> {
    let path = common::shared("data/processbench/gsm8k.json")?;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    Some(rows.iter().map(|r| r["problem"].as_str().unwrap().to_string()).collect())
}

fn round_trip(m: &Model) {
    let Some(problems) = processbench_problems() else { return };
    for p in &problems {
        let ids = m.encode(p).unwrap();
        assert_eq!(&m.decode(&ids).unwrap(), p, "{} does not round-trip", m.name);
    }
}

fn greedy_twice(m: &Model) {
    let prompt = m.chat_prompt(&[Message::new("user", "What is 12 times 7? Answer briefly.")]).unwrap();
    let params = GenerateParams { max_tokens: 24, ..GenerateParams::default() };
    let run = || {
        let mut cache = m.new_cache();
        m.generate(&prompt, &mut cache, &params, &AtomicBool::new(false), &mut |_| {}).unwrap()
    };
    let (a, b) = (run(), run());
    assert!(!a.tokens.is_empty());
    assert_eq!(a.tokens.iter().map(|t| t.id).collect::<Vec<_>>(), b.tokens.iter().map(|t| t.id).collect::<Vec<_>>());
    assert_eq!(a.text, b.text);
}

/// llama.cpp's llama-perplexity on the same GGUF, n_ctx 256, first 50 GSM8K test questions
/// joined by blank lines (shared/notes/rust-stack.md §7; scripts/parity-llamacpp.sh).
fn perplexity_close(m: &Model, llamacpp: f64, windows: usize) {
    let Some(text) = gsm8k_questions(50) else { return };
    let mut tokens = m.encode(&text).unwrap();
    if m.add_bos {
        tokens.insert(0, m.bos_id.unwrap());
    }
    let (ppl, w) = m.perplexity(&tokens, 256).unwrap();
    assert_eq!(w, windows);
    let rel = (ppl - llamacpp).abs() / llamacpp;
    assert!(rel < 0.01, "{}: perplexity {ppl:.4} vs llama.cpp {llamacpp} ({:.2}% apart)", m.name, rel * 100.0);
}

#[test]
fn smollm2_real_model() {
    let Some(m) = model("smollm2") else { return };
    round_trip(&m);
    greedy_twice(&m);
    perplexity_close(&m, 10.8733, 12);
}

#[test]
fn qwen25_coder_real_model() {
    let Some(m) = model("qwen2.5-coder-0.5b") else { return };
    round_trip(&m);
    greedy_twice(&m);
    perplexity_close(&m, 11.3820, 11);
}

#[test]
fn generate_and_logprobs_cli() {
    if model("smollm2").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gen.jsonl");
    let (code, stdout, err) = common::run(&[
        "generate",
        "--model",
        "smollm2",
        "--question",
        "Tom has 3 apples and buys 4 more. How many apples does he have?",
        "--max-tokens",
        "40",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("--- q0 sample 0"), "{stdout}");
    let file = stepscope::trace::TraceFile::open(&out, None, Default::default()).unwrap();
    let t = &file.record(0).unwrap()[0];
    let tokens = t.tokens.as_ref().unwrap();
    assert!(!tokens.is_empty() && tokens.iter().all(|k| k.top.len() == 20));
    for k in tokens {
        assert!(
            t.solution[k.offset..].starts_with(&k.token) || k.offset >= t.solution.len(),
            "offset of {:?}",
            k.token
        );
    }
    let text: PathBuf = dir.path().join("t.txt");
    std::fs::write(&text, "The answer is 7 apples.").unwrap();
    let (code, stdout, err) = common::run(&["logprobs", "--model", "smollm2", "--json", text.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let rows = v["tokens"].as_array().unwrap();
    assert!(rows.len() >= 5);
    assert!(rows.iter().all(|r| r["logprob"].as_f64().unwrap() <= 0.0 && r["entropy"].as_f64().unwrap() >= 0.0));
}
