//! Where claims live: a step is cut into display blocks, inline math and prose; names hold a
//! value only inside one scope (a display block, or a stretch of prose up to the next case such
//! as "If", "When", "Case 2", "at x = …"), and only when every assignment in the scope agrees.
//!
//! Inside a scope each statement (`a = b = c`, cut at `,` `;` `\quad` `\implies` words …) gives
//! claims between neighbouring sides that are closed: numbers, or names with a known value.
//! Linear equations in one unknown without an assignment must agree on its solution.

use std::collections::HashMap;

use super::claim::{accepts, Claim};
use super::expr::{is_case_word, lex, readings, Env, Expr, Rel, Tok, Value};
use super::rational::Ratio;

/// Claims of one scope, given its math sources (display or inline bodies), in order.
/// `alternatives`: the scope's prose lists alternatives (`or`, `either`, `roots`); so does math
/// with `\text{or}` or `\pm`. There a name holds a set of values: see `segment_claims`.
pub fn claims(sources: &[&str], alternatives: bool) -> Vec<Claim> {
    let alternatives = alternatives || sources.iter().any(|s| super::hypothesis::lists_alternatives(s));
    let mut segments: Vec<Vec<Vec<Tok>>> = vec![Vec::new()];
    for src in sources {
        for (k, segment) in statements(&read_words(lex(src))).into_iter().enumerate() {
            // A case word inside display math (`\text{if}`) opens a new segment.
            if k > 0 {
                segments.push(Vec::new());
            }
            segments.last_mut().expect("one segment").extend(segment);
        }
    }
    segments.iter().flat_map(|s| segment_claims(s, alternatives)).collect()
}

/// Words in math: consecutive words are one (`Total cost`); a remark in brackets after a number
/// (`15 (\text{light blue})`) labels it; a word standing as an operand (`\text{Total} = 5 + 3`,
/// `\text{apples} + \text{pears}`) names a quantity.
fn read_words(tokens: Vec<Tok>) -> Vec<Tok> {
    let mut merged: Vec<Tok> = Vec::new();
    for t in tokens {
        match (merged.last_mut(), t) {
            (Some(Tok::Word(prev)), Tok::Word(w)) if !is_case_word(&w) && !is_case_word(prev) => {
                prev.push(' ');
                prev.push_str(&w);
            }
            (_, t) => merged.push(t),
        }
    }
    let mut out: Vec<Tok> = Vec::new();
    let mut k = 0;
    while k < merged.len() {
        let after_number = matches!(out.last(), Some(Tok::Num(..) | Tok::Percent | Tok::Unit));
        if after_number
            && merged[k] == Tok::Open
            && matches!(merged.get(k + 1), Some(Tok::Word(_)))
            && merged.get(k + 2) == Some(&Tok::Close)
        {
            out.push(Tok::Unit);
            k += 3;
            continue;
        }
        let t = merged[k].clone();
        if let Tok::Word(w) = &t {
            let before_ok =
                matches!(out.last(), None | Some(Tok::Rel(_) | Tok::Op(_) | Tok::Open | Tok::Sep | Tok::LineBreak));
            let after_ok = matches!(
                merged.get(k + 1),
                None | Some(Tok::Rel(_) | Tok::Op(_) | Tok::Close | Tok::Sep | Tok::LineBreak)
            );
            let operator_next = matches!(merged.get(k + 1), Some(Tok::Rel(_) | Tok::Op(_)))
                || matches!(out.last(), Some(Tok::Rel(_) | Tok::Op(_)));
            if before_ok && after_ok && operator_next && !is_case_word(w) && !after_number {
                out.push(Tok::Var(w.to_lowercase()));
                k += 1;
                continue;
            }
        }
        out.push(t);
        k += 1;
    }
    out
}

/// Statements of a token run, grouped into case segments. Units after numbers are marked; other
/// words end a statement; top-level commas separate; `\\ &= …` continues the chain. A statement
/// that starts with a relation or an operator after a word or separator has lost its left side
/// (`\text{Age} - 4 = …`): it starts with an unreadable token.
fn statements(tokens: &[Tok]) -> Vec<Vec<Vec<Tok>>> {
    let mut segments: Vec<Vec<Vec<Tok>>> = vec![Vec::new()];
    let mut current: Vec<Tok> = Vec::new();
    let mut depth = 0i32;
    // What ended the previous statement: a word (its text was a side), a line break, or another cut.
    let mut after_word = false;
    let mut after_break = false;
    let finish = |current: &mut Vec<Tok>, segments: &mut Vec<Vec<Vec<Tok>>>| {
        if !current.is_empty() {
            segments.last_mut().expect("one segment").push(std::mem::take(current));
        }
    };
    for (k, t) in tokens.iter().enumerate() {
        match t {
            Tok::Open | Tok::BraceOpen | Tok::BracketOpen => depth += 1,
            Tok::Close | Tok::BraceClose | Tok::BracketClose => depth -= 1,
            _ => {}
        }
        match t {
            Tok::Word(w) if is_case_word(w) => {
                finish(&mut current, &mut segments);
                segments.push(Vec::new());
                (after_word, after_break) = (false, false);
            }
            Tok::Word(_) if is_unit(tokens, k) => current.push(Tok::Unit),
            Tok::Word(_) => {
                finish(&mut current, &mut segments);
                (after_word, after_break) = (true, false);
            }
            Tok::LineBreak => {
                finish(&mut current, &mut segments);
                (after_word, after_break) = (false, true);
            }
            Tok::Sep => {
                finish(&mut current, &mut segments);
                (after_word, after_break) = (false, false);
            }
            Tok::Comma if depth <= 0 => {
                finish(&mut current, &mut segments);
                (after_word, after_break) = (false, false);
            }
            Tok::Rel(_) if current.is_empty() => {
                // `\\ &= 12`: the chain goes on from the last side of the previous statement.
                match segments.last().and_then(|s| s.last()) {
                    Some(prev) if after_break => current.extend(last_side(prev).iter().cloned()),
                    _ => current.push(Tok::Bad),
                }
                current.push(t.clone());
            }
            Tok::Op(op) if current.is_empty() && (after_word || *op != '-') => {
                current.push(Tok::Bad);
                current.push(t.clone());
            }
            _ => current.push(t.clone()),
        }
    }
    finish(&mut current, &mut segments);
    segments
}

/// A word right after a number (`5 \text{ cm}`, `160 \text{ dollars per bag}`) labels it.
fn is_unit(tokens: &[Tok], k: usize) -> bool {
    let Tok::Word(w) = &tokens[k] else { return false };
    !is_case_word(w)
        && k > 0
        && matches!(tokens[k - 1], Tok::Num(..) | Tok::Percent | Tok::Degree | Tok::BraceClose | Tok::Close | Tok::Unit)
        && w.split_whitespace().count() <= 4
        // `2 \text{ gives } 2p + 1`: a word between two operands is prose.
        && !matches!(
            tokens.get(k + 1),
            Some(Tok::Num(..) | Tok::Var(_) | Tok::Frac | Tok::Sqrt | Tok::Open | Tok::Pi | Tok::BraceOpen)
        )
}

/// A side without its unit labels, and whether it had one.
fn without_units(side: &[Tok]) -> (Vec<Tok>, bool) {
    let kept: Vec<Tok> = side.iter().filter(|t| **t != Tok::Unit).cloned().collect();
    let had = kept.len() < side.len();
    (kept, had)
}

fn last_side(statement: &[Tok]) -> &[Tok] {
    let start = statement.iter().rposition(|t| matches!(t, Tok::Rel(_))).map_or(0, |k| k + 1);
    &statement[start..]
}

/// Sides and the relations between them.
fn sides(statement: &[Tok]) -> (Vec<&[Tok]>, Vec<Rel>) {
    let mut sides = Vec::new();
    let mut rels = Vec::new();
    let mut start = 0;
    let mut depth = 0i32;
    for (k, t) in statement.iter().enumerate() {
        match t {
            Tok::Open | Tok::BraceOpen | Tok::BracketOpen => depth += 1,
            Tok::Close | Tok::BraceClose | Tok::BracketClose => depth -= 1,
            Tok::Rel(r) if depth == 0 => {
                sides.push(&statement[start..k]);
                rels.push(*r);
                start = k + 1;
            }
            _ => {}
        }
    }
    sides.push(&statement[start..]);
    (sides, rels)
}

fn names(e: &Expr) -> Vec<String> {
    let mut out = Vec::new();
    e.names(&mut out);
    out
}

/// The value of each name the segment makes unambiguous: the one plain number it is set to
/// (`S = 54`), or, with none, the one value all its assignments compute. Two plain values (roots,
/// trial values) or disagreeing computations leave the name unknown.
/// The values one side may have.
type Readings = Vec<Value>;

fn assignments(statements: &[Vec<Tok>], env: &Env) -> Env {
    // name → (plain values, computed values); an empty entry marks an uncertain name.
    let mut seen: HashMap<String, (Vec<Readings>, Vec<Readings>)> = HashMap::new();
    for st in statements {
        let (sides, rels) = sides(st);
        for (k, rel) in rels.iter().enumerate() {
            for (name_side, value_side) in [(sides[k], sides[k + 1]), (sides[k + 1], sides[k])] {
                let [Tok::Var(name)] = name_side else { continue };
                let entry = seen.entry(name.clone()).or_default();
                let (value_side, _) = without_units(value_side);
                match readings(&value_side, env) {
                    Some((e, values)) if *rel == Rel::Eq && !values.is_empty() => {
                        if e.has_operation() {
                            entry.1.push(values)
                        } else {
                            entry.0.push(values)
                        }
                    }
                    // `x < 3`, `x ≈ 2.4`, `x = y + 1`: the name is not pinned down here.
                    _ if *rel != Rel::Eq => entry.0.push(Vec::new()),
                    _ => {}
                }
            }
        }
    }
    let mut out = env.clone();
    for (name, (plain, computed)) in seen {
        let all = if plain.is_empty() { &computed } else { &plain };
        let one = |all: &[Readings]| match all.first() {
            Some(first) if first.len() == 1 && all.iter().all(|v| v == first) => Some(first[0]),
            _ => None,
        };
        // Computations that disagree list roots (`x = 0, x = \sqrt{3}, x = -\sqrt{3}`): a set,
        // unless one of them reaches the plain value (a derivation: `S = 165 × 6/11`, `S = 9 × 6`,
        // `S = 54`).
        let derived = one(&plain).filter(|p| computed.iter().any(|c| c.as_slice() == [*p]));
        let value = if computed.is_empty() || one(&computed).is_some() { one(all) } else { derived };
        match value {
            Some(v) if !env.contains_key(&name) || env.get(&name) == Some(&v) => {
                out.insert(name, v);
            }
            _ => {
                out.remove(&name);
            }
        }
    }
    out
}

/// Claims of one segment. Names have values (`assignments`) unless the scope lists
/// alternatives: then every name holds a set, nothing is substituted, and each value a name is
/// set to must be one of the solutions its linear equations give (`Sets`).
fn segment_claims(statements: &[Vec<Tok>], alternatives: bool) -> Vec<Claim> {
    // Two passes: `y = 2x` is known once `x` is.
    let env = if alternatives {
        Env::new()
    } else {
        let env = assignments(statements, &Env::new());
        assignments(statements, &env)
    };
    let assigned: Vec<String> = statements
        .iter()
        .flat_map(|st| {
            let (sides, _) = sides(st);
            sides.iter().filter_map(|s| if let [Tok::Var(n)] = s { Some(n.clone()) } else { None }).collect::<Vec<_>>()
        })
        .collect();
    let mut out = Vec::new();
    let mut solutions: HashMap<String, (Ratio, String)> = HashMap::new();
    let mut sets = Sets::default();
    for st in statements {
        let (sides, rels) = sides(st);
        for (k, rel) in rels.iter().enumerate() {
            let ((a, unit_a), (b, _)) = (without_units(sides[k]), without_units(sides[k + 1]));
            let (Some((ea, va)), Some((eb, vb))) = (readings(&a, &env), readings(&b, &env)) else {
                sets.unreadable(&a, &b);
                continue;
            };
            // `x = 5` is the assignment itself; `S = 165 \times 6` is checked against S's value.
            let bare = |e: &Expr| matches!(e, Expr::Var(_));
            if (bare(&ea) || bare(&eb)) && !(ea.has_operation() || eb.has_operation()) && !alternatives {
                continue;
            }
            let mut text = format!("{ea} {} {eb}", rel.symbol());
            // `4 \text{ hours} = 4 \times 60`: a quantity with a unit may be a conversion.
            let converts = unit_a && !ea.has_operation();
            if !va.is_empty() && !vb.is_empty() {
                if (ea.has_operation() || eb.has_operation()) && !converts {
                    let ok = accepts(*rel, &va, &vb, &eb, false) || accepts(reverse(*rel), &vb, &va, &ea, false);
                    let used: Vec<String> = names(&ea).into_iter().chain(names(&eb)).collect();
                    if !used.is_empty() {
                        let values: Vec<String> = used.iter().map(|n| format!("{n} = {}", env[n])).collect();
                        text = format!("{text} with {}", values.join(", "));
                    }
                    // The side that computes is the computed one (`S = 165 × 6/11`: 90, not 54).
                    let (computed, stated) = if ea.has_operation() { (va[0], vb[0]) } else { (vb[0], va[0]) };
                    out.push(Claim { text, computed, stated, ok });
                }
                continue;
            }
            if *rel != Rel::Eq {
                sets.unreadable(&a, &b);
            } else if alternatives {
                sets.add(&ea, &va, &eb, &vb);
            } else {
                solve(&ea, &eb, &env, &assigned, text, &mut solutions, &mut out);
            }
        }
    }
    out.extend(sets.claims());
    out
}

/// The sets a scope with alternatives binds: per name, the values it is set to and the
/// solutions of the linear equations it is in. A name also in an equation we cannot solve
/// (`x^2 = 9`, two unknowns, unreadable notation) makes no claim.
#[derive(Default)]
struct Sets {
    values: HashMap<String, Vec<(Value, Expr)>>,
    solutions: HashMap<String, Vec<Ratio>>,
    unsolved: std::collections::HashSet<String>,
}

impl Sets {
    fn unreadable(&mut self, a: &[Tok], b: &[Tok]) {
        for t in a.iter().chain(b) {
            if let Tok::Var(n) = t {
                self.unsolved.insert(n.clone());
            }
        }
    }

    /// `ea = eb`, where the side values `va`/`vb` are known only when closed.
    fn add(&mut self, ea: &Expr, va: &[Value], eb: &Expr, vb: &[Value]) {
        let mut unknowns: Vec<String> = names(ea).into_iter().chain(names(eb)).collect();
        unknowns.sort();
        unknowns.dedup();
        let [v] = unknowns.as_slice() else {
            self.unsolved.extend(unknowns);
            return;
        };
        match (ea, eb) {
            (Expr::Var(_), _) if !vb.is_empty() => self.values.entry(v.clone()).or_default().push((vb[0], eb.clone())),
            (_, Expr::Var(_)) if !va.is_empty() => self.values.entry(v.clone()).or_default().push((va[0], ea.clone())),
            _ => match linear_solution(ea, eb, v, &Env::new()) {
                Some(value) => self.solutions.entry(v.clone()).or_default().push(value),
                None => {
                    self.unsolved.insert(v.clone());
                }
            },
        }
    }

    /// A value outside the solutions, where the equations give at least two (the alternatives).
    fn claims(&self) -> Vec<Claim> {
        let mut out = Vec::new();
        for (name, values) in &self.values {
            let Some(solutions) = self.solutions.get(name) else { continue };
            let mut distinct = solutions.clone();
            distinct.sort_by(|a, b| a.to_f64().total_cmp(&b.to_f64()));
            distinct.dedup();
            if self.unsolved.contains(name) || distinct.len() < 2 {
                continue;
            }
            let listed: Vec<Value> = distinct.iter().map(|r| Value::Exact(*r)).collect();
            for (value, expr) in values {
                if accepts(Rel::Eq, &listed, &[*value], expr, false) {
                    continue;
                }
                let shown: Vec<String> = distinct.iter().map(|r| format!("{name} = {r}")).collect();
                let nearest = *listed
                    .iter()
                    .min_by(|a, b| (a.to_f64() - value.to_f64()).abs().total_cmp(&(b.to_f64() - value.to_f64()).abs()))
                    .expect("two solutions");
                out.push(Claim {
                    text: format!("{name} = {expr}: the equations here give {}", shown.join(" or ")),
                    computed: nearest,
                    stated: *value,
                    ok: false,
                });
            }
        }
        out
    }
}

fn reverse(rel: Rel) -> Rel {
    match rel {
        Rel::Lt => Rel::Gt,
        Rel::Gt => Rel::Lt,
        Rel::Le => Rel::Ge,
        Rel::Ge => Rel::Le,
        r => r,
    }
}

/// A linear equation in one unknown that no assignment names: its solution must agree with
/// every other one in the segment.
fn solve(
    a: &Expr,
    b: &Expr,
    env: &Env,
    assigned: &[String],
    text: String,
    solutions: &mut HashMap<String, (Ratio, String)>,
    out: &mut Vec<Claim>,
) {
    let mut unknowns: Vec<String> = names(a).into_iter().chain(names(b)).filter(|n| !env.contains_key(n)).collect();
    unknowns.dedup();
    let [v] = unknowns.as_slice() else { return };
    if assigned.contains(v) {
        return;
    }
    let Some(value) = linear_solution(a, b, v, env) else { return };
    match solutions.get(v) {
        None => {
            solutions.insert(v.clone(), (value, text));
        }
        Some((earlier, earlier_text)) => {
            let close =
                (earlier.to_f64() - value.to_f64()).abs() <= 1e-3 * earlier.to_f64().abs().max(value.to_f64().abs());
            out.push(Claim {
                text: format!("{text} (earlier {earlier_text}): {v} = {value}, not {earlier}"),
                computed: Value::Exact(*earlier),
                stated: Value::Exact(value),
                ok: *earlier == value || close,
            });
        }
    }
}

/// The solution of `a = b`, linear in `v`.
fn linear_solution(a: &Expr, b: &Expr, v: &str, env: &Env) -> Option<Ratio> {
    let ((a0, a1), (b0, b1)) = (a.linear(v, env)?, b.linear(v, env)?);
    let den = a1.minus(b1).filter(|d| *d != Ratio::int(0))?;
    b0.minus(a0)?.over(den)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_hold_one_value_per_scope() {
        let wrong = |src: &[&str]| claims(src, false).iter().any(|c| !c.ok);
        assert!(wrong(&["x = 4", "2x + 1 = 10"]));
        assert!(!wrong(&["x = 4", "2x + 1 = 9"]));
        // Two plain values: roots or trials, no value.
        assert!(!wrong(&["x = 4, x = 5", "2x + 1 = 9"]));
        // A case word inside display math starts a new segment.
        assert!(!wrong(&[r"x = 4 \text{ if } x = 5, 2x = 10"]));
        // Chains over `\\ &=` go on from the last side.
        assert!(wrong(&[r"a &= 2 + 3 \\ &= 6"]));
        assert!(!wrong(&[r"a &= 2 + 3 \\ &= 5"]));
    }

    #[test]
    fn alternatives_hold_sets() {
        let wrong = |src: &[&str]| claims(src, true).iter().any(|c| !c.ok);
        assert!(!wrong(&["m - 4 = 0", "m + 9 = 0", "m = 4", "m = -9"]));
        assert!(wrong(&["m - 4 = 0", "m + 9 = 0", "m = 4", "m = 9"]));
        // No substitution: `m = 4` does not make `m + 9 = 0` a false claim.
        assert!(!wrong(&["m - 4 = 0", "m + 9 = 0", "m = 4"]));
        // A name also in an equation we cannot solve makes no membership claim.
        assert!(!wrong(&["x^2 = 4", "x + 1 = 0", "2x = 6", "x = 2"]));
        // Closed arithmetic is still checked.
        assert!(wrong(&["x = 2", "x = 3", "2 \\cdot 3 = 7"]));
        // Without alternatives, computations that disagree list roots, unless one reaches the
        // plain value (a derivation).
        assert!(!claims(&["x = 0, x = \\sqrt{3}, x = -\\sqrt{3}"], false).iter().any(|c| !c.ok));
        assert!(claims(&["S = 165 \\times 6/11 \\\\ S = 9 \\times 6 \\\\ S = 54"], false).iter().any(|c| !c.ok));
    }
}
