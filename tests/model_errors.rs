//! Bad models give a clear error through the CLI, never a panic.

mod common;

use std::path::Path;

use candle_core::quantized::{gguf_file, GgmlDType};
use common::tiny::{write_gguf, write_gguf_with, write_hf, Family};

fn logprobs_error(model: &Path, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("t.txt");
    std::fs::write(&text, "Two plus two is four.").unwrap();
    let mut cmd = common::bin();
    cmd.args(["logprobs", "--model", model.to_str().unwrap(), "--device", "cpu", text.to_str().unwrap()]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn wrong_magic() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.gguf");
    std::fs::write(&p, b"NOTAGGUFFILE-------------------------------").unwrap();
    let err = logprobs_error(&p, &[]);
    assert!(err.contains("bad.gguf: not a valid GGUF file"), "{err}");
}

/// Under RUST_BACKTRACE=1 the reason is one line, not a page of frames.
#[test]
fn wrong_magic_with_backtraces_on_is_still_one_reason() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.gguf");
    std::fs::write(&p, b"NOTAGGUFFILE-------------------------------").unwrap();
    let err = logprobs_error(&p, &[("RUST_BACKTRACE", "1")]);
    assert!(err.contains("bad.gguf: not a valid GGUF file"), "{err}");
    assert!(err.lines().count() <= 2 && !err.contains("backtrace"), "{err}");
}

/// A FIFO given as the model file is refused at once (it used to block for ever after
/// "loading"), for a plain model and for a judge's.
#[test]
fn a_fifo_as_the_model_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("x.gguf");
    common::mkfifo(&fifo);
    let limit = std::time::Duration::from_secs(60);
    let f = fifo.to_str().unwrap();
    let (code, _, err) = common::run_with_timeout(&["generate", "--model", f, "--question", "q"], limit);
    assert_ne!(code, -9, "blocked on the FIFO");
    assert!(err.contains("not a regular file"), "{err}");
    let traces = dir.path().join("t.jsonl");
    std::fs::write(&traces, "{\"stepscope\":1,\"id\":\"a\",\"problem\":\"p\",\"steps\":[\"1 + 1 = 2\"]}\n").unwrap();
    let judge = format!("judge:{f}");
    let (code, _, err) = common::run_with_timeout(&["score", traces.to_str().unwrap(), "--verifier", &judge], limit);
    assert_ne!(code, -9, "blocked on the FIFO");
    assert!(err.contains("not a regular file"), "{err}");
}

#[test]
fn truncated_gguf() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cut.gguf");
    write_gguf(Family::Llama, &p, GgmlDType::F32);
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let err = logprobs_error(&p, &[]);
    assert!(err.contains("truncated GGUF"), "{err}");
}

#[test]
fn unsupported_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mamba.gguf");
    let arch = [("general.architecture".to_string(), gguf_file::Value::String("mamba".into()))];
    write_gguf_with(Family::Llama, &p, GgmlDType::F32, &arch);
    let err = logprobs_error(&p, &[]);
    assert!(err.contains("unsupported architecture 'mamba'"), "{err}");
}

#[test]
fn gguf_without_tokenizer() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notok.gguf");
    write_gguf(Family::Qwen2, &p, GgmlDType::F32);
    let err = logprobs_error(&p, &[]);
    assert!(err.contains("has no tokenizer"), "{err}");
}

#[test]
fn folder_without_tokenizer() {
    let dir = tempfile::tempdir().unwrap();
    write_hf(Family::Qwen3, dir.path());
    let err = logprobs_error(dir.path(), &[]);
    assert!(err.contains("no tokenizer.json"), "{err}");
}

#[test]
fn model_too_large_for_memory() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.gguf");
    write_gguf(Family::Llama, &p, GgmlDType::F32);
    let err = logprobs_error(&p, &[("STEPSCOPE_MEMORY_LIMIT", "1000")]);
    assert!(err.contains("the model needs about") && err.contains("available"), "{err}");
}

#[test]
fn unknown_model_name() {
    let err = logprobs_error(Path::new("no-such-model"), &[]);
    assert!(err.contains("neither a file, a folder, nor a known name"), "{err}");
}

/// Metadata no real model has is refused by name before anything is allocated for it.
#[test]
fn absurd_gguf_metadata_is_refused_by_name() {
    use gguf_file::Value as V;
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, V, &str)> = vec![
        ("llama.context_length", V::U32(u32::MAX), "llama.context_length"),
        ("llama.block_count", V::U32(1 << 31), "llama.block_count"),
        ("llama.attention.head_count", V::U32(0), "llama.attention.head_count"),
        ("llama.embedding_length", V::U64(1 << 40), "llama.embedding_length"),
    ];
    for (key, value, named) in cases {
        let p = dir.path().join("crafted.gguf");
        write_gguf_with(Family::Llama, &p, GgmlDType::F32, &[(key.to_string(), value)]);
        let err = logprobs_error(&p, &[]);
        assert!(err.contains(named), "{key}: {err}");
    }
}

/// A config that does not match the tensors is caught at load, naming the tensor.
#[test]
fn metadata_that_does_not_match_the_tensors_names_the_tensor() {
    use gguf_file::Value as V;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mismatch.gguf");
    write_gguf_with(Family::Llama, &p, GgmlDType::F32, &[("llama.attention.head_count_kv".into(), V::U32(4))]);
    let err = logprobs_error(&p, &[]);
    assert!(err.contains("blk.0.attn_k.weight") && err.contains("shape"), "{err}");
    let p = dir.path().join("ffn.gguf");
    write_gguf_with(Family::Llama, &p, GgmlDType::F32, &[("llama.feed_forward_length".into(), V::U32(50))]);
    let err = logprobs_error(&p, &[]);
    assert!(err.contains("blk.0.ffn_gate.weight"), "{err}");
}

#[test]
fn hf_config_problems_name_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    write_hf(Family::Qwen2, dir.path());
    let cfg = dir.path().join("config.json");
    std::fs::write(&cfg, "{\"model_type\": \"qwen2\", broken").unwrap();
    let err = logprobs_error(dir.path(), &[]);
    assert!(err.contains("config.json") && err.contains("invalid JSON"), "{err}");
    write_hf(Family::Qwen2, dir.path());
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    v["max_position_embeddings"] = serde_json::json!(4_000_000_000u64);
    std::fs::write(&cfg, v.to_string()).unwrap();
    let err = logprobs_error(dir.path(), &[]);
    assert!(err.contains("config.json") && err.contains("max_position_embeddings"), "{err}");
}

/// candle's GGUF parser divides by `general.alignment`; an alignment of 0 is a clean error.
#[test]
fn zero_alignment_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("align.gguf");
    let md = [("general.alignment".to_string(), gguf_file::Value::U32(0))];
    write_gguf_with(Family::Llama, &p, GgmlDType::F32, &md);
    let err = logprobs_error(&p, &[]);
    assert!(err.contains("not a valid GGUF file") && err.contains("parser failed"), "{err}");
}
