//! Application policy that every face calls (the CLI commands and the model worker behind the
//! TUI), so they all behave alike:
//!
//! - [`models`]: the one model cache (main, verifier, PRM and signal models), counting loads.
//! - [`score`]: score-or-reuse — a stored result of the same verifier and model file stands in
//!   for running it, without loading the model.
//! - [`judge`]: judge a labelled file (what `eval` and `calibrate` measure).
//! - [`campaign`]: agreement, the failure report, time per trace, sampling, the disagreement queue.
//! - [`generation`]: a generation becomes a trace that can be replayed exactly.
//! - [`refine`]: runs a refinement plan (prefix read once, forked per sample; `local` resampled
//!   when a rewrite visibly fails), makes and stores the candidate with its provenance.
//! - [`batch`]: a refinement batch over files (what `refine` runs): plan, make or reuse, score.
//! - [`fanout`]: spreads independent requests over several servers (threads = their capacity).
//! - [`crosscheck`]: our forward against a server's log-probs on the same text.
//! - [`doctor`]: the device, and a self-test of the forward on it against a plain f64 forward.
//! - [`signal_eval`]: a signal per trace (reused or computed), and how well it predicts a wrong answer.
//!
//! Nothing here prints: progress goes to the callers' callbacks.

pub mod batch;
pub mod campaign;
pub mod crosscheck;
pub mod doctor;
pub mod fanout;
pub mod generation;
pub mod judge;
pub mod models;
pub mod refine;
pub mod score;
pub mod signal_eval;
pub mod synth;
pub mod train;

pub use models::Models;
pub use score::{Outcome, Scorer};
