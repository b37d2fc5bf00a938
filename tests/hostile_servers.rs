//! Hostile or broken servers (issue 26: 2, 5, 8, 9, 11): answers a real llama-server never
//! gives on demand, so fixture servers stand in. Each case is a reproduction from the attack
//! run; every fixture loop is bounded in count and time, and listens on loopback only.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::run_with_timeout;
use common::server::{fixture, reply_json, start_events};

const LIMIT: Duration = Duration::from_secs(120);

fn models(stream: &mut TcpStream, meta: &str) {
    let body = format!(r#"{{"data":[{{"id":"fixture.gguf","owned_by":"llamacpp","meta":{meta}}}]}}"#);
    reply_json(stream, 200, &body);
}

/// The endpoints every generation asks before `/v1/completions`.
fn prelude(path: &str, stream: &mut TcpStream, meta: &str, n_ctx: u64) -> bool {
    match path {
        "/v1/models" => models(stream, meta),
        "/props" => reply_json(stream, 200, &format!(r#"{{"default_generation_settings":{{"n_ctx":{n_ctx}}}}}"#)),
        "/apply-template" => reply_json(stream, 200, r#"{"prompt":"question"}"#),
        "/tokenize" => reply_json(stream, 200, r#"{"tokens":[1,2,3]}"#),
        "/detokenize" => reply_json(stream, 200, r#"{"content":"Yes"}"#),
        _ => return false,
    }
    true
}

fn token_event(id: u64, text: &str, finish: &str) -> String {
    format!(
        r#"data: {{"choices":[{{"text":"{text}","finish_reason":{finish},"logprobs":{{"content":[{{"id":{id},"token":"{text}","logprob":-0.1,"top_logprobs":[{{"id":{id},"token":"{text}","logprob":-0.1}}]}}]}}}}]}}"#
    ) + "\n\n"
}

fn generate(url: &str, extra: &[&str], out: &std::path::Path) -> (i32, String, String) {
    let args = ["generate", "--server", url, "--question", "q", "--top-k", "1", "--retries", "0", "-o"];
    run_with_timeout(&[&args[..], &[out.to_str().unwrap()], extra].concat(), LIMIT)
}

/// Empty events every 100 ms never count as progress: `--timeout 1` ends the request.
#[test]
fn empty_events_do_not_hold_a_request() {
    let url = fixture(|path, _, stream| {
        if !prelude(path, stream, r#"{"n_ctx_train":2048}"#, 2048) {
            start_events(stream);
            for _ in 0..600 {
                let empty = "data: {\"choices\":[{\"text\":\"\",\"finish_reason\":null}]}\n\n";
                if stream.write_all(empty.as_bytes()).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.jsonl");
    let (code, _, err) = generate(&url, &["--timeout", "1"], &out);
    assert_ne!(code, -9, "the request was held for {LIMIT:?}");
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("no answer within 1.0 s"), "{err}");
    assert!(!out.exists(), "a run that generated nothing left a file");
}

/// One event of 20 MB: refused at the cap, quickly, instead of parsed in quadratic time.
#[test]
fn a_huge_event_is_refused() {
    let url = fixture(|path, _, stream| {
        if !prelude(path, stream, r#"{"n_ctx_train":2048}"#, 2048) {
            start_events(stream);
            let _ = stream.write_all(b"data: {\"choices\":[{\"text\":\"");
            let piece = vec![b'x'; 1 << 20];
            for _ in 0..20 {
                if stream.write_all(&piece).is_err() {
                    return;
                }
            }
            let _ = stream.write_all(b"\"}]}\n\n");
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = generate(&url, &["--timeout", "5"], &dir.path().join("o.jsonl"));
    assert_ne!(code, -9, "hung");
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("larger than 4 MiB"), "{err}");
}

/// A vocabulary claim past any tokenizer is refused at connect; a token id past the claimed
/// vocabulary is refused naming the server, never allocated for (the judge stored P(Yes) 0.5).
#[test]
fn vocabulary_claims_and_token_ids_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.jsonl");
    std::fs::write(&f, "{\"stepscope\":1,\"id\":\"a\",\"problem\":\"2+2?\",\"steps\":[\"2 + 2 = 4\"]}\n").unwrap();
    let f = f.to_str().unwrap();
    let huge = fixture(|path, _, stream| {
        if !prelude(path, stream, r#"{"n_ctx_train":2048,"n_vocab":1000000000000}"#, 2048) {
            reply_json(stream, 404, "{}");
        }
    });
    let (code, _, err) = run_with_timeout(&["score", f, "--verifier", "judge", "--server", &huge], LIMIT);
    assert_ne!(code, 0);
    assert!(err.contains("claims a vocabulary of 1000000000000 tokens"), "{err}");
    let bad_id = fixture(|path, _, stream| {
        if !prelude(path, stream, r#"{"n_ctx_train":2048,"n_vocab":100}"#, 2048) {
            let body = r#"{"choices":[{"text":"Yes","finish_reason":"length","logprobs":{"content":[{"id":4294967295,"token":"Yes","logprob":-0.1,"top_logprobs":[{"id":4294967295,"token":"Yes","logprob":-0.1}]}]}}]}"#;
            reply_json(stream, 200, body);
        }
    });
    let (_, out, err) = run_with_timeout(&["score", f, "--verifier", "judge", "--server", &bad_id], LIMIT);
    assert!(err.contains("token id 4294967295, outside the vocabulary of 100"), "{out}{err}");
    assert!(err.contains(&bad_id), "the server is named: {err}");
    let journal = std::fs::read_to_string(format!("{f}.stepscope.jsonl")).unwrap_or_default();
    assert!(!journal.contains("judge:server"), "a result was stored: {journal}");
}

/// `n_ctx: 0` from /props says nothing (the training context stands); a prompt that does not
/// fit the server's context is an error, not an empty trace reported as generated.
#[test]
fn a_context_of_zero_or_too_small_is_no_empty_trace() {
    let zero = fixture(|path, _, stream| {
        if !prelude(path, stream, r#"{"n_ctx_train":2048}"#, 0) {
            start_events(stream);
            let _ = stream.write_all(token_event(5, "a", "\"length\"").as_bytes());
            let _ = stream.write_all(b"data: [DONE]\n\n");
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("zero.jsonl");
    let (code, _, err) = generate(&zero, &["--max-tokens", "1"], &out);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 generated, 0 failed"), "{err}");
    let small = fixture(|path, _, stream| {
        if !prelude(path, stream, r#"{"n_ctx_train":2048}"#, 2) {
            start_events(stream);
            let _ = stream.write_all(b"data: [DONE]\n\n");
        }
    });
    let out = dir.path().join("small.jsonl");
    let (code, _, err) = generate(&small, &["--max-tokens", "4"], &out);
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("does not fit the server's context of 2 tokens") && err.contains("0 generated, 1 failed"),
        "{err}"
    );
    assert!(!err.contains("saved traces"), "{err}");
    assert!(!out.exists(), "an empty file was left");
}

/// A password in the server URL and a key the server echoes back are never printed or stored;
/// control bytes in a server's model id or error text never reach the terminal.
#[test]
fn credentials_and_control_bytes_from_servers_are_not_shown() {
    let echo = fixture(|path, body, stream| {
        let _ = body;
        match path {
            "/v1/models" => reply_json(
                stream,
                200,
                r#"{"data":[{"id":"evil\u001b]0;pwned\u0007\u001b]52;c;aGk=\u0007.gguf","owned_by":"llamacpp","meta":{"n_ctx_train":2048}}]}"#,
            ),
            // An error that quotes the request's Authorization header and a terminal escape.
            _ => reply_json(stream, 400, r#"{"error":{"message":"bad: Bearer sk-SECRET-123 \u001b[2J"}}"#),
        }
    });
    let with_password = echo.replacen("http://", "http://alice:PASSWORD@", 1);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.jsonl");
    let (code, stdout, err) = run_with_timeout(
        &[
            "generate",
            "--server",
            &with_password,
            "--api-key",
            "sk-SECRET-123",
            "--question",
            "q",
            "--retries",
            "0",
            "-o",
            out.to_str().unwrap(),
        ],
        LIMIT,
    );
    assert_ne!(code, 0);
    let all = format!("{stdout}{err}");
    assert!(!all.contains("PASSWORD") && !all.contains("sk-SECRET-123"), "{all}");
    assert!(all.contains("[api key]"), "the echoed key is shown redacted: {all}");
    assert!(!all.contains('\u{1b}') && !all.contains('\u{7}'), "control bytes reached the terminal: {all:?}");
    assert!(all.contains("127.0.0.1"), "the server is still named: {all}");
}

/// `doctor --server` against a server whose token ids are not the local model's: the error says
/// which side failed and names the server (it used to name neither).
#[test]
fn doctor_names_the_server_when_its_ids_do_not_fit() {
    let Some(_) = common::fetched("smollm2") else { return };
    let url = fixture(|path, _, stream| {
        if !prelude(path, stream, r#"{"n_ctx_train":2048}"#, 2048) {
            start_events(stream);
            let _ = stream.write_all(token_event(4_000_000, "zz", "\"length\"").as_bytes());
            let _ = stream.write_all(b"data: [DONE]\n\n");
        }
    });
    let (code, out, err) =
        run_with_timeout(&["doctor", "--server", &url, "--model", "smollm2", "--tokens", "1"], LIMIT);
    assert_ne!(code, 0, "{out}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(&url), "the server is named: {err}");
}
