//! stepscope: step-level inspection of LLM reasoning traces.

pub mod cli;
pub mod dirs;
pub mod jobs;
pub mod model;
pub mod refine;
pub mod service;
pub mod signals;
pub mod trace;
pub mod tui;
pub mod verify;
