//! Remote models against a real llama.cpp `llama-server` (built by `.ci/run`; see
//! tests/common/server.rs), serving the same SmolLM2 GGUF that stepscope runs locally.

mod common;

use std::sync::atomic::AtomicBool;

use common::server;
use stepscope::model::generate::GenerateParams;
use stepscope::model::remote::{RemoteModel, RemoteOptions};
use stepscope::model::{self, fetch, LanguageModel, LoadOptions, Message};

/// The smollm2 GGUF through stepscope's own fetch code (CI: must work; elsewhere a visible skip).
fn smollm2() -> Option<std::path::PathBuf> {
    match fetch::ensure(fetch::known("smollm2").unwrap(), &mut |_| {}) {
        Ok(p) => Some(p),
        Err(e) if common::required() => panic!("fetching smollm2 failed and STEPSCOPE_REQUIRE_SHARED=1: {e:#}"),
        Err(e) => {
            eprintln!("SKIP: cannot fetch smollm2 ({e:#})");
            None
        }
    }
}

fn options(urls: &[&str]) -> RemoteOptions {
    RemoteOptions { servers: urls.iter().map(|u| u.to_string()).collect(), concurrency: 2, ..RemoteOptions::default() }
}

const QUESTION: &str = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips to her friends in May. How many clips did Natalia sell altogether in April and May?";

/// The server's greedy tokens, scored locally: every token's log-prob agrees within 1e-2, and
/// wherever the local model is not at a near-tie, the server picked the local argmax. Both run
/// SmolLM2 dequantized to F32 (see `server::dequantized_copy`).
#[test]
fn streamed_generation_matches_the_local_model() {
    let Some(gguf) = smollm2() else { return };
    let Some(_) = server::binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let f32_gguf = dir.path().join("smollm2-f32.gguf");
    server::dequantized_copy(&gguf, &f32_gguf);
    let Some(srv) = server::start(&f32_gguf, &[]) else { return };
    let remote = RemoteModel::connect(&options(&[&srv.url]), &mut |_| {}).unwrap();
    let local = model::load(f32_gguf.to_str().unwrap(), LoadOptions::default(), &mut |_| {}).unwrap();
    // -c 4096 shared by two slots: a request gets 2048 (what /props says, not the training 8192).
    assert_eq!(remote.context_length(), 2048);

    let chat = [Message::new("system", "Please reason step by step."), Message::new("user", QUESTION)];
    let prompt = remote.chat_prompt(&chat).unwrap();
    assert_eq!(prompt, local.chat_prompt(&chat).unwrap(), "the server's chat prompt is not ours");

    let params = GenerateParams { max_tokens: 48, top_k: 5, ..GenerateParams::default() };
    let (mut streamed, cancel) = (Vec::new(), AtomicBool::new(false));
    let mut prefix = remote.start();
    let g = remote.generate(&mut prefix, &prompt, &params, &cancel, &mut |t| streamed.push(t.clone())).unwrap();
    assert_eq!(g.tokens.len(), 48, "{:?}", g.stop);
    assert_eq!(streamed, g.tokens, "every token was streamed once, in order");
    assert_eq!(prefix.len(), prompt.len() + 48);
    assert_eq!(g.text, g.tokens.iter().map(|t| t.text.as_str()).collect::<String>());
    assert!(g.tokens.iter().all(|t| t.top.len() == 5 && (t.top[0].1 - t.logprob).abs() < 1e-6));

    // Teacher-force the server's tokens through the local model.
    let mut ids = prompt.clone();
    ids.extend(g.tokens.iter().map(|t| t.id));
    let mut cache = local.start();
    let scores = LanguageModel::score(&local, &mut cache, &ids, 2).unwrap();
    let local_scores = &scores[prompt.len() - 1..];
    let (mut max_diff, mut near_ties) = (0f64, 0);
    for (i, (t, s)) in g.tokens.iter().zip(local_scores).enumerate() {
        assert_eq!(t.id, s.id);
        max_diff = max_diff.max((t.logprob - s.logprob).abs());
        let margin = s.top[0].1 - s.top[1].1;
        if margin > 0.05 {
            assert_eq!(t.id, s.top[0].0, "token {i}: the server's greedy token is not the local argmax");
        } else {
            near_ties += 1;
        }
    }
    eprintln!("server vs local: max |Δ log-prob| over 48 greedy tokens = {max_diff:.5} ({near_ties} near-ties)");
    assert!(max_diff < 1e-2, "max log-prob difference {max_diff}");

    // And the local greedy run itself, up to where a near-tie may part them.
    let mut local_prefix = local.start();
    let lg = LanguageModel::generate(&local, &mut local_prefix, &prompt, &params, &cancel, &mut |_| {}).unwrap();
    let same = lg.tokens.iter().zip(&g.tokens).take_while(|(a, b)| a.id == b.id).count();
    eprintln!("local and server greedy outputs agree on the first {same} of 48 tokens");
    assert!(same >= 16, "the greedy outputs part after {same} tokens");
}

/// `n` short traces in stepscope's own JSONL (arithmetic word problems, three steps each).
fn traces_file(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let path = dir.join("batch.jsonl");
    let lines: Vec<String> = (0..n)
        .map(|i| {
            let (a, b) = (i + 3, 2 * i + 5);
            serde_json::json!({
                "stepscope": 1,
                "id": format!("t{i}"),
                "problem": format!("Sam has {a} apples and buys {b} more. How many apples does he have?"),
                "steps": [format!("Sam starts with {a} apples."), format!("He buys {b} more, so {a} + {b} = {}.", a + b),
                          format!("The answer is \\boxed{{{}}}.", a + b)],
            })
            .to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// The verify records in a journal: (trace id, spec, model, model hash) per line.
fn verify_records(journal: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(journal).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == "verify")
        .collect()
}

fn journal_of(path: &std::path::Path) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("{}.stepscope.jsonl", path.display()))
}

/// `score --verifier judge --server URL`: the judge runs on the server's model, its results name
/// the server and the model, and a second run takes them from the store.
#[test]
fn judge_through_the_server_is_stored_with_its_provenance_and_reused() {
    let Some(gguf) = smollm2() else { return };
    let Some(srv) = server::start(&gguf, &[]) else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = traces_file(dir.path(), 3);
    let f = file.to_str().unwrap();
    let (code, out, err) = common::run(&["score", f, "--verifier", "judge", "--server", &srv.url]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("judge:server · 3 traces: 3 scored, 0 reused"), "{out}");
    let records = verify_records(&journal_of(&file));
    assert_eq!(records.len(), 3);
    for r in &records {
        assert_eq!(r["spec"], "judge:server");
        let model = r["model"].as_str().unwrap();
        assert!(model.starts_with(&srv.url) && model.ends_with("SmolLM2-135M-Instruct.Q4_1.gguf"), "{model}");
        assert!(r["model_hash"].as_str().unwrap().starts_with("server-"));
        let scores = r["scores"].as_array().unwrap();
        assert_eq!(scores.len(), 3);
        assert!(scores.iter().all(|s| (0.0..=1.0).contains(&s.as_f64().unwrap())));
    }
    let (code, out, err) = common::run(&["score", f, "--verifier", "judge", "--server", &srv.url]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 scored, 3 reused"), "{out}");
    assert_eq!(verify_records(&journal_of(&file)).len(), 3, "nothing was stored twice");
}

/// `generate --server URL`: the streamed tokens land in the trace with their log-probs and
/// alternatives, and instability is computed from them without a local model.
#[test]
fn generated_traces_carry_the_servers_log_probs() {
    let Some(gguf) = smollm2() else { return };
    let Some(srv) = server::start(&gguf, &[]) else { return };
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("gen.jsonl");
    let o = out_file.to_str().unwrap();
    let (code, out, err) = common::run(&[
        "generate",
        "--server",
        &srv.url,
        "--question",
        QUESTION,
        "--max-tokens",
        "40",
        "--top-k",
        "5",
        "-o",
        o,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let trace: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&out_file).unwrap().lines().next().unwrap()).unwrap();
    let tokens = trace["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 40);
    assert!(tokens.iter().all(|t| t["top"].as_array().unwrap().len() == 5 && t["logprob"].as_f64().unwrap() <= 0.0));
    let (code, out, err) = common::run(&["score", o, "--signals", "instability", "--verifier", "arith"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("instability · 1 traces stored, 0 failed"), "{out}");
}

/// Two servers; one is killed with SIGKILL mid-batch. The batch finishes on the other, every
/// trace is scored exactly once, and a rerun computes nothing.
#[test]
fn a_killed_server_leaves_the_batch_to_the_other() {
    let Some(gguf) = smollm2() else { return };
    let Some(mut a) = server::start(&gguf, &[]) else { return };
    let Some(b) = server::start(&gguf, &[]) else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = traces_file(dir.path(), 24);
    let f = file.to_str().unwrap();
    let servers = format!("{},{}", a.url, b.url);
    let child = common::bin()
        .args(["score", f, "--verifier", "judge", "--server", &servers, "--concurrency", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let journal = journal_of(&file);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while verify_records(&journal).len() < 4 {
        assert!(std::time::Instant::now() < deadline, "no results after 120 s");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    a.kill();
    let before_kill = verify_records(&journal).len();
    let output = child.wait_with_output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{out}{err}");
    assert!(before_kill < 24, "the kill came after the batch ended");
    assert!(out.contains("24 traces: 24 scored, 0 reused from the store, 0 failed"), "{out}{err}");
    assert!(err.contains(&format!("dropping server {}", a.url)), "{err}");
    let records = verify_records(&journal);
    let mut ids: Vec<&str> = records.iter().map(|r| r["trace"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((records.len(), ids.len()), (24, 24), "each trace scored exactly once");

    // The rerun (the dead server still listed) reuses all 24.
    let (code, out, err) = common::run(&["score", f, "--verifier", "judge", "--server", &servers]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 scored, 24 reused"), "{out}{err}");
    assert_eq!(verify_records(&journal).len(), 24);
}
