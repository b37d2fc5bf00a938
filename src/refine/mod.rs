//! Refinement: strategies that rewrite a trace from its first error (or whole), reranking of
//! the draft and its candidates, and the metrics comparing them (docs/methods.md §9).

pub mod diff;
pub mod metrics;
pub mod prompts;
pub mod report;
pub mod rerank;
pub mod strategy;
