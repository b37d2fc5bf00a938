//! Remote models against a real llama.cpp `llama-server` (built by `.ci/run`; see
//! tests/common/server.rs), serving the same SmolLM2 GGUF that stepscope runs locally.

mod common;

use std::sync::atomic::AtomicBool;

use common::server;
use stepscope::model::generate::GenerateParams;
use stepscope::model::remote::{RemoteModel, RemoteOptions};
use stepscope::model::{self, LanguageModel, LoadOptions, Message};

/// The smollm2 GGUF through stepscope's own fetch code (CI: must work; elsewhere a visible skip).
fn smollm2() -> Option<std::path::PathBuf> {
    common::fetched("smollm2")
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

    // /v1/chat/completions (the path for servers without a tokenizer endpoint): the server
    // renders the same chat, so the same greedy tokens and log-probs come back.
    let chat_g = remote.generate_chat(&chat, &params, &cancel, &mut |_| {}).unwrap();
    assert_eq!(chat_g.text, g.text);
    let chat_diff =
        chat_g.tokens.iter().zip(&g.tokens).map(|(a, b)| (a.logprob - b.logprob).abs()).fold(0f64, f64::max);
    // (The second request reads the prompt from the server's cache: its batches differ, by ~2e-3.)
    eprintln!("chat vs completion: max |Δ log-prob| = {chat_diff:.5}");
    assert!(chat_diff < 5e-3, "chat and completion log-probs differ by {chat_diff}");

    // And the local greedy run itself, up to where a near-tie may part them.
    let mut local_prefix = local.start();
    let lg = LanguageModel::generate(&local, &mut local_prefix, &prompt, &params, &cancel, &mut |_| {}).unwrap();
    let same = lg.tokens.iter().zip(&g.tokens).take_while(|(a, b)| a.id == b.id).count();
    eprintln!("local and server greedy outputs agree on the first {same} of 48 tokens");
    // The README's claim: on F32 weights both engines give the same 48 greedy tokens.
    assert_eq!(same, 48, "the greedy outputs part after {same} tokens");
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
                "reference_answer": (a + b).to_string(),
                "label": -1,
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

    // A rollout verifier on the server: stored as rollout:server@2 with the same provenance,
    // reused by a second run.
    let rollout = ["score", f, "--verifier", "rollout", "--rollouts", "2", "--max-tokens", "12", "--server", &srv.url];
    let (code, out, err) = common::run(&rollout);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("rollout:server@2 · 3 traces: 3 scored"), "{out}{err}");
    let records = verify_records(&journal_of(&file));
    let r = records.iter().find(|r| r["spec"] == "rollout:server@2").unwrap();
    assert!(r["model"].as_str().unwrap().starts_with(&srv.url), "{r}");
    let (code, out, err) = common::run(&rollout);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 scored, 3 reused"), "{out}{err}");
    // bench and logprobs read a local model: a server is refused, not ignored.
    let (code, _, err) = common::run(&["logprobs", "--server", &srv.url, "Cargo.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("--server is not supported here"), "{err}");

    // `eval` over the servers reads the stored results (nothing is computed again).
    let (code, out, err) = common::run(&["eval", f, "--verifier", "judge", "--server", &srv.url]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verifier judge:server") && out.contains("3 "), "{out}{err}");
    assert_eq!(verify_records(&journal_of(&file)).len(), 6, "3 judge and 3 rollout results, no more");

    // Teacher forcing needs prompt log-probs, which llama-server does not give: a clear error
    // per trace, and no signal stored.
    let args = ["score", f, "--verifier", "arith", "--signals", "answer-entropy", "--signal-model", "server"];
    let (code, out, err) = common::run(&[&args[..], &["--server", &srv.url]].concat());
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("this server cannot score prompts"), "{err}");
    assert!(out.contains("answer-entropy · 0 traces stored, 3 failed"), "{out}");
    let journal = std::fs::read_to_string(journal_of(&file)).unwrap();
    assert!(!journal.contains(r#""kind":"signal""#), "{journal}");

    // `doctor --server URL --model smollm2`: the same GGUF on both sides agrees.
    let (code, out, err) =
        common::run(&["doctor", "--server", &srv.url, "--model", "smollm2", "--tokens", "16", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["prompt_agrees"], true, "{report}");
    assert!(report["probes"].as_array().unwrap().iter().all(|p| p["agree"] == true), "{report}");
    assert_eq!(report["tokens"].as_array().unwrap().len(), 16);
    assert!(report["max_diff"].as_f64().unwrap() < 0.25, "{report}");
    eprintln!("doctor: max |Δ log-prob| {} over 16 tokens (Q4_1 on both sides)", report["max_diff"]);
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

    // Several problems, two samples each, over the server's slots; a rerun adds nothing.
    let problems = traces_file(dir.path(), 3);
    let batch_out = dir.path().join("batch-gen.jsonl");
    let args = [
        "generate",
        "--server",
        &srv.url,
        "--input",
        problems.to_str().unwrap(),
        "--n",
        "2",
        "--max-tokens",
        "6",
        "--temperature",
        "0.8",
        "-o",
        batch_out.to_str().unwrap(),
    ];
    let (code, out, err) = common::run(&args);
    assert_eq!(code, 0, "{out}{err}");
    let ids = |path: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids(&batch_out), ["t0-s0", "t0-s1", "t1-s0", "t1-s1", "t2-s0", "t2-s1"]);
    let (code, out, err) = common::run(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("6 traces already in the output") && err.contains("0 generated"), "{err}");
    assert_eq!(ids(&batch_out).len(), 6, "nothing repeated");

    // Refinement on the server: two global rewrites, made once; the rerun reuses them.
    let p = problems.to_str().unwrap();
    let args = ["refine", p, "--server", &srv.url, "--strategy", "global", "--limit", "2", "--max-tokens", "12"];
    let (code, out, err) = common::run(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("generator server (") && out.contains("2 generated, 0 reused"), "{out}{err}");
    let (code, out, err) = common::run(&args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 generated, 2 reused"), "{out}{err}");
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

/// A fault-injecting fixture: it speaks llama-server's endpoints just enough for `generate` to
/// reach `/v1/completions`, which `completion` answers. Only for faults a real server will not
/// produce on demand; every other test uses the real llama-server.
fn faulty_server(completion: fn(&mut std::net::TcpStream)) -> String {
    server::fixture(move |path, _body, stream| match path {
        "/v1/models" => server::reply_json(
            stream,
            200,
            r#"{"data":[{"id":"fixture.gguf","owned_by":"llamacpp","meta":{"n_ctx_train":2048,"n_vocab":100}}]}"#,
        ),
        "/apply-template" => server::reply_json(stream, 200, r#"{"prompt":"question"}"#),
        "/tokenize" => server::reply_json(stream, 200, r#"{"tokens":[1,2,3]}"#),
        "/v1/completions" => completion(stream),
        _ => server::reply_json(stream, 404, r#"{"error":{"message":"not here"}}"#),
    })
}

fn event(stream: &mut std::net::TcpStream, data: &str) {
    use std::io::Write;
    let _ = write!(stream, "data: {data}\n\n");
    let _ = stream.flush();
}

const GOOD_EVENT: &str = r#"{"choices":[{"text":"a","finish_reason":null,"logprobs":{"content":[{"id":5,"token":"a","logprob":-0.1,"top_logprobs":[{"id":5,"token":"a","logprob":-0.1},{"id":6,"token":"b","logprob":-2.5}]}]}}]}"#;

/// `generate` against a failing server: exit status 2, a message naming the server and what went
/// wrong, and no trace written.
fn generate_fails(url: &str, want: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("out.jsonl");
    let o = out_file.to_str().unwrap();
    let args = [
        "generate",
        "--server",
        url,
        "--question",
        "q",
        "--max-tokens",
        "5",
        "--top-k",
        "2",
        "-o",
        o,
        "--timeout",
        "1",
    ];
    let (code, out, err) = common::run(&[&args[..], &["--retries", "0"]].concat());
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains(&format!("server {url}")), "the message names the server: {err}");
    for w in want {
        assert!(err.contains(w), "expected {w:?} in: {err}");
    }
    let written = std::fs::read_to_string(&out_file).unwrap_or_default();
    assert!(written.trim().is_empty(), "a trace was stored from a failed generation: {written}");
}

#[test]
fn a_malformed_event_stream_is_an_error_naming_the_server() {
    let url = faulty_server(|s| {
        server::start_events(s);
        event(s, GOOD_EVENT);
        event(s, "{\"choices\": [");
    });
    generate_fails(&url, &["malformed answer", "not JSON"]);
}

#[test]
fn fewer_log_probs_than_asked_is_an_error() {
    let url = faulty_server(|s| {
        server::start_events(s);
        let one_alternative = GOOD_EVENT.replace(r#",{"id":6,"token":"b","logprob":-2.5}"#, "");
        event(s, &one_alternative);
        event(s, "[DONE]");
    });
    generate_fails(&url, &["1 alternatives", "2 were asked"]);
}

#[test]
fn a_server_that_does_not_answer_times_out() {
    let url = faulty_server(|_| std::thread::sleep(std::time::Duration::from_secs(30)));
    generate_fails(&url, &["no answer within 1.0 s"]);
}

#[test]
fn a_wrong_url_names_the_server() {
    let url = format!("http://127.0.0.1:{}", server::free_port());
    generate_fails(&url, &["cannot connect", "refused"]);
    let (code, out, err) = common::run(&["generate", "--server", "localhost:8080", "--question", "q"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("'localhost:8080' is not a server URL"), "{err}");
}

/// A real llama-server started with `--api-key`: without the key a clear 401 message, with it
/// (from OPENAI_API_KEY) a generation; the key is in no output and no file.
#[test]
fn a_server_key_is_sent_and_never_shown() {
    let Some(gguf) = smollm2() else { return };
    let key = "sk-stepscope-test-5e3cret";
    let Some(srv) = server::start(&gguf, &["--api-key", key]) else { return };
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("out.jsonl");
    let o = out_file.to_str().unwrap();
    let args = ["generate", "--server", &srv.url, "--question", "What is 2+2?", "--max-tokens", "8", "-o", o];
    let (code, out, err) = common::run_env(&args, &[("OPENAI_API_KEY", "")]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("401") && err.contains("--api-key"), "{err}");
    let (code, out, err) = common::run_env(&args, &[("OPENAI_API_KEY", key)]);
    assert_eq!(code, 0, "{out}{err}");
    let written = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(written.lines().count(), 1);
    for text in [&out, &err, &written] {
        assert!(!text.contains(key), "the key was shown: {text}");
    }
    let (code, out, err) = common::run_env(&["generate", "--help"], &[("OPENAI_API_KEY", key)]);
    assert_eq!(code, 0);
    assert!(!out.contains(key) && !err.contains(key), "--help shows the key");
}

/// Contract test (no vLLM can run here): `prm:server` against a fixture that checks the request
/// stepscope sends to vLLM's `/pooling` and answers in the documented shape of
/// `vllm serve Qwen/Qwen2.5-Math-PRM-7B --runner pooling` (one `[P(wrong), P(right)]` row per
/// `<extra_0>`). The step scores are P(right); the spec and provenance name the server.
#[test]
fn contract_vllm_pooling_prm_reads_step_rewards_at_the_separators() {
    let url = server::fixture(|path, body, stream| match path {
        "/v1/models" => server::reply_json(
            stream,
            200,
            r#"{"object":"list","data":[{"id":"Qwen/Qwen2.5-Math-PRM-7B","object":"model","owned_by":"vllm","max_model_len":4096}]}"#,
        ),
        "/pooling" => {
            let req: serde_json::Value = serde_json::from_str(body).unwrap();
            let msgs = req["messages"].as_array().unwrap();
            let ok = req["model"] == "Qwen/Qwen2.5-Math-PRM-7B"
                && msgs.len() == 3
                && msgs[0]["content"].as_str().unwrap().contains("\\boxed{}")
                && msgs[1]["content"].as_str().unwrap().starts_with("Sam has")
                && msgs[2]["role"] == "assistant"
                && msgs[2]["content"].as_str().unwrap().matches("<extra_0>").count() == 3
                && msgs[2]["content"].as_str().unwrap().ends_with("<extra_0>")
                && req["add_generation_prompt"] == false;
            if !ok {
                return server::reply_json(
                    stream,
                    400,
                    &format!(r#"{{"error":{{"message":"unexpected request {body}"}}}}"#),
                );
            }
            server::reply_json(
                stream,
                200,
                r#"{"id":"pool-1","object":"list","created":1,"model":"Qwen/Qwen2.5-Math-PRM-7B","data":[{"index":0,"object":"pooling","data":[[0.05,0.95],[0.3,0.7],[0.8,0.2]]}],"usage":{"prompt_tokens":120,"total_tokens":120}}"#,
            )
        }
        _ => server::reply_json(stream, 404, r#"{"error":{"message":"not here"}}"#),
    });
    let dir = tempfile::tempdir().unwrap();
    let file = traces_file(dir.path(), 2);
    let f = file.to_str().unwrap();
    let (code, out, err) = common::run(&["score", f, "--verifier", "prm", "--server", &url]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("prm:server · 2 traces: 2 scored"), "{out}{err}");
    let records = verify_records(&journal_of(&file));
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(r["spec"], "prm:server");
        assert_eq!(r["scores"], serde_json::json!([0.95, 0.7, 0.2]));
        assert_eq!(r["first_error"], 2);
        assert!(r["model"].as_str().unwrap().ends_with("#Qwen/Qwen2.5-Math-PRM-7B"));
    }
    let (code, out, _) = common::run(&["score", f, "--verifier", "prm", "--server", &url]);
    assert_eq!(code, 0);
    assert!(out.contains("0 scored, 2 reused"), "{out}");
}

/// A word-level stand-in tokenizer for the vLLM fixture: each whitespace-separated word is one
/// token, its id a hash of the word.
fn word_ids(text: &str) -> Vec<u32> {
    text.split_whitespace()
        .map(|w| 100 + w.bytes().fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32)) % 5000)
        .collect()
}

/// Contract test (no vLLM can run here): scoring through vLLM's dialect. The fixture answers
/// `/tokenize` (text and chat messages), `/detokenize` and `/v1/completions` in vLLM's documented
/// shapes: `prompt_logprobs` (`[null, {"<id>": {"logprob", "rank", "decoded_token"}}, …]`) for
/// teacher forcing, and the legacy log-probs with `token_id:N` for a one-token completion. The
/// answer-entropy signal and the judge's P(Yes) come out of those numbers.
#[test]
fn contract_vllm_prompt_logprobs_feed_teacher_forced_signals() {
    let url = server::fixture(|path, body, stream| {
        let req: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        match path {
            "/v1/models" => server::reply_json(
                stream,
                200,
                r#"{"object":"list","data":[{"id":"Qwen/Qwen2.5-Math-7B-Instruct","owned_by":"vllm","max_model_len":4096}]}"#,
            ),
            "/tokenize" => {
                let text = match req["messages"].as_array() {
                    Some(msgs) => msgs.iter().map(|m| m["content"].as_str().unwrap()).collect::<Vec<_>>().join(" "),
                    None => req["prompt"].as_str().unwrap().to_string(),
                };
                let ids = word_ids(&text);
                server::reply_json(
                    stream,
                    200,
                    &serde_json::json!({"tokens": ids, "count": ids.len(), "max_model_len": 4096}).to_string(),
                )
            }
            "/v1/completions" if req["prompt_logprobs"].as_u64().is_some() && req["max_tokens"] == 1 => {
                let prompt: Vec<u64> = req["prompt"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
                let mut lps = vec![serde_json::Value::Null];
                for &id in &prompt[1..] {
                    let other = if id == 7 { 8 } else { 7 };
                    lps.push(serde_json::json!({
                        id.to_string(): {"logprob": -0.5, "rank": 1, "decoded_token": "w"},
                        other.to_string(): {"logprob": -1.5, "rank": 2, "decoded_token": "v"},
                    }));
                }
                let answer = serde_json::json!({"choices": [{"index": 0, "text": "x", "prompt_logprobs": lps, "finish_reason": "length",
                    "logprobs": {"tokens": ["token_id:9"], "token_logprobs": [-0.1], "top_logprobs": [{"token_id:9": -0.1}], "text_offset": [0]}}]});
                server::reply_json(stream, 200, &answer.to_string())
            }
            "/detokenize" => server::reply_json(stream, 200, r#"{"prompt":"w"}"#),
            // The judge's one-token completion: the legacy shape with token ids (`token_id:N`).
            "/v1/completions" if req["return_tokens_as_token_ids"] == true => {
                let (yes, no) = (word_ids("Yes")[0], word_ids("No")[0]);
                let top = serde_json::json!({format!("token_id:{yes}"): -0.2, format!("token_id:{no}"): -1.8});
                let answer = serde_json::json!({"choices": [{"index": 0, "text": "Yes", "finish_reason": "length",
                    "logprobs": {"tokens": [format!("token_id:{yes}")], "token_logprobs": [-0.2], "top_logprobs": [top], "text_offset": [0]}}]});
                server::reply_json(stream, 200, &answer.to_string())
            }
            _ => server::reply_json(stream, 400, &format!(r#"{{"error":{{"message":"unexpected {path} {body}"}}}}"#)),
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let file = traces_file(dir.path(), 1);
    let f = file.to_str().unwrap();
    let args = [
        "score",
        f,
        "--verifier",
        "arith",
        "--signals",
        "answer-entropy",
        "--signal-model",
        "server",
        "--server",
        &url,
    ];
    let (code, out, err) = common::run(&args);
    assert_eq!(code, 0, "{out}{err}");
    let journal = std::fs::read_to_string(journal_of(&file)).unwrap();
    let signal: serde_json::Value = journal
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["kind"] == "signal")
        .unwrap();
    let text = signal.to_string();
    assert_eq!(signal["source"], "teacher-forced:Qwen2.5-Math-7B-Instruct", "{text}");
    // Every answer token's row is {-0.5, -1.5}: H = 0.5·e^-0.5 + 1.5·e^-1.5 at each of the 4 contexts.
    let want = 0.5 * (-0.5f64).exp() + 1.5 * (-1.5f64).exp();
    let h: Vec<f64> = find_key(&signal, "h").unwrap().as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(h.len(), 4, "{text}");
    assert!(h.iter().all(|x| (x - want).abs() < 1e-6), "{h:?} vs {want}");

    // The judge reads P(Yes) from the one-token completion's top log-probs.
    let (code, out, err) = common::run(&["score", f, "--verifier", "judge", "--server", &url]);
    assert_eq!(code, 0, "{out}{err}");
    let records = verify_records(&journal_of(&file));
    let judged = records.iter().find(|r| r["spec"] == "judge:server").unwrap();
    let p_yes = (-0.2f64).exp() / ((-0.2f64).exp() + (-1.8f64).exp());
    let scores: Vec<f64> = judged["scores"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(scores.len() == 3 && scores.iter().all(|p| (p - p_yes).abs() < 1e-6), "{scores:?} vs {p_yes}");
}

fn find_key<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m.get(key).or_else(|| m.values().find_map(|x| find_key(x, key))),
        serde_json::Value::Array(xs) => xs.iter().find_map(|x| find_key(x, key)),
        _ => None,
    }
}

/// A stream cut mid-generation (the server dies after two tokens, twice) drops that server and
/// the generation continues on the other one after the tokens already received: no token twice,
/// none lost. Fault-injecting fixtures stand in for both servers (a real one cannot be made to
/// die after exactly two tokens).
#[test]
fn a_generation_cut_mid_stream_continues_on_another_server() {
    fn models(stream: &mut std::net::TcpStream) {
        server::reply_json(
            stream,
            200,
            r#"{"data":[{"id":"fixture.gguf","owned_by":"llamacpp","meta":{"n_ctx_train":2048}}]}"#,
        )
    }
    fn common_paths(path: &str, stream: &mut std::net::TcpStream) -> bool {
        match path {
            "/v1/models" => models(stream),
            "/apply-template" => server::reply_json(stream, 200, r#"{"prompt":"question"}"#),
            "/tokenize" => server::reply_json(stream, 200, r#"{"tokens":[1,2,3]}"#),
            _ => return false,
        }
        true
    }
    let token = |id: u32, text: &str, finish: &str| {
        format!(
            r#"{{"choices":[{{"text":"{text}","finish_reason":{finish},"logprobs":{{"content":[{{"id":{id},"token":"{text}","logprob":-0.1,"top_logprobs":[{{"id":{id},"token":"{text}","logprob":-0.1}}]}}]}}}}]}}"#
        )
    };
    let a_event = token(5, "a", "null");
    let dying = server::fixture(move |path, _, stream| {
        if !common_paths(path, stream) {
            server::start_events(stream);
            event(stream, &a_event);
            event(stream, &a_event);
            // Dies: the connection closes without a finish.
        }
    });
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<serde_json::Value>::new()));
    let seen_by_b = seen.clone();
    let b_events: Vec<String> = vec![token(6, "b", "null"), token(6, "b", "\"length\"")];
    let healthy = server::fixture(move |path, body, stream| {
        if !common_paths(path, stream) {
            seen_by_b.lock().unwrap().push(serde_json::from_str(body).unwrap());
            server::start_events(stream);
            for e in &b_events {
                event(stream, e);
            }
            event(stream, "[DONE]");
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("out.jsonl");
    let servers = format!("{dying},{healthy}");
    let args = [
        "generate",
        "--server",
        &servers,
        "--concurrency",
        "1",
        "--question",
        "q",
        "--max-tokens",
        "6",
        "--top-k",
        "1",
    ];
    let (code, out, err) = common::run(&[&args[..], &["--retries", "0", "-o", out_file.to_str().unwrap()]].concat());
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains(&format!("dropping server {dying}")), "{err}");
    let trace: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&out_file).unwrap().lines().next().unwrap()).unwrap();
    let texts: String = trace["tokens"].as_array().unwrap().iter().map(|t| t["token"].as_str().unwrap()).collect();
    assert_eq!(texts, "aaaabb", "two tokens from each cut stream, then the rest from the other server");
    let b_request = &seen.lock().unwrap()[0];
    assert_eq!(b_request["prompt"], serde_json::json!([1, 2, 3, 5, 5, 5, 5]), "B continues after A's tokens");
    assert_eq!(b_request["max_tokens"], 2);
}

/// The tokenizer `models tokenizer` exports (tokenizer.json, what the GPU check hands
/// transformers) tokenizes like llama.cpp tokenizes the GGUF it came from: the ids are checked
/// against llama-server's `/tokenize`, an implementation that shares no code with ours.
#[test]
fn exported_tokenizer_matches_llama_server() {
    let Some(gguf) = common::fetched("qwen2.5-coder-0.5b") else { return };
    let Some(srv) = server::start(&gguf, &[]) else { return };
    let dir = tempfile::tempdir().unwrap();
    model::export_tokenizer("qwen2.5-coder-0.5b", dir.path(), &["<extra_0>".to_string()], &mut |_| {}).unwrap();
    let tok = tokenizers::Tokenizer::from_file(dir.path().join("tokenizer.json")).unwrap();
    let texts = [
        "Natalia sold 48/2 = 24 clips in May.\n\nSo 48+24 = 72 clips altogether. Ünïcödé ✓",
        "    def f(x):\n        return x ** 2  # 🙂 tabs\tand   spaces",
        "$1,234.56 + 7% = ? \\frac{3}{4} 東京 123456789",
    ];
    for text in texts {
        let ours = tok.encode(text, false).unwrap().get_ids().to_vec();
        let body = serde_json::json!({"content": text, "add_special": false}).to_string();
        let (code, answer) = server::post_json(srv.port, "/tokenize", &body).expect("/tokenize answers");
        assert_eq!(code, 200, "{answer}");
        let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
        let theirs: Vec<u32> = v["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as u32).collect();
        assert_eq!(ours, theirs, "{text:?}");
    }
}
