//! The arithmetic checker: finds the arithmetic claims of a step and checks them with exact
//! rational arithmetic (floats only for irrational results). Model-free and pure.
//!
//! Built for precision: anything ambiguous (words inside the expression, dates, ranges, notation
//! the front end does not read) is no evidence rather than an error.
//!
//! Files from the bottom up; each uses only files above it in this list, so nothing cycles
//! (`tests/architecture.rs` checks):
//! - `pattern`: regexes compiled once; `rational`: exact fractions;
//! - `expr`: the front end (winnow lexer and Pratt parser for LaTeX and plain math, every reading
//!   of an ambiguous expression);
//! - `claim`: a claim and the tolerance (`accepts`);
//! - `parts`: a step cut into display math, inline math and prose, and where cases start;
//! - `prose`: the GSM8K prose rules (annotations, units, spans around `=`);
//! - `linear`: named quantities in prose must agree;
//! - `hypothesis`: which sentences are claims at all;
//! - `scope`: where names hold values, claims between closed sides;
//! - `check`: one step through all of them.

pub mod check;
pub mod claim;
pub mod expr;
pub mod hypothesis;
pub mod linear;
pub mod parts;
pub mod pattern;
pub mod prose;
pub mod rational;
pub mod scope;

pub use check::{check_step, eval, first_wrong};
pub use claim::Claim;
