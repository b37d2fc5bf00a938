//! Traces: the data model, formats (import/export), segmentation and the durable label store.

pub mod answer;
pub mod export;
pub mod formats;
pub mod model;
pub mod opener;
pub mod output;
pub mod provenance;
pub mod segment;
pub mod source;
pub mod store;
pub mod thinking;

pub use formats::{Format, ReadOptions};
pub use model::{ChatTurn, Label, Replay, Step, TokenInfo, TopToken, Trace};
pub use opener::Opener;
pub use provenance::Provenance;
pub use segment::Segmentation;
pub use source::{OpenError, Problem, TraceFile};
pub use store::Store;
