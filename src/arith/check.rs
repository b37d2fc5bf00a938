//! One step through the checker.
//!
//! Math in LaTeX (display and inline) goes through the expression front end (`expr`) and the
//! scope rules (`scope`). Prose keeps the GSM8K rules (`prose`); named quantities must agree
//! (`linear`). Tolerance lives in `claim::accepts`.

use super::claim::Claim;
use super::expr::{lex, readings, Env, Value};
use super::parts::{self, Part};
use super::prose::{annotation_claims, equation_claims, normalize, strip_annotations};
use super::rational::Ratio;
use super::{hypothesis, linear, scope};

/// All claims of one step, in order: calculator annotations, then each scope's claims (see
/// `scope`): display blocks on their own, prose with its inline math up to the next case.
/// Sentences that are hypotheses (tested and rejected, questions, said to be false; see
/// `hypothesis`) give no claims and bind no names.
pub fn check_step(text: &str) -> Vec<Claim> {
    let mut claims = annotation_claims(text);
    let text = strip_annotations(text);
    let mut prose = String::new();
    let mut sources: Vec<String> = Vec::new();
    let flush = |prose: &mut String, sources: &mut Vec<String>, claims: &mut Vec<Claim>| {
        let refs: Vec<&str> = sources.iter().map(String::as_str).collect();
        let alternatives = hypothesis::lists_alternatives(prose);
        claims.extend(scope::claims(&refs, alternatives));
        claims.extend(equation_claims(&normalize(prose)));
        claims.extend(linear::claims(prose));
        prose.clear();
        sources.clear();
    };
    let sentences = hypothesis::sentences(&text);
    let hypotheses = hypothesis::hypotheses(&sentences);
    for (sentence, hypothetical) in sentences.into_iter().zip(hypotheses) {
        if sentence.opens_scope {
            flush(&mut prose, &mut sources, &mut claims);
        }
        if hypothetical {
            continue;
        }
        for part in sentence.parts {
            match part {
                Part::Display(body) => {
                    flush(&mut prose, &mut sources, &mut claims);
                    claims.extend(scope::claims(&[&body], false));
                }
                Part::Inline(body) if parts::states(&body) => {
                    sources.push(body);
                    prose.push_str(" ; ");
                }
                Part::Inline(body) => {
                    prose.push(' ');
                    prose.push_str(&body);
                    prose.push(' ');
                }
                Part::Prose(p) => prose.push_str(&p),
            }
        }
    }
    flush(&mut prose, &mut sources, &mut claims);
    claims
}

/// The first wrong claim of a step, if any.
pub fn first_wrong(text: &str) -> Option<Claim> {
    check_step(text).into_iter().find(|c| !c.ok)
}

/// Exact value of a plain expression (`+ - * / ^ ( ) %`, LaTeX too); None when it has no single
/// exact reading (names, notation we do not read, overflow, irrational results).
pub fn eval(expr: &str) -> Option<Ratio> {
    match readings(&lex(expr), &Env::new())?.1.as_slice() {
        [Value::Exact(r)] => Some(*r),
        _ => None,
    }
}
