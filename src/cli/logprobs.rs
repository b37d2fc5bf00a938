//! `stepscope logprobs`: per-token log-probs and entropies of a text, and perplexity.

use crate::cli::range::{limits::*, within};
use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::modelargs::ModelArgs;
use super::{EXIT_OK, EXIT_USAGE};
use crate::model::{LanguageModel, Model};

#[derive(Args, Debug)]
pub struct LogprobsArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Text file to score.
    pub text: PathBuf,
    /// Score in non-overlapping windows of N tokens like llama.cpp's llama-perplexity (second
    /// half of each window scored) and print only the perplexity.
    #[arg(long, value_name = "N", value_parser = within(3, MAX_CONTEXT))]
    pub ctx: Option<usize>,
    /// Alternatives per position.
    #[arg(long, default_value_t = 5, value_parser = within(0, MAX_TOP_K))]
    pub top_k: usize,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: LogprobsArgs) -> i32 {
    match score(&args) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            crate::errln!("error: {e:#}");
            EXIT_USAGE
        }
    }
}

fn score(args: &LogprobsArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.text).map_err(|e| anyhow::anyhow!("{}: {e}", args.text.display()))?;
    if text.is_empty() {
        anyhow::bail!("{}: the file is empty: no tokens to score", args.text.display());
    }
    let model = args.model.load()?;
    let tokens = model.with_bos(model.encode(&text)?);
    // The first token has no prediction: a score needs at least two.
    if tokens.len() < 2 {
        anyhow::bail!("{}: no tokens to score (the text is {} token long)", args.text.display(), tokens.len());
    }
    if let Some(n_ctx) = args.ctx {
        let p = model.perplexity(&tokens, n_ctx)?;
        if args.json {
            crate::outln!(
                "{}",
                json!({"model": model.name, "tokens": tokens.len(), "n_ctx": n_ctx, "windows": p.windows,
                       "scored": p.scored, "perplexity": p.value})
            );
        } else {
            crate::outln!(
                "perplexity {:.4} over {} windows of {n_ctx} tokens ({} tokens scored, {} in the text)",
                p.value,
                p.windows,
                p.scored,
                tokens.len()
            );
        }
        return Ok(());
    }
    let context = model.context_length();
    if tokens.len() > context {
        anyhow::bail!(
            "{}: {} tokens do not fit the model context of {context}; use --ctx N to score in windows",
            args.text.display(),
            tokens.len()
        );
    }
    let mut prefix = model.start();
    let scores = LanguageModel::score(&model, &mut prefix, &tokens, args.top_k)?;
    let nll: f64 = -scores.iter().map(|s| s.logprob).sum::<f64>() / scores.len().max(1) as f64;
    if args.json {
        print_json(&model, &tokens, &scores, nll);
    } else {
        crate::outln!("{:>6}  {:<20} {:>9} {:>8}", "pos", "token", "logprob", "entropy");
        for (i, s) in scores.iter().enumerate() {
            let t = model.decode(&[s.id]).unwrap_or_default();
            crate::outln!("{:>6}  {:<20} {:>9.4} {:>8.4}", i + 1, format!("{t:?}"), s.logprob, s.entropy);
        }
        crate::outln!("tokens {} · mean NLL {nll:.4} · perplexity {:.4}", tokens.len(), nll.exp());
    }
    Ok(())
}

fn print_json(model: &Model, tokens: &[u32], scores: &[crate::model::score::TokenScore], nll: f64) {
    let rows: Vec<serde_json::Value> = scores
        .iter()
        .map(|s| {
            let top: Vec<serde_json::Value> =
                s.top.iter().map(|(id, lp)| json!([model.decode(&[*id]).unwrap_or_default(), lp])).collect();
            json!({"id": s.id, "token": model.decode(&[s.id]).unwrap_or_default(), "logprob": s.logprob, "entropy": s.entropy, "top": top})
        })
        .collect();
    let first = model.decode(&tokens[..1]).unwrap_or_default();
    crate::outln!(
        "{}",
        json!({"model": model.name, "first_token": first, "tokens": rows, "mean_nll": nll, "perplexity": nll.exp()})
    );
}
