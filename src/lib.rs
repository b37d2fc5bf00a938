//! stepscope: step-level inspection of LLM reasoning traces.

pub mod arith;
pub mod cli;
pub mod dirs;
pub mod jobs;
pub mod latex;
pub mod model;
pub mod refine;
pub mod service;
pub mod signals;
pub mod trace;
pub mod tui;
pub mod verify;

/// The system allocator with a per-thread budget for work on hostile input (templates); see
/// [`model::bounded`].
#[global_allocator]
static ALLOCATOR: model::bounded::Budgeted = model::bounded::Budgeted;
