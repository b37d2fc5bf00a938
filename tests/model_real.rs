//! The real default models, fetched through stepscope's own fetch code: tokenizer round trip,
//! deterministic greedy generation, perplexity against llama.cpp's numbers, and the CLI.

mod common;

use std::path::PathBuf;

use stepscope::model::{self, fetch, LoadOptions, Model};

/// Fetches (or finds cached) a known model; without network this is a visible skip, unless
/// `STEPSCOPE_REQUIRE_SHARED=1` (CI), where it fails.
fn model(name: &str) -> Option<Model> {
    common::fetched(name)?;
    Some(model::load(name, LoadOptions::default(), &mut |_| {}).unwrap())
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

/// Greedy decoding is deterministic across processes: two `stepscope generate` runs, each its
/// own process, give the same tokens and text.
fn greedy_twice(m: &Model) {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str| -> serde_json::Value {
        let out = dir.path().join(name);
        let (code, _, err) = common::run(&[
            "generate",
            "--model",
            &m.name,
            "--question",
            "What is 12 times 7? Answer briefly.",
            "--max-tokens",
            "24",
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(std::fs::read_to_string(&out).unwrap().trim()).unwrap()
    };
    let (a, b) = (run("a.jsonl"), run("b.jsonl"));
    assert!(!a["tokens"].as_array().unwrap().is_empty());
    assert_eq!(a["token_ids"], b["token_ids"], "the two processes generated other tokens");
    assert_eq!(a["solution"], b["solution"]);
}

/// llama.cpp's llama-perplexity on the same GGUF, n_ctx 256, first 50 GSM8K test questions
/// joined by blank lines (shared/notes/rust-stack.md §7; scripts/parity-llamacpp.sh): within
/// 0.5%, over the same number of windows, each scoring n_ctx/2 - 1 tokens like llama.cpp.
fn perplexity_close(m: &Model, llamacpp: f64, windows: usize) {
    let Some(text) = gsm8k_questions(50) else { return };
    let tokens = m.with_bos(m.encode(&text).unwrap());
    let p = m.perplexity(&tokens, 256).unwrap();
    assert_eq!(p.windows, windows, "{}: {} tokens in the text", m.name, tokens.len());
    assert_eq!(p.scored, windows * 127, "{}", m.name);
    let rel = (p.value - llamacpp).abs() / llamacpp;
    assert!(rel < 0.005, "{}: perplexity {:.4} vs llama.cpp {llamacpp} ({:.2}% apart)", m.name, p.value, rel * 100.0);
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
    exported_tokenizer_matches(&m);
}

/// `models tokenizer` writes the GGUF's tokenizer as tokenizer.json (what the GPU check gives
/// transformers): the same ids as the model's own, plus the added PRM separator as one token.
fn exported_tokenizer_matches(m: &Model) {
    let dir = tempfile::tempdir().unwrap();
    let added = ["<extra_0>".to_string()];
    model::export_tokenizer("qwen2.5-coder-0.5b", dir.path(), &added, &mut |_| {}).unwrap();
    let tok = tokenizers::Tokenizer::from_file(dir.path().join("tokenizer.json")).unwrap();
    let text = "Natalia sold 48/2 = 24 clips in May.\n\nSo 48+24 = 72 clips altogether. Ünïcödé ✓";
    // (Its ids are checked against llama-server's /tokenize in tests/remote.rs.)
    let ids = tok.encode(text, false).unwrap().get_ids().to_vec();
    let sep = tok.encode(format!("{text}<extra_0>"), false).unwrap().get_ids().to_vec();
    assert_eq!(sep.len(), ids.len() + 1, "the separator is one token");
    assert!(*sep.last().unwrap() as usize >= m.vocab_size() - 1);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("tokenizer_config.json")).unwrap()).unwrap();
    assert!(config["chat_template"].as_str().unwrap().contains("<|im_start|>"));
    assert_eq!(config["eos_token"], "<|im_end|>");
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
    // Nothing to score is an error, not a perplexity of 1.0.
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let (code, stdout, err) = common::run(&["logprobs", "--model", "smollm2", empty.to_str().unwrap()]);
    assert_eq!(code, 2, "{stdout}{err}");
    assert!(err.contains("empty.txt") && err.contains("no tokens to score"), "{err}");
    assert!(!stdout.contains("perplexity"), "{stdout}");
}

/// Verify records of one spec in a trace file's journal (in `store`).
fn stored_results(store: &std::path::Path, spec: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for f in std::fs::read_dir(store).unwrap() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            if v["kind"] == "verify" && v["spec"] == spec {
                out.push(v);
            }
        }
    }
    out
}

/// judge, critic and rollout on the demo model run end to end, store their results with
/// provenance, and a second run reuses them instead of recomputing.
#[test]
fn model_verifiers_end_to_end() {
    if model("smollm2").is_none() {
        return;
    }
    let Some(pb) = common::shared("data/processbench/gsm8k.json") else { return };
    let Some(solutions) = common::shared("data/gsm8k/example_model_solutions.jsonl") else { return };
    let store = tempfile::tempdir().unwrap();
    let s = store.path().to_str().unwrap();
    let pb = pb.to_str().unwrap();
    let runs: [(&str, &str, &[&str]); 3] = [
        ("judge:smollm2", pb, &["--limit", "2"]),
        ("critic:smollm2", pb, &["--limit", "1", "--max-tokens", "24"]),
        ("rollout:smollm2", solutions.to_str().unwrap(), &["--limit", "1", "--rollouts", "2", "--max-tokens", "16"]),
    ];
    for (spec, file, extra) in runs {
        let mut args = vec!["score", file, "--verifier", spec, "--store", s];
        args.extend_from_slice(extra);
        let (code, out, err) = common::run(&args);
        assert_eq!(code, 0, "{spec}: {err}");
        assert!(out.contains("0 failed"), "{spec}: {out}");
        let stored_spec = if spec.starts_with("rollout") { "rollout:smollm2@2" } else { spec };
        let records = stored_results(store.path(), stored_spec);
        assert!(!records.is_empty(), "{spec}: nothing stored");
        for r in &records {
            assert!(r["model_hash"].as_str().is_some_and(|h| h.len() == 16), "{r}");
            assert!(r["model"].as_str().unwrap().ends_with(".gguf"), "{r}");
            let scores = r["scores"].as_array().unwrap();
            assert!(scores.iter().all(|x| x.is_null() || (0.0..=1.0).contains(&x.as_f64().unwrap())), "{r}");
            if spec.starts_with("rollout") {
                // Back-propagated (GLoRe 4a): a rollout's scores never rise along a trace.
                let v: Vec<f64> = scores.iter().filter_map(|x| x.as_f64()).collect();
                assert!(v.windows(2).all(|w| w[0] >= w[1]), "{r}");
            }
        }
        // Scoring again reuses the stored results.
        let (code, out, err) = common::run(&args);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("0 scored") && out.contains("reused from the store"), "{spec}: {out}");
    }
    // Answer entropy per step (k = 0..n steps) with its trend, teacher-forced on the same model.
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/demo.jsonl");
    let (code, out, err) = common::run(&[
        "score",
        demo.to_str().unwrap(),
        "--verifier",
        "arith",
        "--signals",
        "answer-entropy",
        "--limit",
        "2",
        "--store",
        s,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("answer-entropy · 2 traces stored, 0 failed"), "{out}");
    let journal = std::fs::read_dir(store.path())
        .unwrap()
        .map(|f| f.unwrap().path())
        .find(|p| p.to_string_lossy().contains("demo"))
        .unwrap();
    let first: serde_json::Value = std::fs::read_to_string(journal)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["signal"] == "answer-entropy")
        .unwrap();
    assert_eq!(first["data"]["answer_source"], "reference");
    assert_eq!(first["data"]["h"].as_array().unwrap().len(), 5, "bakery-muffins has 4 steps: H for k = 0..4");
    // The stored slope and trend follow from the stored H values (least squares over k, ±0.01).
    let h: Vec<f64> = first["data"]["h"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let n = h.len() as f64;
    let (mk, mh) = ((n - 1.0) / 2.0, h.iter().sum::<f64>() / n);
    let num: f64 = h.iter().enumerate().map(|(k, v)| (k as f64 - mk) * (v - mh)).sum();
    let den: f64 = (0..h.len()).map(|k| (k as f64 - mk).powi(2)).sum();
    let slope = num / den;
    assert!((first["data"]["slope"].as_f64().unwrap() - slope).abs() < 1e-9, "{}", first["data"]);
    let trend = if slope < -0.01 {
        "decreasing"
    } else if slope <= 0.01 {
        "flat"
    } else {
        "increasing"
    };
    assert_eq!(first["data"]["trend"], trend, "{}", first["data"]);
    // The judge reused its cached prefix between steps: later steps forward fewer tokens.
    let judge = stored_results(store.path(), "judge:smollm2");
    assert!(judge[0]["details"][1].as_str().unwrap().contains("reused"), "{}", judge[0]);
}

/// Instability computed from the top-k log-probs `generate` stored equals the value from
/// teacher-forcing the same tokens through the same model (dense weights on both sides), and
/// `score --signals instability` stores it per step.
#[test]
fn instability_from_stored_logprobs_matches_teacher_forcing() {
    if model("smollm2").is_none() {
        return;
    }
    use stepscope::verify::uncertainty::{stored_tops, teacher_forced_tops};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gen.jsonl");
    let (code, _, err) = common::run(&[
        "generate",
        "--model",
        "smollm2",
        "--weights",
        "dense",
        "--question",
        "A box holds 6 eggs. How many eggs are in 4 boxes? Explain step by step.",
        "--max-tokens",
        "48",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let file = stepscope::trace::TraceFile::open(&out, None, Default::default()).unwrap();
    let trace = file.record(0).unwrap().remove(0);
    let dense = LoadOptions { weights: Some(stepscope::model::WeightMode::Dense), ..LoadOptions::default() };
    let m = model::load("smollm2", dense, &mut |_| {}).unwrap();
    let (stored, stored_offsets) = stored_tops(&trace).expect("generate stores top-k");
    let (forced, forced_offsets, window) = teacher_forced_tops(&m, &trace).unwrap();
    assert_eq!(window, None, "a short trace is read whole");
    assert_eq!(stored.len(), forced.len());
    assert_eq!(stored_offsets, forced_offsets);
    let a = stepscope::signals::instability::series(&stored, 1.0).instability;
    let b = stepscope::signals::instability::series(&forced, 1.0).instability;
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    assert!(worst <= 1e-3, "instability differs by {worst}");
    // The score command stores it, per step, from the stored log-probs.
    let (code, stdout, err) =
        common::run(&["score", out.to_str().unwrap(), "--verifier", "arith", "--signals", "instability"]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("instability · 1 traces stored"), "{stdout}");
    let journal = std::fs::read_to_string(dir.path().join("gen.jsonl.stepscope.jsonl")).unwrap();
    let sig: serde_json::Value = journal
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["kind"] == "signal")
        .unwrap();
    assert_eq!(sig["source"], "stored top-k");
    assert_eq!(sig["data"]["step_peak"].as_array().unwrap().len(), trace.steps.len());
    let per_token: Vec<f64> =
        sig["data"]["per_token"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    // What `score` stored agrees with the teacher-forced series (computed here from the model,
    // not from the stored log-probs).
    assert_eq!(per_token.len(), b.len());
    let stored_vs_forced = per_token.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    assert!(stored_vs_forced <= 1e-3, "stored instability differs from teacher forcing by {stored_vs_forced}");
    // `eval --signal` reuses what `score` stored (same source: the trace's own top-k); it needs
    // a known final answer, which a 48-token generation may not reach: say it is right.
    let mut row: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    row["final_answer_correct"] = serde_json::Value::Bool(true);
    std::fs::write(&out, format!("{row}\n")).unwrap();
    let (code, stdout, err) = common::run(&["eval", out.to_str().unwrap(), "--signal", "instability"]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("1 reused from the store · sources: stored top-k 1"), "{stdout}");
    // Token ids of another model's vocabulary are not replayed: the text is tokenized again.
    let mut foreign = trace.clone();
    foreign.replay.as_mut().unwrap().token_ids = vec![60_000; 5];
    let (again, offsets, _) = teacher_forced_tops(&m, &foreign).unwrap();
    assert!(!again.is_empty() && again.len() == offsets.len() && offsets[0] == 0, "{offsets:?}");
}

/// `bench` runs and reports llama-bench's keys (no speed is asserted: speed is measured by the
/// benchmark commands, never by tests); `logprobs --ctx` scores in llama-perplexity windows;
/// `models path` and `models list` name the cached file.
#[test]
fn bench_logprobs_windows_and_models_commands() {
    if model("smollm2").is_none() {
        return;
    }
    let (code, out, err) = common::run(&["bench", "--model", "smollm2", "-p", "16", "-n", "4", "-r", "1", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let tests: Vec<&str> = rows.iter().map(|r| r["test"].as_str().unwrap()).collect();
    assert_eq!(tests, ["pp16", "tg4"], "{out}");
    for r in &rows {
        for key in ["model", "backend", "threads", "tokens_per_second", "sd", "runs"] {
            assert!(!r[key].is_null(), "{key} missing: {r}");
        }
        assert!(r["tokens_per_second"].as_f64().unwrap() > 0.0);
    }

    let Some(text) = gsm8k_questions(10) else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.txt");
    std::fs::write(&path, text).unwrap();
    let p = path.to_str().unwrap();
    let (code, out, err) = common::run(&["logprobs", "--model", "smollm2", "--ctx", "128", "--json", p]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let (tokens, windows) = (v["tokens"].as_u64().unwrap(), v["windows"].as_u64().unwrap());
    assert_eq!(windows, tokens / 128, "{v}");
    assert_eq!(v["scored"].as_u64().unwrap(), windows * 63, "{v}");
    assert!(v["perplexity"].as_f64().unwrap() > 1.0, "{v}");
    // Without --ctx a text longer than the context is refused with the way out.
    let long = dir.path().join("long.txt");
    std::fs::write(&long, "word ".repeat(9000)).unwrap();
    let (code, _, err) = common::run(&["logprobs", "--model", "smollm2", long.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("--ctx"), "{err}");

    let (code, out, err) = common::run(&["models", "path", "smollm2"]);
    assert_eq!(code, 0, "{err}");
    let cached = PathBuf::from(out.trim());
    assert!(cached.ends_with("SmolLM2-135M-Instruct.Q4_1.gguf"), "{out}");
    assert_eq!(std::fs::metadata(&cached).unwrap().len(), fetch::known("smollm2").unwrap().size);
    let (code, out, err) = common::run(&["models", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("smollm2") && out.contains("llama") && out.contains(cached.to_str().unwrap()), "{out}");
    let (code, _, err) = common::run(&["models", "path", "no-such-model"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown model 'no-such-model'"), "{err}");
}

/// Issue 32, 4: a trace longer than the model's context is teacher-forced in a sliding window
/// (here a context of 160 tokens stands in for a 30k-token trace): every solution token gets its
/// list, the first window's lists are those of reading the trace whole, later ones are read
/// from the window before them, and the stored signal says which window it used.
#[test]
fn instability_reads_a_trace_longer_than_the_context_in_a_sliding_window() {
    if model("smollm2").is_none() {
        return;
    }
    use stepscope::verify::uncertainty::{teacher_forced_tops, teacher_forced_tops_within};
    let steps: Vec<String> = (0..12)
        .map(|i| format!("Step {i}: we add {} and {} to get {}. Wait, let me check it again.", i * 7, i + 3, i * 8 + 3))
        .collect();
    let trace = stepscope::trace::Trace::from_step_texts("long", "Add the numbers, step by step.", &steps);
    // Dense weights: with the default mixed weights the same positions differed by up to 0.03
    // in log-prob between a pass of 121 and one of 160 tokens (8-bit activations).
    let dense = LoadOptions { weights: Some(stepscope::model::WeightMode::Dense), ..LoadOptions::default() };
    let m = model::load("smollm2", dense, &mut |_| {}).unwrap();
    let (whole, offsets, none) = teacher_forced_tops(&m, &trace).unwrap();
    assert_eq!(none, None);
    let (windowed, offsets_w, window) = teacher_forced_tops_within(&m, &trace, 160).unwrap();
    let w = window.expect("a sliding window");
    assert!(w < whole.len(), "the window ({w}) is shorter than the solution ({})", whole.len());
    assert_eq!((windowed.len(), offsets_w), (whole.len(), offsets));
    let close = |a: &[(String, f64)], b: &[(String, f64)]| a[0].0 == b[0].0 && (a[0].1 - b[0].1).abs() < 1e-3;
    let differ: Vec<usize> = (0..w).filter(|&j| !close(&windowed[j], &whole[j])).collect();
    assert!(differ.is_empty(), "the first window ({w}) differs from reading the trace whole at {differ:?}");
    // Later tokens lose the far context, so some lists change (the point of recording it).
    assert!((w..whole.len()).any(|j| !close(&windowed[j], &whole[j])), "no list changed past the first window");
    let err = teacher_forced_tops_within(&m, &trace, 40).unwrap_err().to_string();
    assert!(err.contains("sliding window") && err.contains("at least 64"), "{err}");
}

/// Issue 31: samples decoded together are the samples decoded one by one. Four sampled
/// continuations of one forked prompt (each its own seed, one with a stop string, one with a
/// shorter limit) through `generate_batch` give the same tokens, texts and stop reasons as
/// `generate` on each alone; tokens stream to the right sample; `bench --batch` reports one row
/// per batch size.
#[test]
fn samples_decoded_together_are_the_samples_decoded_alone() {
    use std::sync::atomic::AtomicBool;
    use stepscope::model::generate::GenerateParams;
    use stepscope::model::sample::SamplingParams;
    use stepscope::model::{GenJob, LanguageModel, Message};
    let Some(m) = model("smollm2") else { return };
    let prompt = m.chat_prompt(&[Message::new("user", "Tom has 3 boxes of 12 pens. How many pens?")]).unwrap();
    let (head, last) = prompt.split_at(prompt.len() - 1);
    let mut base = m.start();
    m.extend(&mut base, head).unwrap();
    let params: Vec<GenerateParams> = (0..4u64)
        .map(|s| GenerateParams {
            max_tokens: if s == 2 { 7 } else { 40 },
            sampling: SamplingParams { temperature: 0.9, top_p: 0.95, seed: 100 + s },
            stop: if s == 1 { vec!["\n".into()] } else { Vec::new() },
            top_k: 3,
            ..GenerateParams::default()
        })
        .collect();
    let cancel = AtomicBool::new(false);
    let mut alone_forks: Vec<_> = (0..4).map(|_| base.fork().unwrap()).collect();
    let alone: Vec<_> = params
        .iter()
        .zip(&mut alone_forks)
        .map(|(p, fork)| LanguageModel::generate(&m, fork, last, p, &cancel, &mut |_| {}).unwrap())
        .collect();
    let mut forks: Vec<_> = (0..4).map(|_| base.fork().unwrap()).collect();
    let mut jobs: Vec<GenJob> =
        forks.iter_mut().zip(&params).map(|(prefix, params)| GenJob { prefix, ids: last, params }).collect();
    let mut streamed = vec![String::new(); 4];
    let together =
        LanguageModel::generate_batch(&m, &mut jobs, &cancel, &mut |i, t| streamed[i].push_str(&t.text)).unwrap();
    let texts: Vec<&str> = alone.iter().map(|g| g.text.as_str()).collect();
    assert!(texts.iter().collect::<std::collections::HashSet<_>>().len() > 1, "the seeds gave one text: {texts:?}");
    for (i, (a, b)) in alone.iter().zip(&together).enumerate() {
        let ids = |g: &stepscope::model::generate::Generation| g.tokens.iter().map(|t| t.id).collect::<Vec<_>>();
        assert_eq!(ids(a), ids(b), "sample {i}: other tokens together");
        assert_eq!((&a.text, a.stop), (&b.text, b.stop), "sample {i}");
        assert_eq!(a.tokens, b.tokens, "sample {i}: log-probs or alternatives differ");
        assert!(streamed[i].starts_with(&b.text), "sample {i} streamed {:?}", streamed[i]);
        assert_eq!(forks[i].len(), alone_forks[i].len(), "sample {i}: the cache holds another length");
    }
    assert!(together[2].tokens.len() <= 7);

    let (code, out, err) =
        common::run(&["bench", "--model", "smollm2", "-p", "16", "-n", "4", "-r", "1", "--batch", "1,3", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let sizes: Vec<u64> = rows.iter().map(|r| r["sequences"].as_u64().unwrap()).collect();
    assert_eq!(sizes, [1, 3], "{out}");
    for r in &rows {
        assert!(r["decode_tokens_per_second"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["prompt_tokens_per_second"].as_f64().unwrap() > 0.0, "{r}");
    }
    let (code, _, err) = common::run(&["bench", "--model", "smollm2", "--batch", "0"]);
    assert_eq!(code, 2, "{err}");
}
