//! `prm:server`: a process reward model served by vLLM's pooling runner, e.g.
//! `vllm serve Qwen/Qwen2.5-Math-PRM-7B --runner pooling` (older vLLM: `--task reward`).
//!
//! The request is the Qwen PRM's input (methods §2.1) as chat messages, which the server renders
//! with the PRM's own template: the system prompt, the problem, and the steps each followed by
//! `<extra_0>`. With step pooling the server answers one row per `<extra_0>` position, the
//! softmax over the head's two classes; the step's score is P(class 1), exactly the local
//! adapter's reading of its own head.

use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};

use super::prm::{QWEN_SEPARATOR, QWEN_SYSTEM};
use super::{model_info, Ctx, ModelInfo, Scored, StepScore, Verifier};
use crate::model::remote::RemoteModel;
use crate::trace::Trace;

pub struct RemotePrmVerifier {
    model: Arc<RemoteModel>,
}

impl RemotePrmVerifier {
    pub fn new(model: Arc<RemoteModel>) -> RemotePrmVerifier {
        RemotePrmVerifier { model }
    }

    /// The `/pooling` request for a problem and its steps.
    pub fn request(&self, problem: &str, steps: &[&str]) -> Value {
        let answer: String = steps.iter().map(|s| format!("{s}{QWEN_SEPARATOR}")).collect();
        json!({
            "model": self.model.served_id(),
            "messages": [
                {"role": "system", "content": QWEN_SYSTEM},
                {"role": "user", "content": problem},
                {"role": "assistant", "content": answer},
            ],
            "add_generation_prompt": false,
        })
    }
}

/// P(correct) of each step from the rows of `data[0].data`.
pub fn step_rewards(response: &Value, steps: usize) -> Result<Vec<f64>> {
    let rows = response
        .pointer("/data/0/data")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("/pooling: no `data[0].data` list"))?;
    if rows.len() != steps {
        bail!(
            "/pooling: {} rows for {steps} steps (the PRM must be served with step pooling at <extra_0>: see the README)",
            rows.len()
        );
    }
    rows.iter()
        .enumerate()
        .map(|(i, row)| reward(row).map_err(|e| anyhow!("/pooling: `data[0].data[{i}]` {e}")))
        .collect()
}

/// One row: `[p0, p1]` probabilities (or two logits, softmaxed here), or one probability.
fn reward(row: &Value) -> Result<f64, String> {
    let values: Vec<f64> = match row {
        Value::Array(xs) => xs.iter().map(|x| x.as_f64().ok_or("holds a non-number")).collect::<Result<_, _>>()?,
        x => vec![x.as_f64().ok_or("is not a number")?],
    };
    let probabilities = values.iter().all(|p| (0.0..=1.0).contains(p));
    match values.as_slice() {
        [p] if probabilities => Ok(*p),
        [a, b] if probabilities && (a + b - 1.0).abs() < 1e-3 => Ok(*b),
        // Two logits: the softmax's second entry.
        [a, b] => Ok(1.0 / (1.0 + (a - b).exp())),
        other => Err(format!("has {} values (expected the two classes' probabilities)", other.len())),
    }
}

impl Verifier for RemotePrmVerifier {
    fn spec(&self) -> String {
        format!("prm:{}", crate::model::remote::SERVER_SPEC)
    }

    fn model(&self) -> Option<ModelInfo> {
        Some(model_info(self.model.as_ref()))
    }

    fn default_threshold(&self) -> f64 {
        0.5
    }

    fn score(&mut self, trace: &Trace, ctx: &mut Ctx) -> Result<Scored> {
        ctx.check_cancel()?;
        let steps = trace.step_texts();
        (ctx.progress)(&format!("{}: {} steps, one pooling request", trace.id, steps.len()));
        let response = self.model.pooling(&self.request(&trace.problem, &steps), ctx.cancel)?;
        let rewards = step_rewards(&response, steps.len())?;
        let scores = rewards.into_iter().map(|p| StepScore::new(p, format!("P(correct) {p:.3}"))).collect();
        Ok(Scored { steps: scores, truncated: None, forward_passes: 1 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_as_probabilities_or_logits() {
        let r =
            json!({"data": [{"index": 0, "object": "pooling", "data": [[0.2, 0.8], [0.9, 0.1], [0.0, 2.0], [0.75]]}]});
        let p = step_rewards(&r, 4).unwrap();
        assert_eq!((p[0], p[1], p[3]), (0.8, 0.1, 0.75));
        assert!((p[2] - 1.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-12);
        let err = step_rewards(&r, 3).unwrap_err().to_string();
        assert!(err.contains("4 rows for 3 steps"), "{err}");
        let bad = json!({"data": [{"data": [["x", 1]]}]});
        assert!(step_rewards(&bad, 1).unwrap_err().to_string().contains("data[0].data[0]"));
    }
}
