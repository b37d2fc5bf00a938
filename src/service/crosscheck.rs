//! `stepscope doctor --server URL --model LOCAL`: does the server run the same model as a local
//! file? The server generates a short greedy completion; the local model scores the same tokens
//! (teacher forcing). Reported: whether the two tokenize alike (the chat prompt, step
//! separators, a sample solution), each token's log-prob on both sides, and where the local
//! argmax agrees with the server's choice.

use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};

use crate::model::generate::GenerateParams;
use crate::model::{LanguageModel, Message};

/// Texts whose tokens must agree for stored traces and step scores to mean the same on both.
pub const PROBES: &[&str] = &[
    "\n\n",
    "\n",
    "<extra_0>",
    "Step 1: The bakery makes 12 × 9 = 108 muffins.\n\nStep 2: It sells 85 + 17 = 102, so 108 - 102 = 6 are left.",
    "The answer is \\boxed{6}.",
];

/// One tokenization compared.
#[derive(Debug, Clone)]
pub struct Tokenized {
    pub text: String,
    pub server: Vec<u32>,
    pub local: Vec<u32>,
}

impl Tokenized {
    pub fn agrees(&self) -> bool {
        self.server == self.local
    }
}

/// One generated token, as the server and the local model see it.
#[derive(Debug, Clone)]
pub struct TokenCheck {
    pub id: u32,
    pub text: String,
    pub server: f64,
    pub local: f64,
    /// Whether the local model's own greedy choice at this position is this token.
    pub local_argmax: bool,
}

#[derive(Debug, Clone)]
pub struct CrossCheck {
    pub prompt: Tokenized,
    pub probes: Vec<Tokenized>,
    pub tokens: Vec<TokenCheck>,
}

impl CrossCheck {
    pub fn tokenization_agrees(&self) -> bool {
        self.prompt.agrees() && self.probes.iter().all(Tokenized::agrees)
    }

    pub fn max_diff(&self) -> f64 {
        self.tokens.iter().map(|t| (t.server - t.local).abs()).fold(0.0, f64::max)
    }

    pub fn mean_diff(&self) -> f64 {
        self.tokens.iter().map(|t| (t.server - t.local).abs()).sum::<f64>() / self.tokens.len().max(1) as f64
    }
}

/// Runs the check: `n` greedy tokens after `question` (as a user message) on the server.
pub fn cross_check(
    server: &dyn LanguageModel,
    local: &dyn LanguageModel,
    question: &str,
    n: usize,
) -> Result<CrossCheck> {
    // Every failure names the side it came from: the server (its address) or the local model.
    let at_server = || format!("server {}", server.backend());
    let at_local = || format!("local model {}", local.name());
    let chat = [Message::new("user", question)];
    let prompt = Tokenized {
        text: "(chat prompt)".into(),
        server: server.chat_prompt(&chat).with_context(at_server)?,
        local: local.chat_prompt(&chat).with_context(at_local)?,
    };
    let probes = PROBES
        .iter()
        .map(|p| {
            Ok(Tokenized {
                text: p.to_string(),
                server: server.encode(p).with_context(at_server)?,
                local: local.encode(p).with_context(at_local)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let params = GenerateParams { max_tokens: n, top_k: 1, ..GenerateParams::default() };
    let mut prefix = server.start();
    let g = server
        .generate(&mut prefix, &prompt.server, &params, &AtomicBool::new(false), &mut |_| {})
        .with_context(at_server)?;
    // The server's tokens after the server's prompt, read by the local model.
    let mut ids = prompt.server.clone();
    ids.extend(g.tokens.iter().map(|t| t.id));
    let mut local_prefix = local.start();
    let scores = local.score(&mut local_prefix, &ids, 1).with_context(|| {
        format!("{} cannot read the tokens of {} (do they share a tokenizer?)", at_local(), at_server())
    })?;
    let tokens = g
        .tokens
        .iter()
        .zip(&scores[prompt.server.len() - 1..])
        .map(|(t, s)| TokenCheck {
            id: t.id,
            text: t.text.clone(),
            server: t.logprob,
            local: s.logprob,
            local_argmax: s.top.first().is_some_and(|&(id, _)| id == t.id),
        })
        .collect();
    Ok(CrossCheck { prompt, probes, tokens })
}
