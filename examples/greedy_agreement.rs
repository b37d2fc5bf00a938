//! Greedy decoding of GSM8K questions through one GGUF model with two weight modes: `quantized`
//! (our block kernels, 8-bit activations: the fast path) and `dense` (f32 weights: the exact
//! path). Prints one JSON line per question and mode with the prompt's token ids, the greedy
//! token ids and their log-probs, for `scripts/greedy-agreement.sh` to set beside llama.cpp's
//! own greedy output on the same prompt ids.
//!
//!   cargo run --release --example greedy_agreement -- MODEL GSM8K_JSONL [QUESTIONS] [TOKENS]

use std::io::BufRead;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use stepscope::model::generate::GenerateParams;
use stepscope::model::{load, LoadOptions, Message, WeightMode};

const SYSTEM: &str = "Please reason step by step, and put your final answer within \\boxed{}.";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (model, data) = match (args.first(), args.get(1)) {
        (Some(m), Some(d)) => (m.clone(), d.clone()),
        _ => anyhow::bail!("usage: greedy_agreement MODEL GSM8K_JSONL [QUESTIONS] [TOKENS]"),
    };
    let n: usize = args.get(2).map_or(Ok(20), |s| s.parse()).context("QUESTIONS")?;
    let max_tokens: usize = args.get(3).map_or(Ok(64), |s| s.parse()).context("TOKENS")?;
    let file = std::fs::File::open(&data).with_context(|| data.clone())?;
    let questions = std::io::BufReader::new(file)
        .lines()
        .take(n)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l?)?;
            Ok(v["question"].as_str().context("a question field")?.to_string())
        })
        .collect::<Result<Vec<String>>>()?;
    for (mode, weights) in [("fast", WeightMode::Quantized), ("exact", WeightMode::Dense)] {
        let opts = LoadOptions { weights: Some(weights), ..LoadOptions::default() };
        let m = load(&model, opts, &mut |line| eprintln!("{line}"))?;
        let params = GenerateParams { max_tokens, top_k: 0, ..GenerateParams::default() };
        for (i, q) in questions.iter().enumerate() {
            let prompt = m.chat_prompt(&[Message::new("system", SYSTEM), Message::new("user", q)])?;
            let mut cache = m.new_cache();
            let g = m.generate(&prompt, &mut cache, &params, &AtomicBool::new(false), &mut |_| {})?;
            let line = serde_json::json!({
                "question": i,
                "mode": mode,
                "prompt_ids": prompt,
                "ids": g.tokens.iter().map(|t| t.id).collect::<Vec<_>>(),
                "logprobs": g.tokens.iter().map(|t| t.logprob).collect::<Vec<_>>(),
            });
            println!("{line}");
        }
    }
    Ok(())
}
