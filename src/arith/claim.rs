//! A claim the checker found, and when a stated value is accepted: the tolerance of the whole
//! checker lives here (`accepts`): half a unit in the stated value's last decimal; an integer may
//! be the floor or ceiling of a non-integer result (whole items); `≈` within 1%.

use super::expr::{Expr, Rel, Value};
use super::rational::Ratio;

/// One arithmetic claim found in a step.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// The claim as read, e.g. `2*3 = 5`.
    pub text: String,
    pub computed: Value,
    pub stated: Value,
    pub ok: bool,
}

impl Claim {
    pub fn describe(&self) -> String {
        if self.ok {
            format!("{} ✓", self.text)
        } else {
            format!("{}: computes to {}, not {}", self.text, self.computed, self.stated)
        }
    }
}

/// Whether some reading of the computed side stands in `rel` to some reading of the stated side,
/// within the rounding the stated side's digits allow. `running_total`: prose like
/// "6*4 = 24 + 3 = 27" goes on computing after the result, so its first number may be the result.
pub fn accepts(rel: Rel, computed: &[Value], stated: &[Value], stated_expr: &Expr, running_total: bool) -> bool {
    computed.iter().any(|&c| stated.iter().any(|&s| accepts_one(rel, c, s, stated_expr, running_total)))
}

fn accepts_one(rel: Rel, c: Value, s: Value, stated_expr: &Expr, running_total: bool) -> bool {
    let (x, y) = (c.to_f64(), s.to_f64());
    let slack = 1e-9 * x.abs().max(y.abs()).max(1.0);
    match rel {
        Rel::Eq => match stated_expr.literal() {
            Some((lit, percent)) => {
                // "0.7 * 100 = 70%" writes a percentage as its number.
                close_enough(c, s, lit, percent) || percent && close_enough(c, scale(s, 100), lit, false)
            }
            None => {
                same(c, s)
                    || running_total
                        && leftmost(stated_expr).is_some_and(|(v, lit)| close_enough(c, Value::Exact(v), lit, false))
            }
        },
        Rel::Approx => {
            let near = (x - y).abs() <= 0.01 * x.abs().max(y.abs()) + slack;
            near || stated_expr.literal().is_some_and(|(lit, pct)| close_enough(c, s, lit, pct))
        }
        Rel::Ne => !matches!((c, s), (Value::Exact(a), Value::Exact(b)) if a == b),
        Rel::Lt => x < y + slack,
        Rel::Gt => x > y - slack,
        Rel::Le => x <= y + slack,
        Rel::Ge => x >= y - slack,
    }
}

fn scale(v: Value, k: i128) -> Value {
    match v {
        Value::Exact(r) => r.times(Ratio::int(k)).map_or(Value::Approx(r.to_f64() * k as f64), Value::Exact),
        Value::Approx(x) => Value::Approx(x * k as f64),
    }
}

fn same(a: Value, b: Value) -> bool {
    match (a, b) {
        (Value::Exact(x), Value::Exact(y)) => x == y,
        _ => (a.to_f64() - b.to_f64()).abs() <= 1e-9 * a.to_f64().abs().max(b.to_f64().abs()).max(1e-12),
    }
}

/// The first number of an expression written as the stated side.
fn leftmost(e: &Expr) -> Option<(Ratio, &str)> {
    match e {
        Expr::Bin(_, a, _) | Expr::Juxt(a, _) => leftmost(a),
        Expr::Num(v, s) => Some((*v, s.as_str())),
        _ => None,
    }
}

/// Whether `computed` rounds to `stated` as written in `literal`: half a unit in its last decimal
/// place; a calculator's float noise; an integer may be the floor or ceiling (whole items).
fn close_enough(computed: Value, stated: Value, literal: &str, percent: bool) -> bool {
    if same(computed, stated) {
        return true;
    }
    let decimals = literal.rsplit_once('.').map_or(0, |(_, f)| f.chars().take_while(char::is_ascii_digit).count());
    let mut half_unit = 0.5 * 10f64.powi(-(decimals as i32));
    if percent {
        half_unit /= 100.0;
    }
    let diff = match (computed, stated) {
        (Value::Exact(c), Value::Exact(s)) => match c.minus(s) {
            Some(d) => d.abs().to_f64(),
            None => return true, // overflow: no evidence against
        },
        _ => (computed.to_f64() - stated.to_f64()).abs(),
    };
    if diff <= half_unit * (1.0 + 1e-12) {
        return true;
    }
    let c = computed.to_f64();
    // A calculator's float noise ("99.00000000000001", "14.999999999999998") is not a claim.
    if decimals >= 12 && diff <= 1e-9 * c.abs().max(1.0) {
        return true;
    }
    // Whole items: an integer result may be rounded down or up.
    let stated_int = matches!(stated, Value::Exact(s) if s.is_integer());
    let computed_int = matches!(computed, Value::Exact(r) if r.is_integer());
    decimals == 0
        && !percent
        && stated_int
        && !computed_int
        && (c.floor() == stated.to_f64() || c.floor() + 1.0 == stated.to_f64())
}
