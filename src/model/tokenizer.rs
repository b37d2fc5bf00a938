//! Tokenizers from GGUF metadata (with the SmolLM2 pre-tokenizer fix) or `tokenizer.json`.

use std::path::Path;

use anyhow::{anyhow, Result};
use candle_core::quantized::gguf_file;
use candle_core::quantized::tokenizer::TokenizerFromGguf;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::Tokenizer;

/// Builds the tokenizer stored in a GGUF file.
pub fn from_gguf(ct: &gguf_file::Content) -> Result<Tokenizer> {
    if !ct.metadata.contains_key("tokenizer.ggml.tokens") {
        return Err(anyhow!("the GGUF file has no tokenizer (no tokenizer.ggml.tokens)"));
    }
    // tokenizers' BPE builder can panic on hostile merges (found by fuzzing): an error here.
    let mut tok = super::guard::catching(|| Tokenizer::from_gguf(ct))
        .map_err(|p| anyhow!("cannot build the tokenizer from GGUF metadata (the builder failed: {p})"))?
        .map_err(|e| anyhow!("cannot build the tokenizer from GGUF metadata: {e}"))?;
    let pre = ct.metadata.get("tokenizer.ggml.pre").and_then(|v| v.to_string().ok()).cloned().unwrap_or_default();
    if pre == "smollm" || pre == "starcoder" {
        // candle maps unknown `pre` values to ByteLevel with a prefix space and no digit split;
        // SmolLM2's own tokenizer.json splits digits one by one and adds no prefix space.
        let seq = Sequence::new(vec![Digits::new(true).into(), ByteLevel::new(false, true, true).into()]);
        tok.with_pre_tokenizer(Some(seq));
    }
    Ok(tok)
}

/// Loads `tokenizer.json` from an HF model folder.
pub fn from_dir(dir: &Path) -> Result<Tokenizer> {
    let path = dir.join("tokenizer.json");
    if !path.exists() {
        return Err(anyhow!("{}: no tokenizer.json in the model folder", dir.display()));
    }
    super::guard::catching(|| Tokenizer::from_file(&path))
        .map_err(|p| anyhow!("{}: the tokenizer builder failed: {p}", path.display()))?
        .map_err(|e| anyhow!("{}: {e}", path.display()))
}

/// Token ids of `text` without added special tokens.
pub fn encode(tok: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    Ok(tok.encode(text, false).map_err(|e| anyhow!("tokenize: {e}"))?.get_ids().to_vec())
}

/// Text of the given ids, special tokens kept.
pub fn decode(tok: &Tokenizer, ids: &[u32]) -> Result<String> {
    tok.decode(ids, false).map_err(|e| anyhow!("detokenize: {e}"))
}

#[cfg(test)]
mod tests {
    /// A GGUF header the fuzzer made (from our own seed): its merges make tokenizers' BPE
    /// builder index past a token. An error now; a panic before.
    #[test]
    fn hostile_merges_are_an_error() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fuzz-bpe-merges-panic.gguf");
        let mut f = std::fs::File::open(path).unwrap();
        let ct = crate::model::read_gguf_header(&mut f).unwrap();
        let e = super::from_gguf(&ct).unwrap_err().to_string();
        assert!(e.contains("cannot build the tokenizer"), "{e}");
    }
}
