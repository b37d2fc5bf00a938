//! Each PRM format on a tiny random checkpoint in the real HF layout: config.json with the real
//! `architectures` string, safetensors with the real head tensor names, and a tokenizer.json that
//! holds the real separator tokens. The adapter's step scores must equal an independent
//! computation (the test's own token ids and positions → plain-loops reference hidden states →
//! head written out by hand → softmax/sigmoid) to 1e-5, from one forward pass.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use candle_core::{Device, Tensor};
use common::tiny::{reference_hidden, weights, write_hf, Family, SHAPE};
use serde_json::json;
use stepscope::trace::Trace;
use stepscope::verify::prm::{PrmFormat, PrmVerifier, QWEN_SYSTEM};
use stepscope::verify::{Ctx, Options, Verifier};

const PROBLEM: &str = "Tom has 3 apples and buys 4 more . How many apples ?";
const STEPS: [&str; 3] = ["Tom starts with 3 apples .", "He buys 4 more , so 3 + 4 = 7 .", "The answer is 7 ."];

/// Special tokens at the top of the 96-id vocabulary, as the real tokenizers have them.
const SPECIAL: [&str; 10] = [
    "<extra_0>",
    "<|im_start|>",
    "<|im_end|>",
    "ки",
    "<|begin_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<s>",
    "[UNK]",
];

/// A word-level tokenizer.json: every word, number, punctuation mark and newline of the test
/// texts is a token; the special tokens are added tokens.
fn write_tokenizer(dir: &Path) {
    let words = "Tom has 3 apples and buys 4 more . How many ? starts with He , so + = 7 The answer is \
                 Step 1 2 : - system user assistant Please reason step by and put your final within \\ boxed { } \
                 \n \n\n";
    let mut vocab: Vec<String> = Vec::new();
    for w in words.split(' ').chain(["\n", "\n\n"]) {
        if !w.is_empty() && !vocab.iter().any(|v| v == w) {
            vocab.push(w.to_string());
        }
    }
    let first_special = SHAPE.vocab - SPECIAL.len();
    assert!(vocab.len() <= first_special, "{} words", vocab.len());
    let mut map = serde_json::Map::new();
    for (i, w) in vocab.iter().enumerate() {
        map.insert(w.clone(), json!(i));
    }
    let added: Vec<serde_json::Value> = SPECIAL
        .iter()
        .enumerate()
        .map(|(i, t)| {
            map.insert(t.to_string(), json!(first_special + i));
            json!({"id": first_special + i, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": false, "special": *t != "ки"})
        })
        .collect();
    let tok = json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added, "normalizer": null,
        // Newline runs, words and single symbols are pieces; spaces between them are dropped.
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "\n+|[A-Za-z0-9]+|[^A-Za-z0-9\\s]"}, "behavior": "Isolated", "invert": false},
            {"type": "Split", "pattern": {"Regex": "[ \t]+"}, "behavior": "Removed", "invert": false}
        ]},
        "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "vocab": map, "unk_token": "[UNK]"}
    });
    std::fs::write(dir.join("tokenizer.json"), tok.to_string()).unwrap();
}

/// A checkpoint of `family` with `architecture`, extra config keys and head tensors.
fn checkpoint(
    dir: &Path,
    family: Family,
    architecture: &str,
    extra_config: serde_json::Value,
    head: &[(&str, Vec<usize>)],
    drop_lm_head: bool,
) -> HashMap<String, Vec<f32>> {
    write_hf(family, dir);
    write_tokenizer(dir);
    let cfg_path = dir.join("config.json");
    let mut cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    cfg["architectures"] = json!([architecture]);
    for (k, v) in extra_config.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    let st = dir.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&st, &Device::Cpu).unwrap();
    if drop_lm_head {
        tensors.remove("lm_head.weight");
    }
    let mut values = HashMap::new();
    for (i, (name, shape)) in head.iter().enumerate() {
        let n = shape.iter().product();
        let v = weights(900 + i as u64, n, 0.5);
        tensors.insert(name.to_string(), Tensor::from_vec(v.clone(), shape.as_slice(), &Device::Cpu).unwrap());
        values.insert(name.to_string(), v);
    }
    candle_core::safetensors::save(&tensors, &st).unwrap();
    values
}

fn encode(dir: &Path, text: &str) -> Vec<u32> {
    let tok = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    tok.encode(text, false).unwrap().get_ids().to_vec()
}

fn linear(w: &[f32], b: Option<&[f32]>, x: &[f32]) -> Vec<f32> {
    let cols = x.len();
    (0..w.len() / cols)
        .map(|o| (0..cols).map(|i| w[o * cols + i] * x[i]).sum::<f32>() + b.map_or(0.0, |b| b[o]))
        .collect()
}

fn softmax(v: &[f32]) -> Vec<f64> {
    let max = v.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
    let e: Vec<f64> = v.iter().map(|x| (*x as f64 - max).exp()).collect();
    let z: f64 = e.iter().sum();
    e.iter().map(|x| x / z).collect()
}

fn trace() -> Trace {
    Trace::from_step_texts("t1", PROBLEM, &STEPS)
}

/// Loads the adapter, scores the trace, and checks ids, positions, one pass and the scores.
fn check(
    dir: &Path,
    format: PrmFormat,
    forced: Option<&str>,
    ids: &[u32],
    positions: &[usize],
    expected: &dyn Fn(&[f32]) -> f64,
) {
    let opts = Options { prm_format: forced.map(str::to_string), ..Options::default() };
    let mut v = PrmVerifier::load(dir.to_str().unwrap(), &opts).unwrap();
    assert_eq!(v.format(), format);
    let input = v.input(PROBLEM, &STEPS).unwrap();
    assert_eq!(input.ids, ids, "{format:?}: token ids");
    assert_eq!(input.positions, positions, "{format:?}: scoring positions");
    let cancel = AtomicBool::new(false);
    let scored = v.score(&trace(), &mut Ctx { cancel: &cancel, progress: &mut |_| {} }).unwrap();
    assert_eq!(scored.forward_passes, 1, "{format:?}: all steps in one forward pass");
    assert!(scored.truncated.is_none());
    let family =
        if matches!(format, PrmFormat::MathShepherd | PrmFormat::RlhFlow) { Family::Llama } else { Family::Qwen2 };
    let hidden = reference_hidden(family, false, ids);
    for (k, &p) in positions.iter().enumerate() {
        let want = expected(&hidden[p]);
        let got = scored.steps[k].score.unwrap();
        assert!((got - want).abs() <= 1e-5, "{format:?} step {k}: adapter {got} vs independent {want}");
    }
}

fn qwen_checkpoint(dir: &Path) -> HashMap<String, Vec<f32>> {
    let h = SHAPE.hidden;
    checkpoint(
        dir,
        Family::Qwen2,
        "Qwen2ForProcessRewardModel",
        json!({"auto_map": {"AutoModel": "modeling_qwen2_rm.Qwen2ForProcessRewardModel"}, "num_labels": 2}),
        &[
            ("score.0.weight", vec![h, h]),
            ("score.0.bias", vec![h]),
            ("score.2.weight", vec![2, h]),
            ("score.2.bias", vec![2]),
        ],
        true,
    )
}

/// Packed passes (several traces in one forward, a block-diagonal mask) give the scores of one
/// pass per trace, in order, whatever the packing limit; bf16 on the CPU stays within its
/// tolerance of f32.
#[test]
fn packed_scoring_equals_one_pass_per_trace_and_bf16_is_close() {
    use stepscope::model::{LoadOptions, Precision};
    let dir = tempfile::tempdir().unwrap();
    qwen_checkpoint(dir.path());
    let traces: Vec<Trace> = (1..=STEPS.len())
        .chain([2, 1, 3])
        .enumerate()
        .map(|(i, n)| Trace::from_step_texts(&format!("t{i}"), PROBLEM, &STEPS[..n]))
        .collect();
    let refs: Vec<&Trace> = traces.iter().collect();
    let v = PrmVerifier::load(dir.path().to_str().unwrap(), &Options::default()).unwrap();
    let cancel = AtomicBool::new(false);
    let single: Vec<Vec<f64>> = traces
        .iter()
        .map(|t| {
            let s = v.score_trace(t, &mut Ctx { cancel: &cancel, progress: &mut |_| {} }).unwrap();
            s.steps.iter().map(|x| x.score.unwrap()).collect()
        })
        .collect();
    let longest = traces.iter().map(|t| v.input(&t.problem, &t.step_texts()).unwrap().ids.len()).max().unwrap();
    for limit in [1, longest, 2 * longest + 1, 10_000] {
        let packed = v.score_packed(&refs, limit).unwrap();
        assert_eq!(packed.len(), traces.len());
        for (i, (p, s)) in packed.iter().zip(&single).enumerate() {
            let got: Vec<f64> = p.steps.iter().map(|x| x.score.unwrap()).collect();
            assert_eq!(got.len(), s.len(), "trace {i}, limit {limit}");
            for (a, b) in got.iter().zip(s) {
                assert!((a - b).abs() <= 1e-5, "trace {i}, limit {limit}: packed {a} vs single {b}");
            }
        }
    }
    let bf16 = Options { load: LoadOptions { dtype: Precision::Bf16, ..LoadOptions::default() }, ..Options::default() };
    let half = PrmVerifier::load(dir.path().to_str().unwrap(), &bf16).unwrap();
    assert_eq!(half.model().dtype_name(), "bf16");
    let (_, tolerance) = stepscope::service::doctor::tolerance(candle_core::DType::BF16);
    for (t, s) in traces.iter().zip(&single) {
        let h = half.score_trace(t, &mut Ctx { cancel: &cancel, progress: &mut |_| {} }).unwrap();
        for (a, b) in h.steps.iter().zip(s) {
            let a = a.score.unwrap();
            assert!((a - b).abs() <= tolerance, "{}: bf16 {a} vs f32 {b}", t.id);
        }
    }
}

#[test]
fn qwen_process_reward_model() {
    let dir = tempfile::tempdir().unwrap();
    let head = qwen_checkpoint(dir.path());
    let text = format!(
        "<|im_start|>system\n{QWEN_SYSTEM}<|im_end|>\n<|im_start|>user\n{PROBLEM}<|im_end|>\n<|im_start|>assistant\n{}<|im_end|>\n",
        STEPS.map(|s| format!("{s}<extra_0>")).concat()
    );
    let ids = encode(dir.path(), &text);
    let sep = encode(dir.path(), "<extra_0>")[0];
    let positions: Vec<usize> = ids.iter().enumerate().filter(|(_, t)| **t == sep).map(|(i, _)| i).collect();
    assert_eq!(positions.len(), 3);
    let expected = |x: &[f32]| {
        let a: Vec<f32> =
            linear(&head["score.0.weight"], Some(&head["score.0.bias"]), x).iter().map(|v| v.max(0.0)).collect();
        softmax(&linear(&head["score.2.weight"], Some(&head["score.2.bias"]), &a))[1]
    };
    check(dir.path(), PrmFormat::Qwen, None, &ids, &positions, &expected);
}

#[test]
fn skywork_value_head() {
    let dir = tempfile::tempdir().unwrap();
    let h = SHAPE.hidden;
    let head = checkpoint(
        dir.path(),
        Family::Qwen2,
        "Qwen2ForPrmModel",
        json!({"auto_map": {"AutoModel": "modeling_qwen2_rm.Qwen2ForRewardModel"}}),
        &[("v_head.summary.weight", vec![1, h]), ("v_head.summary.bias", vec![1])],
        false,
    );
    // bos (none for Qwen) + problem + "\n", then each step followed by the "\n" token.
    let newline = *encode(dir.path(), "\n").last().unwrap();
    let mut ids = encode(dir.path(), &format!("{PROBLEM}\n"));
    let mut positions = Vec::new();
    for s in STEPS {
        ids.extend(encode(dir.path(), s));
        ids.push(newline);
        positions.push(ids.len() - 1);
    }
    let expected = |x: &[f32]| {
        let v = linear(&head["v_head.summary.weight"], Some(&head["v_head.summary.bias"]), x)[0] as f64;
        1.0 / (1.0 + (-v).exp())
    };
    check(dir.path(), PrmFormat::Skywork, None, &ids, &positions, &expected);
}

#[test]
fn trl_token_classification() {
    let dir = tempfile::tempdir().unwrap();
    let h = SHAPE.hidden;
    let head = checkpoint(
        dir.path(),
        Family::Qwen2,
        "Qwen2ForTokenClassification",
        json!({"num_labels": 2, "id2label": {"0": "LABEL_0", "1": "LABEL_1"}}),
        &[("score.weight", vec![2, h]), ("score.bias", vec![2])],
        true,
    );
    // sep.join([problem, *steps[:i]]) + sep; the last token of each such prefix.
    let mut positions = Vec::new();
    let mut text = format!("{PROBLEM}\n");
    for s in STEPS {
        text.push_str(&format!("{s}\n"));
        positions.push(encode(dir.path(), &text).len() - 1);
    }
    let ids = encode(dir.path(), &text);
    let expected = |x: &[f32]| softmax(&linear(&head["score.weight"], Some(&head["score.bias"]), x))[1];
    check(dir.path(), PrmFormat::Trl, None, &ids, &positions, &expected);
}

/// The LM head of the tiny checkpoint, for the generative PRMs.
fn lm_head() -> Vec<f32> {
    common::tiny::tensors(Family::Llama).into_iter().find(|(n, _, _)| n == "lm_head").unwrap().2
}

#[test]
fn math_shepherd_tags() {
    let dir = tempfile::tempdir().unwrap();
    checkpoint(dir.path(), Family::Llama, "MistralForCausalLM", json!({"model_type": "mistral"}), &[], false);
    let lines: Vec<String> = STEPS.iter().enumerate().map(|(k, s)| format!("Step {}: {s} ки", k + 1)).collect();
    let ids = encode(dir.path(), &format!("{PROBLEM} {}", lines.join("\n")));
    let tag = encode(dir.path(), "ки")[0];
    let positions: Vec<usize> = ids.iter().enumerate().filter(|(_, t)| **t == tag).map(|(i, _)| i).collect();
    let (plus, minus) = (encode(dir.path(), "+")[0] as usize, encode(dir.path(), "-")[0] as usize);
    let lm = lm_head();
    let expected = |x: &[f32]| {
        let logits = linear(&lm, None, x);
        softmax(&[logits[plus], logits[minus]])[0]
    };
    check(dir.path(), PrmFormat::MathShepherd, None, &ids, &positions, &expected);
}

#[test]
fn rlhflow_multi_turn() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("RLHFlow-Llama3.1-8B-PRM-Mistral-Data-tiny");
    std::fs::create_dir(&dir).unwrap();
    checkpoint(&dir, Family::Llama, "LlamaForCausalLM", json!({}), &[], false);
    // A Llama-3 style chat template (the real one adds date headers; the turn shape is what matters).
    let template = "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}";
    std::fs::write(
        dir.join("tokenizer_config.json"),
        json!({"chat_template": template, "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}).to_string(),
    )
    .unwrap();
    let turn = |role: &str, content: &str| format!("<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>");
    let mut text = "<|begin_of_text|>".to_string();
    let mut positions = Vec::new();
    for (k, s) in STEPS.iter().enumerate() {
        let content = if k == 0 { format!("{PROBLEM}\n\n{s}") } else { s.to_string() };
        text.push_str(&turn("user", &content));
        let asking = format!("{text}<|start_header_id|>assistant<|end_header_id|>\n\n");
        positions.push(encode(&dir, &asking).len() - 1);
        text.push_str(&turn("assistant", "+"));
    }
    let ids = encode(&dir, &text);
    let (plus, minus) = (encode(&dir, "+")[0] as usize, encode(&dir, "-")[0] as usize);
    let lm = lm_head();
    let expected = |x: &[f32]| {
        let logits = linear(&lm, None, x);
        softmax(&[logits[plus], logits[minus]])[0]
    };
    check(&dir, PrmFormat::RlhFlow, None, &ids, &positions, &expected);
    // The same folder under a neutral name is only RLHFlow by flag.
    let neutral = root.path().join("plain");
    std::fs::rename(&dir, &neutral).unwrap();
    check(&neutral, PrmFormat::RlhFlow, Some("rlhflow"), &ids, &positions, &expected);
}

#[test]
fn unknown_and_outcome_models_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    checkpoint(dir.path(), Family::Qwen2, "Qwen2ForRewardModel", json!({}), &[], false);
    let err = PrmVerifier::load(dir.path().to_str().unwrap(), &Options::default()).err().unwrap().to_string();
    assert!(err.contains("outcome reward model"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    checkpoint(dir.path(), Family::Qwen2, "Qwen2Model", json!({}), &[], false);
    let err = PrmVerifier::load(dir.path().to_str().unwrap(), &Options::default()).err().unwrap().to_string();
    assert!(err.contains("not a process reward model"), "{err}");
}

#[test]
fn input_longer_than_the_context_is_reported_not_silent() {
    let dir = tempfile::tempdir().unwrap();
    let h = SHAPE.hidden;
    checkpoint(
        dir.path(),
        Family::Qwen2,
        "Qwen2ForTokenClassification",
        json!({"num_labels": 2}),
        &[("score.weight", vec![2, h]), ("score.bias", vec![2])],
        true,
    );
    // The tiny model has a 128-token context; 30 steps of ~10 tokens do not fit.
    let steps: Vec<String> = (0..30).map(|i| format!("He buys {} more , so 3 + 4 = 7 .", i % 5)).collect();
    let trace = Trace::from_step_texts("long", PROBLEM, &steps);
    let mut v = PrmVerifier::load(dir.path().to_str().unwrap(), &Options::default()).unwrap();
    let cancel = AtomicBool::new(false);
    let scored = v.score(&trace, &mut Ctx { cancel: &cancel, progress: &mut |_| {} }).unwrap();
    let why = scored.truncated.expect("truncation is reported");
    assert!(why.contains("not scored") && why.contains("context 128"), "{why}");
    let scored_steps = scored.steps.iter().filter(|s| s.score.is_some()).count();
    assert!(scored_steps > 0 && scored_steps < 30, "{scored_steps}");
    assert!(scored.steps[29].score.is_none() && scored.steps[29].detail.contains("context"));
    // Through the CLI the truncation is printed and stored with the result.
    let traces = dir.path().join("long.jsonl");
    std::fs::write(&traces, format!("{}\n", stepscope::trace::formats::native::to_value(&trace, None))).unwrap();
    let (code, out, err) =
        common::run(&["score", traces.to_str().unwrap(), "--verifier", &format!("prm:{}", dir.path().display())]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("truncated: steps") && out.contains("1 truncated"), "{out}\n{err}");
}

#[test]
fn zero_step_traces_are_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let traces = dir.path().join("empty.jsonl");
    let empty = Trace::from_step_texts::<&str>("empty-1", PROBLEM, &[]);
    let full = trace();
    let lines = [&empty, &full].map(|t| stepscope::trace::formats::native::to_value(t, None).to_string()).join("\n");
    std::fs::write(&traces, lines + "\n").unwrap();
    let (code, out, err) = common::run(&["score", traces.to_str().unwrap(), "--verifier", "arith"]);
    assert_eq!(code, 1, "a failed trace makes the exit status 1");
    assert!(err.contains("empty-1: trace empty-1 has no steps to verify"), "{err}");
    assert!(out.contains("1 scored") && out.contains("1 failed"), "{out}");
}

/// `bench --prm` scores a trace file one pass per trace and packed, reports both, and writes
/// each trace's step probabilities; the two settings give the same probabilities.
#[test]
fn bench_prm_reports_throughput_and_writes_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("prm");
    std::fs::create_dir(&model).unwrap();
    qwen_checkpoint(&model);
    let records: Vec<serde_json::Value> = (1..=STEPS.len())
        .map(|n| {
            json!({"id": format!("t{n}"), "generator": "test", "problem": PROBLEM, "steps": &STEPS[..n],
                   "final_answer_correct": true, "label": -1})
        })
        .collect();
    let traces = dir.path().join("traces.json");
    std::fs::write(&traces, serde_json::to_string(&records).unwrap()).unwrap();
    let probs = dir.path().join("probs.jsonl");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stepscope"))
        .args(["bench", "--prm", model.to_str().unwrap(), "--traces", traces.to_str().unwrap()])
        .args(["--device", "cpu", "--batch-tokens", "0,64", "--json", "--probs-out", probs.to_str().unwrap()])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    let rows: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{stdout}");
    for r in rows {
        assert_eq!(r["traces"], 3);
        assert!(r["tokens_per_second"].as_f64().unwrap() > 0.0);
    }
    assert!(stderr.contains("packed ≤ 64 tokens"), "{stderr}");
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&probs).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 6);
    for (a, b) in lines[..3].iter().zip(&lines[3..]) {
        assert_eq!(a["id"], b["id"]);
        let (pa, pb) = (a["probs"].as_array().unwrap(), b["probs"].as_array().unwrap());
        assert_eq!(pa.len(), pb.len());
        for (x, y) in pa.iter().zip(pb) {
            assert!((x.as_f64().unwrap() - y.as_f64().unwrap()).abs() <= 1e-5, "{a} vs {b}");
        }
    }
}
