//! Models behind an HTTP server (llama.cpp's llama-server, vLLM, any OpenAI-compatible endpoint).
//!
//! So far only the wire formats (`wire`): what a server's completion chunks say about the tokens
//! it generated. The client and the `LanguageModel` over it come next (issue 14).

pub mod wire;
